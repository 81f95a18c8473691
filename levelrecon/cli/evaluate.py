"""`levelrecon eval`: Chamfer / Hausdorff / F-score of a reconstruction against a reference, and its data
fidelity (scan → surface, surface → scan) against the scan it was made from."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from levelrecon.cli import console
from levelrecon.cli.options import force_option, write_json
from levelrecon.errors import InputError

CONVENTION = ("Chamfer-L1 = ½(mean recon→ref + mean ref→recon) of the directed distances "
              "(ONet/IGR convention); Chamfer-L2 the same with squared distances; "
              "Hausdorff = max of both directed maxima.")
DISTANCES = ("auto", "point-to-surface", "sample-to-sample")  # recon.metrics.DISTANCES (torch-free import here)


def _distance_line(result: dict) -> str:
    """Which distance convention produced the numbers, with the sample counts (DESIGN §3)."""
    if result["distance"] == "point-to-surface":
        return (f"Distances point-to-surface: {result['n_recon']:,} area-uniform samples of the reconstruction "
                f"against the reference's triangles, {result['n_ref']:,} of the reference against the "
                f"reconstruction's; diagonal {result['diagonal']:.6g}.")
    return (f"Distances sample-to-sample: nearest neighbours between {result['n_recon']:,} "
            f"{result['recon_kind']} of the reconstruction and {result['n_ref']:,} {result['ref_kind']} of the "
            f"reference (a sampling floor, see docs/metrics.md); diagonal {result['diagonal']:.6g}.")


def _fidelity_line(result: dict) -> str:
    """How the fidelity rows were measured: exact one way, nearest scan point the other."""
    return (f"Scan fidelity against {result['scan']} ({result['n_scan']:,} points): scan → surface is "
            f"point-to-surface (each scan point against the reconstruction's triangles, no sampling floor); "
            f"surface → scan takes {result['n_recon']:,} samples of the reconstruction to their nearest scan "
            f"point; within = share closer than the tolerance {result['tolerance']:.4g}.")


def _parse_tau(value: str | None, option: str = "--fscore") -> tuple[float | None, float]:
    """'0.002' is absolute; '1%' is a percentage of the reference's bounding-box diagonal."""
    if value is None:
        return None, 0.01
    try:
        if value.endswith("%"):
            frac = float(value[:-1]) / 100
            if frac <= 0:
                raise ValueError
            return None, frac
        tau = float(value)
        if tau <= 0:
            raise ValueError
        return tau, 0.01
    except ValueError:
        raise InputError(f"{option} expects a positive distance or a percentage like 1%, got {value!r}") from None


@click.command(epilog="""\b
Examples:
  levelrecon eval --chamfer                        # latest run's mesh vs its input cloud
  levelrecon eval mesh.ply --gt bunny.off --chamfer --hausdorff --fscore 1%
  levelrecon eval runs/bunny_igr_1 --gt gt.obj --samples 100000 --json metrics.json
  levelrecon eval mesh.ply --gt bunny.off --distance sample-to-sample   # the older, floored form
  levelrecon eval mesh.ply --gt scan.ply --fidelity          # a real scan without a truth: scan <-> surface
  levelrecon eval runs/dragon_1 --gt truth.obj --scan scan.ply --tolerance 0.5%
""")
@click.argument("target", required=False, type=click.Path(path_type=Path))
@click.option("--gt", type=click.Path(path_type=Path),
              help="Reference mesh (sampled) or cloud (used as is) [default: the run's input cloud].")
@click.option("--chamfer", is_flag=True, help="Chamfer-L1 and -L2.")
@click.option("--hausdorff", is_flag=True, help="Hausdorff and directed distances.")
@click.option("--fscore", "fscore", metavar="TAU", is_flag=False, flag_value="1%",
              help="F-score at TAU: a distance, or a percentage of the reference diagonal (1%).")
@click.option("--samples", type=click.IntRange(100), default=30000, show_default=True,
              help="Area-uniform samples per mesh.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the surface sampling.")
@click.option("--distance", type=click.Choice(DISTANCES), default="auto", show_default=True,
              help="point-to-surface: samples of each mesh against the other's triangles (needs meshes on "
                   "both sides); sample-to-sample: nearest neighbours between samples; auto: point-to-surface "
                   "when both sides are meshes.")
