"""Reconstruction benchmark: every mesh of a data folder, sampled dense (noisy) and sparse, each method, under
one or more input conditions (noise level, outliers, uneven density; see CONDITIONS and docs/benchmarks.md).

Runs the real command-line flow (`levelrecon fit`, `mesh`, `eval --gt`) as subprocesses, timing each
with /usr/bin/time -v when present (wall seconds and peak memory), and writes
benchmarks/results/recon.json, recon.md and renders of a few results (PNG).

    python benchmarks/bench_recon.py                       # data from ../shared/data
    python benchmarks/bench_recon.py /path/to/data --methods sal,poisson --sizes 20000,2000
    python benchmarks/bench_recon.py --conditions clean,noise1,outliers2,density10 --tag hard
    python benchmarks/bench_recon.py --methods levelset,poisson --sizes 2000 --jobs 2 --tag sparse
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TIME = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float | None, str]:
    """Run a command; return wall seconds, peak RSS in MB (if /usr/bin/time exists) and stdout."""
    full = ([TIME, "-v"] if TIME else []) + cmd
    t0 = time.perf_counter()
    proc = subprocess.run(full, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return wall, (int(rss.group(1)) / 1024 if rss else None), proc.stdout


# name -> (noise σ ÷ diagonal, or None for --noise; extra `levelrecon sample` arguments; description)
CONDITIONS: dict[str, tuple[float | None, list[str], str]] = {
    "clean": (None, [], "noise σ = {noise} × diagonal"),
    "noise1": (0.01, [], "noise σ = 0.01 × diagonal"),
    "outliers2": (None, ["--outliers", "0.02"],
                  "noise σ = {noise} × diagonal, then 2 % of the points replaced by points uniform in the "
                  "bounding box enlarged 5 %"),
    "density10": (None, ["--nonuniform", "10"],
                  "noise σ = {noise} × diagonal; the half of the surface beyond the mid-plane normal to the "
                  "longest axis sampled 10× sparser than the other half"),
}


def condition_of(row: dict) -> str:
    """The condition of a result row (rows written before conditions existed are `clean`)."""
    return row.get("condition", "clean")


def describe(condition: str, noise: float) -> str:
    return CONDITIONS[condition][2].format(noise=noise) if condition in CONDITIONS else condition


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--methods", default="sal,poisson")
    ap.add_argument("--sizes", default="20000,2000")
    ap.add_argument("--noise", type=float, default=0.0025, help="σ as a fraction of the diagonal")
    ap.add_argument("--conditions", default="clean",
                    help=f"comma-separated input conditions, from {', '.join(CONDITIONS)} (see CONDITIONS "
                         "and docs/benchmarks.md)")
    ap.add_argument("--shapes", default="", help="comma-separated mesh file names (default: all)")
    ap.add_argument("--resolution", type=int, default=256, help="`levelrecon mesh --resolution` (adaptive)")
    ap.add_argument("--fit-args", default="", help="extra arguments for every neural `levelrecon fit`")
    ap.add_argument("--tag", default="recon", help="name of the result files")
    ap.add_argument("--render", default="", help="comma-separated shape stems to render to PNG")
    ap.add_argument("--up", default="y", help="vertical axis of the renders (the shared meshes are y-up)")
    ap.add_argument("--render-only", action="store_true",
                    help="only redraw the PNGs of --render shapes from an earlier run's outputs and JSON")
    ap.add_argument("--samples", type=int, default=30000, help="surface samples per mesh for the metrics")
    ap.add_argument("--work", default=str(REPO / "benchmarks" / "out"))
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs at a time, the cores shared evenly between them (OMP_NUM_THREADS)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the rows already in the result file and run only the missing ones")
    args = ap.parse_args()
    conditions = [c for c in args.conditions.split(",") if c]
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown or not conditions:
        ap.error(f"--conditions: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(CONDITIONS)}")

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
    done = {(r["shape"], r["points"], condition_of(r), r["method"]) for r in rows}
    if args.render_only:
        for row in json.loads(results_path.read_text())["rows"]:
            if row["shape"] in args.render.split(","):
                stem = run_stem(row["shape"], row["points"], row.get("condition"))  # old files: no condition
                render(work / f"{stem}_{row['method']}", work / f"{stem}.ply",
                       out_dir / f"{args.tag}_{stem}_{row['method']}.png", title(row), args.up)
        return
    tasks = []
    for shape in shapes:
        for n in [int(s) for s in args.sizes.split(",")]:
            for condition in conditions:
                noise, extra_sample, _ = CONDITIONS[condition]
                stem = run_stem(shape.stem, n, condition)
                cloud = work / f"{stem}.ply"
                subprocess.run(exe + ["sample", str(shape), "-n", str(n), "--noise",
                                      str(args.noise if noise is None else noise), *extra_sample, "--seed", "1",
                                      "-o", str(cloud), "--force"], check=True, capture_output=True)
                tasks += [(shape, n, condition, method) for method in args.methods.split(",")
                          if (shape.stem, n, condition, method) not in done]
    env = dict(os.environ)
    if args.jobs > 1:  # share the cores: each run gets its fair part, as one user's parallel jobs would
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // args.jobs))

    def run(task: tuple[Path, int, str, str]) -> dict:
        shape, n, condition, method = task
        stem = run_stem(shape.stem, n, condition)
        run_dir = work / f"{stem}_{method}"
        extra = args.fit_args.split() if method != "poisson" else []
        fit_s, fit_mb, _ = timed(exe + ["fit", str(work / f"{stem}.ply"), "--method", method, "-o", str(run_dir),
                                        "--force", "-q", *extra], work, env)
        mesh_s, mesh_mb, _ = timed(exe + ["mesh", str(run_dir), "--resolution", str(args.resolution),
                                          "--force", "-q"], work, env)
        _, _, out = timed(exe + ["eval", str(run_dir), "--gt", str(shape), "--json", "-",
                                 "--samples", str(args.samples)], work, env)
        m = json.loads(out)
        return {"shape": shape.stem, "points": n, "condition": condition, "method": method,
                "fit_s": round(fit_s, 1), "mesh_s": round(mesh_s, 1),
                "peak_mb": round(max(x or 0 for x in (fit_mb, mesh_mb)), 0),
                "chamfer_l1_rel": m["chamfer_l1_rel"], "hausdorff_rel": m["hausdorff_rel"],
                "fscore": m["fscore"], "normal_consistency": m.get("normal_consistency"),
                "distance": m.get("distance")}

    order = {(shape.stem, n, condition): i for i, (shape, n, condition, _) in enumerate(tasks)}
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:  # threads only wait on the subprocesses
        for row in (f.result() for f in as_completed([pool.submit(run, t) for t in tasks])):
            rows.append(row)
            rows.sort(key=lambda r: order.get((r["shape"], r["points"], condition_of(r)), -1))
            print(json.dumps(row), flush=True)
            used = dict.fromkeys(condition_of(r) for r in rows)
            results_path.write_text(json.dumps({
                "noise": args.noise, "resolution": args.resolution, "samples": args.samples,
                "fit_args": args.fit_args, "jobs": args.jobs,
                "conditions": {c: describe(c, args.noise) for c in used}, "rows": rows}, indent=2))
            if row["shape"] in args.render.split(","):
                stem = run_stem(row["shape"], row["points"], row["condition"])
                render(work / f"{stem}_{row['method']}", work / f"{stem}.ply",
                       out_dir / f"{args.tag}_{stem}_{row['method']}.png", title(row), args.up)
    write_markdown(rows, out_dir / f"{args.tag}.md", args)


def run_stem(shape: str, n: int, condition: str | None) -> str:
    """Name of a cloud (`.ply`) and, with `_method`, of its run directory and render (result files from
    before conditions existed have no condition in their names)."""
    return f"{shape}_{n}" if condition is None else f"{shape}_{n}_{condition}"


def title(row: dict) -> str:
    return (f"{row['method']}, {row['points']} pts, {condition_of(row)}: "
            f"CD-L1 {row['chamfer_l1_rel']:.4f}×diag")


def render(run_dir: Path, cloud: Path, png: Path, title: str, up: str) -> None:
    from levelrecon.recon.data.io import load_mesh, load_points
    from levelrecon.viz.render import render_mesh

    mesh = load_mesh(run_dir / "mesh.ply")
    render_mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), png, title, points=load_points(cloud).points,
                up=up)


def write_markdown(rows: list[dict], path: Path, args: argparse.Namespace) -> None:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    distances = sorted({str(r.get("distance")) for r in rows})
    lines = [f"Marching cubes at an effective {args.resolution}³ (adaptive); point-to-surface Chamfer-L1 "
             f"(samples of each surface against the other's triangles) ÷ diagonal, {args.samples:,} samples per "
             f"surface, with the Hausdorff distance ÷ diagonal beside it; time = whole-process wall seconds of "
             f"`fit` + `mesh` (default options: adaptive, automatic trim of open clouds). "
             f"Distance reported by `levelrecon eval`: {', '.join(distances)}."
             + (f" Neural fit arguments: `{args.fit_args}`." if args.fit_args else "")
             + (f" {args.jobs} runs at a time, the cores shared evenly between them." if args.jobs > 1 else ""), ""]
    for condition in dict.fromkeys(condition_of(r) for r in rows):
        sub = [r for r in rows if condition_of(r) == condition]

        def find(shape: str, n: int, m: str, sub: list[dict] = sub) -> dict | None:
            return next((r for r in sub if (r["shape"], r["points"], r["method"]) == (shape, n, m)), None)

        lines += [f"## {condition}", "", f"Input: {describe(condition, args.noise)}.", "",
                  "| shape | points | "
                  + " | ".join(f"{m} CD-L1 | {m} Hausdorff | {m} time (s)" for m in methods) + " |",
                  "|" + "---|" * (2 + 3 * len(methods))]
        keys = list(dict.fromkeys((r["shape"], r["points"]) for r in sub))
        for shape, n in keys:
            cells = [shape, str(n)]
            for m in methods:
                r = find(shape, n, m)
                cells += ["–"] * 3 if r is None else [f"{r['chamfer_l1_rel']:.5f}", f"{r['hausdorff_rel']:.4f}",
                                                      f"{r['fit_s'] + r['mesh_s']:.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
        others = [m for m in methods if m != "poisson"]
        if "poisson" in methods and others:
            lines += ["", "Chamfer-L1 ratio to Poisson (< 1: better than Poisson):", ""]
            for m in others:
                for shape, n in keys:
                    a, p = find(shape, n, m), find(shape, n, "poisson")
                    if a and p:
                        lines.append(f"- {m} / poisson, {shape} {n}: "
                                     f"{a['chamfer_l1_rel'] / p['chamfer_l1_rel']:.2f}")
        lines.append("")
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
