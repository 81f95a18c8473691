"""Reconstruction benchmark: every mesh of a data folder, sampled dense (noisy) and sparse, each method.

Runs the real command-line flow (`levelrecon fit`, `mesh`, `eval --gt`) as subprocesses, timing each
with /usr/bin/time -v when present (wall seconds and peak memory), and writes
benchmarks/results/recon.json, recon.md and renders of a few results (PNG).

    python benchmarks/bench_recon.py                       # data from ../shared/data
    python benchmarks/bench_recon.py /path/to/data --methods sal,poisson --sizes 20000,2000
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TIME = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)


def timed(cmd: list[str], cwd: Path) -> tuple[float, float | None, str]:
    """Run a command; return wall seconds, peak RSS in MB (if /usr/bin/time exists) and stdout."""
    full = ([TIME, "-v"] if TIME else []) + cmd
    t0 = time.perf_counter()
    proc = subprocess.run(full, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return wall, (int(rss.group(1)) / 1024 if rss else None), proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--methods", default="sal,poisson")
    ap.add_argument("--sizes", default="20000,2000")
    ap.add_argument("--noise", type=float, default=0.0025, help="σ as a fraction of the diagonal")
    ap.add_argument("--shapes", default="", help="comma-separated mesh file names (default: all)")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--fit-args", default="", help="extra arguments for every neural `levelrecon fit`")
    ap.add_argument("--tag", default="recon", help="name of the result files")
    ap.add_argument("--render", default="", help="comma-separated shape stems to render to PNG")
    ap.add_argument("--up", default="y", help="vertical axis of the renders (the shared meshes are y-up)")
    ap.add_argument("--render-only", action="store_true",
                    help="only redraw the PNGs of --render shapes from an earlier run's outputs and JSON")
    ap.add_argument("--samples", type=int, default=30000, help="surface samples per mesh for the metrics")
    ap.add_argument("--work", default=str(REPO / "benchmarks" / "out"))
    ap.add_argument("--resume", action="store_true",
                    help="keep the rows already in the result file and run only the missing ones")
    args = ap.parse_args()

    meshes_dir = Path(args.data) / "meshes"
    shapes = sorted(p for p in meshes_dir.iterdir() if p.suffix in (".obj", ".off", ".ply"))
    if args.shapes:
        shapes = [meshes_dir / s for s in args.shapes.split(",")]
    work = Path(args.work) / args.tag
    work.mkdir(parents=True, exist_ok=True)
    out_dir = REPO / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = [sys.executable, "-m", "levelrecon"]
    results_path = out_dir / f"{args.tag}.json"
    rows = json.loads(results_path.read_text())["rows"] if args.resume and results_path.exists() else []
    done = {(r["shape"], r["points"], r["method"]) for r in rows}
    if args.render_only:
        for row in json.loads(results_path.read_text())["rows"]:
            if row["shape"] in args.render.split(","):
                stem = f"{row['shape']}_{row['points']}"
                render(work / f"{stem}_{row['method']}", work / f"{stem}.ply",
                       out_dir / f"{args.tag}_{stem}_{row['method']}.png",
                       f"{row['method']}, {row['points']} pts: CD-L1 {row['chamfer_l1_rel']:.4f}×diag", args.up)
        return
    floors = {}
    for shape in shapes:
        floors[shape.stem] = sampling_floor(shape, args.samples)
        for n in [int(s) for s in args.sizes.split(",")]:
            cloud = work / f"{shape.stem}_{n}.ply"
            subprocess.run(exe + ["sample", str(shape), "-n", str(n), "--noise", str(args.noise), "--seed", "1",
                                  "-o", str(cloud), "--force"], check=True, capture_output=True)
            for method in args.methods.split(","):
                if (shape.stem, n, method) in done:
                    continue
                run_dir = work / f"{shape.stem}_{n}_{method}"
                extra = args.fit_args.split() if method != "poisson" else []
                fit_s, fit_mb, _ = timed(exe + ["fit", str(cloud), "--method", method, "-o", str(run_dir),
                                                "--force", "-q", *extra], work)
                mesh_s, mesh_mb, _ = timed(exe + ["mesh", str(run_dir), "--resolution", str(args.resolution),
                                                  "--force", "-q"], work)
                _, _, out = timed(exe + ["eval", str(run_dir), "--gt", str(shape), "--json", "-",
                                         "--samples", str(args.samples)], work)
                m = json.loads(out)
                row = {"shape": shape.stem, "points": n, "method": method, "fit_s": round(fit_s, 1),
                       "mesh_s": round(mesh_s, 1), "peak_mb": round(max(x or 0 for x in (fit_mb, mesh_mb)), 0),
                       "chamfer_l1_rel": m["chamfer_l1_rel"], "hausdorff_rel": m["hausdorff_rel"],
                       "fscore": m["fscore"], "normal_consistency": m.get("normal_consistency"),
                       "floor_rel": floors[shape.stem]}
                rows.append(row)
                print(json.dumps(row), flush=True)
                results_path.write_text(json.dumps({"noise": args.noise, "resolution": args.resolution,
                                                    "samples": args.samples, "fit_args": args.fit_args,
                                                    "rows": rows}, indent=2))
                if shape.stem in args.render.split(","):
                    render(run_dir, cloud, out_dir / f"{args.tag}_{shape.stem}_{n}_{method}.png",
                           f"{method}, {n} pts: CD-L1 {row['chamfer_l1_rel']:.4f}×diag", args.up)
    write_markdown(rows, out_dir / f"{args.tag}.md", args)


def sampling_floor(shape: Path, n: int) -> float:
    """Chamfer-L1 ÷ diagonal between two independent n-sample sets of the true surface itself: the value
    a perfect reconstruction would get, below which no method can be told apart."""
    from levelrecon.recon.io import load_mesh
    from levelrecon.recon.metrics import SurfaceSamples, compare

    mesh = load_mesh(shape)
    return compare(SurfaceSamples.from_mesh(mesh, n, 11), SurfaceSamples.from_mesh(mesh, n, 12))["chamfer_l1_rel"]


def render(run_dir: Path, cloud: Path, png: Path, title: str, up: str) -> None:
    from levelrecon.recon.io import load_mesh, load_points
    from levelrecon.recon.plots import render_mesh

    mesh = load_mesh(run_dir / "mesh.ply")
    render_mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), png, title, points=load_points(cloud).points,
                up=up)


def write_markdown(rows: list[dict], path: Path, args: argparse.Namespace) -> None:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = [f"Noise σ = {args.noise} × diagonal on every cloud; marching cubes at {args.resolution}³; "
             f"metrics between {args.samples:,} samples of the reconstruction and of the ground-truth mesh "
             f"(Chamfer-L1 ONet convention, ÷ bounding-box diagonal); floor = the same metric between two "
             f"independent sample sets of the ground truth itself; time = whole-process wall seconds of "
             f"`fit` + `mesh`."
             + (f" Neural fit arguments: `{args.fit_args}`." if args.fit_args else ""), ""]
    head = ("| shape | points | floor | "
            + " | ".join(f"{m} CD-L1 | {m} Hausdorff | {m} time (s)" for m in methods) + " |")
    lines += [head, "|" + "---|" * (3 + 3 * len(methods))]
    keys = list(dict.fromkeys((r["shape"], r["points"]) for r in rows))
    for shape, n in keys:
        floor = next(r["floor_rel"] for r in rows if r["shape"] == shape)
        cells = [shape, str(n), f"{floor:.5f}"]
        for m in methods:
            r = next((r for r in rows if (r["shape"], r["points"], r["method"]) == (shape, n, m)), None)
            cells += ["–"] * 3 if r is None else [f"{r['chamfer_l1_rel']:.5f}", f"{r['hausdorff_rel']:.4f}",
                                                  f"{r['fit_s'] + r['mesh_s']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    if "poisson" in methods:
        lines += ["", "Chamfer-L1 ratio to Poisson (< 1: better than Poisson):", ""]
        for m in [m for m in methods if m != "poisson"]:
            for shape, n in keys:
                a = next((r for r in rows if (r["shape"], r["points"], r["method"]) == (shape, n, m)), None)
                p = next((r for r in rows if (r["shape"], r["points"], r["method"]) == (shape, n, "poisson")), None)
                if a and p:
                    lines.append(f"- {m} / poisson, {shape} {n}: {a['chamfer_l1_rel'] / p['chamfer_l1_rel']:.2f}")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