@click.option("--fidelity", is_flag=True,
              help="Scan → surface (exact, to the triangles) and surface → scan distances against the scan.")
@click.option("--scan", type=click.Path(path_type=Path),
              help="Scan (cloud, or a mesh's vertices) for the fidelity rows [default: a cloud --gt, else the "
                   "run's input cloud].")
@click.option("--tolerance", metavar="TOL",
              help="Fidelity tolerance: a distance, or a percentage of the reference diagonal [default: the "
                   "F-score τ].")
@click.option("--json", "json_out", metavar="FILE", help="Write all metrics as JSON ('-' for stdout).")
@force_option
def evaluate(target: Path | None, gt: Path | None, chamfer: bool, hausdorff: bool, fscore: str | None,
             samples: int, seed: int, distance: str, fidelity: bool, scan: Path | None, tolerance: str | None,
             json_out: str | None, force: bool) -> None:
    """Measure the mesh TARGET (a mesh file or run directory; default: the latest run's mesh).

    Without --gt the reference is the run's input cloud. Values are in the input's units and divided by
    the reference's bounding-box diagonal. Without metric flags, all are printed. A mesh against a mesh
    is measured point-to-surface (the same mesh gives 0); against a cloud or a curve, sample-to-sample.
    Whenever there is a scan (--scan, a cloud --gt, or the run's input) the fidelity rows say how closely
    the surface follows it: scan → surface exactly against the triangles, surface → scan to the nearest
    scan point; real scans have no true surface, so these are their figures.
    """
    from levelrecon.recon.evaluation import evaluate as run_eval

    tau, frac = _parse_tau(fscore)
    tol, tol_frac = _parse_tau(tolerance, "--tolerance")
    if json_out and json_out != "-":
        from levelrecon.recon.data.io import check_output

        check_output(Path(json_out), force)
    result = run_eval(target, gt, samples, seed, tau, frac, distance, scan=scan, tolerance=tol,
                      tolerance_fraction=tol_frac if tolerance is not None else None)
    if fidelity and "scan" not in result:
        raise InputError("--fidelity: no scan to measure against; pass it with --scan (or evaluate a run, "
                         "whose input cloud is the scan)")
    show_all = not (chamfer or hausdorff or fscore or fidelity)
    rows: list[tuple[str, str]] = []
    if chamfer or show_all:
        rows += [("Chamfer-L1", "chamfer_l1"), ("Chamfer-L2", "chamfer_l2")]
    if hausdorff or show_all:
        rows += [("Hausdorff", "hausdorff"), ("recon → ref (mean)", "recon_to_ref_mean"),
                 ("ref → recon (mean)", "ref_to_recon_mean"), ("ref → recon (max)", "ref_to_recon_max")]
    if fscore or show_all:
        rows += [(f"F-score @ τ={result['tau']:.4g}", "fscore"), ("precision", "precision"), ("recall", "recall")]
    if show_all and "normal_consistency" in result:
        rows.append(("normal consistency", "normal_consistency"))
    if (fidelity or show_all) and "scan" in result:
        within = f"within {result['tolerance']:.4g}"
        for side in ("scan → surface", "surface → scan"):
            key = side.replace(" → ", "_to_")
            rows += [(f"{side} (mean)", f"{key}_mean"), (f"{side} (median)", f"{key}_median"),
                     (f"{side} (max)", f"{key}_max"), (f"{side} {within}", f"{key}_within")]
    if json_out:
        write_json(result, json_out, force)
    if json_out == "-":
        return
    table = Table(title=f"{result['reconstruction']}  vs  {result['reference']}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("÷ diagonal", justify="right")
    for label, key in rows:
        rel = result.get(f"{key}_rel")
        table.add_row(label, f"{result[key]:.6g}", f"{rel:.6g}" if rel is not None else "")
    console.out.print(table)
    console.out.print(_distance_line(result))
    if (fidelity or show_all) and "scan" in result:
        console.out.print(_fidelity_line(result))
    console.out.print(CONVENTION)
