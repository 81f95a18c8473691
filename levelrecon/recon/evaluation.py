"""Resolve what `eval` compares (a reconstruction, a reference, and the scan it should follow) and compute
the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from levelrecon.errors import InputError
from levelrecon.recon import runs
from levelrecon.recon.data.io import load_points, load_polyline
from levelrecon.recon.meshing.curves import sample_polyline
from levelrecon.recon.metrics import Distance, SurfaceSamples, compare, fidelity


@dataclass
class EvalInputs:
    recon_path: Path
    ref_label: str
    recon: SurfaceSamples
    ref: SurfaceSamples
    scan: np.ndarray | None = None  # the scan points for the fidelity block, when there is a scan
    scan_label: str | None = None


def _as_samples(path: Path, n: int, seed: int) -> SurfaceSamples:
    """A mesh becomes n area-uniform samples (keeping its triangles), a polyline n length-uniform samples;
    a cloud is used as is."""
    curve = load_polyline(path) if path.is_file() else None
    if curve is not None:
        return SurfaceSamples(sample_polyline(*curve, n, seed), None, "curve samples")
    cloud = load_points(path)
    if cloud.is_mesh:
        return SurfaceSamples.from_mesh(cloud.as_mesh(), n, seed)
    return SurfaceSamples(cloud.points, cloud.normals, "points")


def resolve_inputs(target: Path | None, gt: Path | None, n_samples: int, seed: int,
                   scan: Path | None = None) -> EvalInputs:
    """The reconstruction (a mesh file, or the mesh of a run), the reference (--gt, or the run's input) and
    the scan for the fidelity block: `scan` when given, else a cloud reference, else the run's input (so a
    run measured against a true mesh also says how closely it follows its data)."""
    run_dir: Path | None = None
    if target is None or target.is_dir():
        run_dir = runs.resolve_run(target)
        info = runs.read_run_info(run_dir)
        mesh_path = Path(info.get("mesh", run_dir / runs.MESH))
        if not mesh_path.is_file():
            raise InputError(f"{run_dir}: no mesh yet; run `levelrecon mesh {run_dir}` first")
    else:
        mesh_path = target
        if runs.is_run_dir(target.parent):
            run_dir = target.parent
    recon = _as_samples(mesh_path, n_samples, seed)
    if recon.kind == "points":
        raise InputError(f"{mesh_path}: the reconstruction must be a mesh with faces or a polyline")
    if scan is not None and recon.mesh is None:
        raise InputError(f"--scan: scan fidelity needs a surface with triangles; {mesh_path} is a curve")
    run_input = run_dir / runs.INPUT if run_dir is not None else None
    has_input = run_input is not None and run_input.is_file()
    if gt is not None:
        ref = _as_samples(gt, n_samples, seed + 1)
        label = str(gt)
    else:
        if not has_input:
            raise InputError(f"{mesh_path}: not inside a run directory; pass the reference with --gt")
        ref = SurfaceSamples(np.load(run_input), None, "input points")
        label = f"input cloud of {run_dir}"
    scan_points, scan_label = None, None
    if scan is not None:
        scan_points, scan_label = load_points(scan).points, str(scan)  # a mesh file: its vertices
    elif recon.mesh is not None and ref.mesh is None and ref.kind in ("points", "input points"):
        scan_points, scan_label = ref.points, label
    elif recon.mesh is not None and has_input:
        scan_points, scan_label = np.load(run_input), f"input cloud of {run_dir}"
    return EvalInputs(mesh_path, label, recon, ref, scan_points, scan_label)


def evaluate(target: Path | None, gt: Path | None, n_samples: int = 30000, seed: int = 0,
             tau: float | None = None, tau_fraction: float = 0.01, distance: Distance = "auto",
             scan: Path | None = None, tolerance: float | None = None,
             tolerance_fraction: float | None = None) -> dict:
    """Metrics of a reconstruction against its reference (`distance` as in `metrics.compare`), and the
    scan → surface / surface → scan block of `metrics.fidelity` when there is a scan (see `resolve_inputs`).

    The fidelity tolerance is `tolerance` (absolute), else `tolerance_fraction` × the reference's diagonal,
    else the F-score's τ; its `_rel` values are divided by the reference's diagonal like every other.
    """
    inputs = resolve_inputs(target, gt, n_samples, seed, scan)
    metrics = compare(inputs.recon, inputs.ref, tau=tau, tau_fraction=tau_fraction, distance=distance)
    out = {"reconstruction": str(inputs.recon_path), "reference": inputs.ref_label, **metrics}
    if inputs.scan is not None:
        diag = float(metrics["diagonal"])
        tol = tolerance if tolerance is not None else (
            tolerance_fraction * diag if tolerance_fraction is not None else float(metrics["tau"]))
        out.update({"scan": inputs.scan_label, **fidelity(inputs.recon, inputs.scan, tol, diagonal=diag)})
    return out
