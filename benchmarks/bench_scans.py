"""Real scans: the default flow against the Poisson variants, with and without a true surface.

Two kinds of scan are found under DATA/scans/:
- a folder holding `input.*` (the scan) and `gt.*` (its true surface) — on these machines the VIPSS mug,
  500 unoriented points of a real sparse scan: measured point-to-surface against the truth *and* for
  data fidelity against the scan;
- a cloud file directly in DATA/scans/ (or a folder with `input.*` and no `gt.*`) — on these machines
  `stanford_dragon_single_rangescan.ply`, one raw open Cyberware range scan of 41,841 points: a real scan
  has no true surface, so it gets the data-fidelity figures only: scan → surface (every scan point against
  the reconstruction's triangles, exact: mean, median, max, share within the tolerance) and surface → scan
  (the reconstruction's samples to their nearest scan point).

Each scan is reconstructed by the real command-line flow (`levelrecon fit`, `mesh`, `eval --scan`, as
subprocesses under /usr/bin/time -v) with each method, Poisson variants included (`poisson_all`: depth
8/9/10 with and without a 5 % density trim, see bench_recon.py). Writes benchmarks/results/TAG.json,
TAG.md and an error-coloured render per run: the distance to the truth where there is one, else each
vertex's distance to the nearest scan point (surface → scan, which shows surface the scan does not
support).

    python benchmarks/bench_scans.py                              # data from ../shared/data
    python benchmarks/bench_scans.py /path/to/data --methods auto,poisson_all
    python benchmarks/bench_scans.py --methods poisson_all --tag scans_poisson   # Poisson only: seconds
    python benchmarks/bench_scans.py --seeds 0,1,2,3   # each neural method with four training seeds
    python benchmarks/bench_scans.py --methods auto --tag scans_poisson --resume   # add rows to a file

A neural fit of a 500-point cloud ends in a different field for another seed (or thread count), and on the
mug in one of two shapes (opening open or capped), so `--seeds` reports the spread and the median.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from bench_recon import REPO, best_poisson, expand_methods, fit_method_args, poisson_variant, timed

from levelrecon.recon.data.io import load_points

CLOUD_SUFFIXES = (".ply", ".xyz", ".pts", ".txt", ".csv", ".npy", ".npz", ".obj", ".off")
# (row key, markdown header, digits); the fidelity distances are ÷ the reference's diagonal (the truth's
# where there is one, else the scan's)
COLUMNS = (("chamfer_l1_rel", "CD-L1 to truth", 5), ("hausdorff_rel", "Hausdorff to truth", 4),
           ("scan_to_surface_mean_rel", "scan → surface mean", 6),
           ("scan_to_surface_median_rel", "scan → surface median", 6),
           ("scan_to_surface_max_rel", "scan → surface max", 4),
           ("scan_to_surface_within", "scan → surface within τ", 3),
           ("surface_to_scan_mean_rel", "surface → scan mean", 5),
           ("surface_to_scan_within", "surface → scan within τ", 3))
# compared with the best Poisson variant by the same figure (lower is better for each)
VERSUS = (("chamfer_l1_rel", "CD-L1 to truth"), ("hausdorff_rel", "Hausdorff to truth"),
          ("scan_to_surface_mean_rel", "scan → surface mean"), ("surface_to_scan_mean_rel", "surface → scan mean"))
FIDELITY_KEYS = ("scan_to_surface_mean_rel", "scan_to_surface_median_rel", "scan_to_surface_max_rel",
                 "scan_to_surface_within", "surface_to_scan_mean_rel", "surface_to_scan_median_rel",
                 "surface_to_scan_max_rel", "surface_to_scan_within", "tolerance_rel", "n_scan")


def find_scans(data: Path) -> list[tuple[str, Path, Path | None]]:
    """(name, scan file, true surface or None) for every scan under DATA/scans, sorted by name."""
    found = []
    for entry in sorted((data / "scans").iterdir()):
        if entry.is_dir():
            scan, gt = next(entry.glob("input.*"), None), next(entry.glob("gt.*"), None)
            if scan is not None:
                found.append((entry.name, scan, gt))
        elif entry.suffix.lower() in CLOUD_SUFFIXES:
            found.append((entry.stem, entry, None))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--methods", default="auto,poisson_all",
                    help="comma-separated fit methods and Poisson variants (poisson_all: the six of bench_recon)")
    ap.add_argument("--scans", default="", help="comma-separated scan names (default: all)")
    ap.add_argument("--samples", type=int, default=30000, help="surface samples per mesh for the metrics")
    ap.add_argument("--tolerance", default="0.1%",
                    help="`eval --tolerance` of the fidelity shares: a distance or a percentage of the diagonal")
    ap.add_argument("--work", default=str(REPO / "benchmarks" / "out" / "scans"))
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds of the neural methods")
    ap.add_argument("--tag", default="scans", help="name of the result files")
    ap.add_argument("--up", default="y", help="vertical axis of the renders (the Stanford scans are y-up)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the rows already in the result file and run only the missing ones")
    ap.add_argument("--markdown-only", action="store_true", help="only rewrite TAG.md from TAG.json")
    args = ap.parse_args()
    out_dir = REPO / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / f"{args.tag}.json"
    if args.markdown_only:
        saved = json.loads(results_path.read_text())
        write_markdown(saved["rows"], out_dir / f"{args.tag}.md", saved.get("tolerance"))
        return
    try:
        methods = expand_methods(args.methods)
    except ValueError as exc:
        ap.error(str(exc))
    scans = find_scans(Path(args.data))
    if args.scans:
        wanted = args.scans.split(",")
        missing = sorted(set(wanted) - {name for name, _, _ in scans})
        if missing:
            ap.error(f"--scans: no scan named {', '.join(missing)} under {Path(args.data) / 'scans'}")
        scans = [s for s in scans if s[0] in wanted]
    exe = [sys.executable, "-m", "levelrecon"]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = json.loads(results_path.read_text())["rows"] if args.resume and results_path.exists() else []
    done = {(r["scan"], r["method"], r["seed"]) for r in rows}
    for scan_name, scan, gt in scans:
        n_points = len(load_points(scan).points)
        runs = [(m, seed) for m in methods
                for seed in ([None] if poisson_variant(m) is not None else [int(x) for x in args.seeds.split(",")])]
        for method, seed in runs:
            if (scan_name, method, seed) in done:
                continue
            name = f"{scan_name}_{method}" + ("" if seed in (None, 0) else f"_seed{seed}")
            run_dir = work / name
            fit_s, fit_mb, _ = timed(exe + ["fit", str(scan), *fit_method_args(method), "-o", str(run_dir),
                                            "--force", "-q", *([] if seed is None else ["--seed", str(seed)])], work)
            mesh_s, mesh_mb, _ = timed(exe + ["mesh", str(run_dir), "--force", "-q"], work)
            reference = ["--gt", str(gt)] if gt is not None else []
            _, _, out = timed(exe + ["eval", str(run_dir), *reference, "--scan", str(scan), "--tolerance",
                                     args.tolerance, "--json", "-", "--samples", str(args.samples)], work)
            m = json.loads(out)
            used = json.loads((run_dir / "run.json").read_text()).get("method", method)
            row = {"scan": scan_name, "points": n_points, "truth": gt is not None, "method": method, "ran": used,
                   "seed": seed, "fit_s": round(fit_s, 1), "mesh_s": round(mesh_s, 1),
                   "peak_mb": round(max(fit_mb or 0, mesh_mb or 0)),
                   **({"chamfer_l1_rel": m["chamfer_l1_rel"], "hausdorff_rel": m["hausdorff_rel"],
                       "fscore": m["fscore"], "distance": m.get("distance")} if gt is not None else {}),
                   **{k: m[k] for k in FIDELITY_KEYS}}
            rows.append(row)
            print(json.dumps(row), flush=True)
            results_path.write_text(json.dumps({"samples": args.samples, "tolerance": args.tolerance,
                                                "rows": rows}, indent=2))
            render(run_dir, scan, gt, out_dir / f"{args.tag}_{name}.png", name, args.up)
    write_markdown(rows, out_dir / f"{args.tag}.md", args.tolerance)
    print(f"-> {out_dir / f'{args.tag}.md'}")


def render(run_dir: Path, scan: Path, gt: Path | None, png: Path, name: str, up: str) -> None:
    """The run's mesh coloured by its distance to the truth (`levelrecon render --gt`), or, without a
    truth, by each vertex's distance to the nearest scan point (surface → scan)."""
    if gt is not None:
        subprocess.run([sys.executable, "-m", "levelrecon", "render", str(run_dir), "--gt", str(gt), "-o", str(png),
                        "--up", up, "--force"], check=True, capture_output=True)
        return
    from scipy.spatial import cKDTree

    from levelrecon.recon.data.io import load_mesh
    from levelrecon.viz.render import orbit, render_mesh

    mesh = load_mesh(run_dir / "mesh.ply")
    points = load_points(scan).points
    dist, _ = cKDTree(points).query(np.asarray(mesh.vertices), workers=-1)
    diag = float(np.linalg.norm(np.ptp(points, axis=0)))
    render_mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), png,
                f"{name}: each vertex's distance to the nearest scan point ÷ diagonal (mean {dist.mean() / diag:.4f}, "
                f"max {dist.max() / diag:.3f})", views=orbit(3), up=up, values=dist / diag,
                value_label="distance to the nearest scan point ÷ diagonal")


def fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def write_markdown(rows: list[dict], path: Path, tolerance: str | None) -> None:
    """Every run, then per scan each method against the best Poisson variant by each figure. Reads result
    files of the earlier truth-only version too (their fidelity cells are –)."""
    lines = ["Real scans; the default `fit` + `mesh` and Open3D Poisson variants (`poisson` = depth 8, `_dN` depth "
             "N, `_trim5` vertices below the 5 % density quantile dropped; estimated and oriented normals). "
             "CD-L1 and Hausdorff to truth: point-to-surface, ÷ the true mesh's diagonal (– for a scan without "
             "a truth). Data fidelity ÷ the same diagonal (the scan's own without a truth): scan → surface = "
             "every scan point against the reconstruction's triangles (exact), surface → scan = samples of the "
             "reconstruction to their nearest scan point; within τ = share closer than "
             + (f"τ = {tolerance} (of the diagonal when a percentage)" if tolerance else "τ (not in this file)")
             + ". Time = whole-process wall seconds "
             "of `fit` + `mesh`.", "",
             "| scan | points | method (ran) | seed | " + " | ".join(h for _, h, _ in COLUMNS)
             + " | time (s) | peak MB |", "|" + "---|" * (6 + len(COLUMNS))]
    for r in rows:
        seed = "–" if r.get("seed") is None else r["seed"]
        lines.append(f"| {r['scan']} | {r['points']} | {r['method']} ({r['ran']}) | {seed} | "
                     + " | ".join(fmt(r.get(k), d) for k, _, d in COLUMNS)
                     + f" | {r['fit_s'] + r['mesh_s']:.0f} | {r['peak_mb']} |")
    for scan in dict.fromkeys(r["scan"] for r in rows):
        sub = [r for r in rows if r["scan"] == scan]
        others = list(dict.fromkeys(r["method"] for r in sub if poisson_variant(r["method"]) is None))
        table = []
        for key, label in VERSUS:
            best = best_poisson(sub, key)
            if best is None:
                continue
            cells = [label, f"{best[key]:.6f} ({best['method']})"]
            for m in others:
                vals = [r[key] for r in sub if r["method"] == m and r.get(key) is not None]
                cells.append(f"{np.median(vals) / best[key]:.2f}" if vals and best[key] > 0 else "–")
            table.append("| " + " | ".join(cells) + " |")
        if table:
            lines += ["", f"### {scan}: against the best Poisson variant of each figure", "",
                      "| " + " | ".join(["figure", "best Poisson (variant)", *(f"{m} ÷ best" for m in others)]) + " |",
                      "|" + "---|" * (2 + len(others)), *table]
    groups: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r.get("seed") is not None and r.get("chamfer_l1_rel") is not None:
            groups.setdefault((r["scan"], r["method"]), []).append(r["chamfer_l1_rel"])
    spread = [f"- {scan} {method}: median CD-L1 {np.median(v):.5f} over {len(v)} seeds "
              f"(range {min(v):.5f}–{max(v):.5f})" for (scan, method), v in groups.items() if len(v) > 1]
    if spread:
        lines += ["", "A neural method over several seeds is compared by its median.", "", *spread]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
