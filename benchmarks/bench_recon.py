"""Reconstruction benchmark: every mesh of a data folder, sampled dense (noisy) and sparse, each method, under
one or more input conditions (noise level, outliers, uneven density; see CONDITIONS and docs/benchmarks.md).

Runs the real command-line flow (`levelrecon fit`, `mesh`, `eval --gt`) as subprocesses, timing each
with /usr/bin/time -v when present (wall seconds and peak memory), and writes
benchmarks/results/recon.json, recon.md and renders of a few results (PNG).

    python benchmarks/bench_recon.py                       # data from ../shared/data
    python benchmarks/bench_recon.py /path/to/data --methods sal,poisson --sizes 20000,2000
    python benchmarks/bench_recon.py --conditions clean,noise1,outliers2,density10 --tag hard
    python benchmarks/bench_recon.py --methods levelset,poisson --sizes 2000 --jobs 2 --tag sparse
    python benchmarks/bench_recon.py --methods auto,poisson_all --tag dense   # against the best Poisson

Poisson variants are methods like any other (see POISSON_ALL): `poisson` (depth 8, untrimmed, the old
baseline), `poisson_d9`, `poisson_d10`, `poisson_d8_trim5` (depth 8, vertices below the 5 % density
quantile dropped), ...; `poisson_all` stands for the six of depth 8/9/10 with and without the trim. The
markdown compares every other method with the best Poisson variant of each shape.
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


# the six Poisson variants a Poisson user would try: depth 8, 9, 10, with and without a 5 % density trim
POISSON_ALL = ("poisson", "poisson_d9", "poisson_d10", "poisson_d8_trim5", "poisson_d9_trim5", "poisson_d10_trim5")
_POISSON_NAME = re.compile(r"poisson(?:_d(\d+))?(?:_trim(\d+(?:\.\d+)?))?")


def poisson_variant(method: str) -> tuple[int, float] | None:
    """(depth, density-trim fraction) of a Poisson method name, None for any other method."""
    match = _POISSON_NAME.fullmatch(method)
    if match is None:
        return None
    return int(match.group(1) or 8), float(match.group(2) or 0) / 100


def expand_methods(spec: str) -> list[str]:
    """The comma-separated --methods, with `poisson_all` expanded; a malformed Poisson name is an error."""
    out: list[str] = []
    for name in (m.strip() for m in spec.split(",") if m.strip()):
        names = list(POISSON_ALL) if name == "poisson_all" else [name]
        for m in names:
            if m.startswith("poisson") and poisson_variant(m) is None:
                raise ValueError(f"--methods: {m!r} is not a Poisson variant (poisson, poisson_d9, "
                                 "poisson_d10_trim5, ... or poisson_all)")
            if m not in out:
                out.append(m)
    return out


def fit_method_args(method: str) -> list[str]:
    """`levelrecon fit` arguments naming a method; Poisson variants through `--set` (plain `poisson` as
    before: depth 8, no trim)."""
    variant = poisson_variant(method)
    if variant is None or method == "poisson":
        return ["--method", method]
    depth, trim = variant
    return ["--method", "poisson", "--set", f"poisson_depth={depth}", "--set", f"density_trim={trim:g}"]


def condition_of(row: dict) -> str:
    """The condition of a result row (rows written before conditions existed are `clean`)."""
    return row.get("condition", "clean")


def describe(condition: str, noise: float) -> str:
    return CONDITIONS[condition][2].format(noise=noise) if condition in CONDITIONS else condition


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--methods", default="sal,poisson",
                    help="comma-separated fit methods and Poisson variants (poisson_d9, poisson_d10_trim5, ...; "
                         "poisson_all: all six)")
    ap.add_argument("--sizes", default="20000,2000")
    ap.add_argument("--noise", type=float, default=0.0025, help="σ as a fraction of the diagonal")
    ap.add_argument("--conditions", default="clean",
                    help=f"comma-separated input conditions, from {', '.join(CONDITIONS)} (see CONDITIONS "
                         "and docs/benchmarks.md)")
    ap.add_argument("--shapes", default="", help="comma-separated mesh file names (default: all)")
    ap.add_argument("--resolution", type=int, default=0,
                    help="`levelrecon mesh --resolution` (adaptive); 0: mesh's own default (256, or 128 for a "
                         "sparse cloud)")
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
    ap.add_argument("--markdown-only", action="store_true",
                    help="only rewrite TAG.md from TAG.json (e.g. a result file of an earlier version)")
    args = ap.parse_args()
    try:
        methods = expand_methods(args.methods)
    except ValueError as exc:
        ap.error(str(exc))
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
    if args.markdown_only:
        saved = json.loads(results_path.read_text())
        for key in ("noise", "resolution", "samples", "fit_args", "jobs"):
            if key in saved:
                setattr(args, key, saved[key])
        write_markdown(saved["rows"], out_dir / f"{args.tag}.md", args)
        return
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
                tasks += [(shape, n, condition, method) for method in methods
                          if (shape.stem, n, condition, method) not in done]
    env = dict(os.environ)
    if args.jobs > 1:  # share the cores: each run gets its fair part, as one user's parallel jobs would
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // args.jobs))

    def run(task: tuple[Path, int, str, str]) -> dict:
        shape, n, condition, method = task
        stem = run_stem(shape.stem, n, condition)
        run_dir = work / f"{stem}_{method}"
        extra = args.fit_args.split() if poisson_variant(method) is None else []
        fit_s, fit_mb, _ = timed(exe + ["fit", str(work / f"{stem}.ply"), *fit_method_args(method), "-o",
                                        str(run_dir), "--force", "-q", *extra], work, env)
        mesh_s, mesh_mb, _ = timed(exe + ["mesh", str(run_dir), *(["--resolution", str(args.resolution)]
                                                                     if args.resolution else []),
                                          "--force", "-q"], work, env)
        _, _, out = timed(exe + ["eval", str(run_dir), "--gt", str(shape), "--json", "-",
                                 "--samples", str(args.samples)], work, env)
        m = json.loads(out)
        return {"shape": shape.stem, "points": n, "condition": condition, "method": method,
                "fit_s": round(fit_s, 1), "mesh_s": round(mesh_s, 1),
                "peak_mb": round(max(x or 0 for x in (fit_mb, mesh_mb)), 0),
                "chamfer_l1_rel": m["chamfer_l1_rel"], "hausdorff_rel": m["hausdorff_rel"],
                "fscore": m["fscore"], "normal_consistency": m.get("normal_consistency"),
                "distance": m.get("distance"),
                # data fidelity against the run's input cloud (eval reports it beside the truth)
                **{k: m.get(k) for k in FIDELITY_KEYS}}

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


FIDELITY_KEYS = ("scan_to_surface_mean_rel", "scan_to_surface_max_rel", "scan_to_surface_within",
                 "surface_to_scan_mean_rel")


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


def best_poisson(rows: list[dict], key: str = "chamfer_l1_rel") -> dict | None:
    """The Poisson row with the lowest `key` among `rows` (one shape, size and condition), None if none ran."""
    found = [r for r in rows if poisson_variant(r["method"]) is not None and r.get(key) is not None]
    return min(found, key=lambda r: r[key]) if found else None


def write_markdown(rows: list[dict], path: Path, args: argparse.Namespace) -> None:
    """Per condition: each method against the best Poisson variant of each shape (its Chamfer-L1 with the
    variant's name, each other method's ratio to it, Hausdorff beside), then every Poisson variant."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    variants = [m for m in methods if poisson_variant(m) is not None]
    others = [m for m in methods if poisson_variant(m) is None]
    distances = sorted({str(r.get("distance")) for r in rows})
    grid = (f"an effective {args.resolution}³" if args.resolution
            else "the mesh command's default grid (256³, 128³ for sparse clouds)")
    lines = [f"Marching cubes at {grid} (adaptive); point-to-surface Chamfer-L1 "
             f"(samples of each surface against the other's triangles) ÷ diagonal, {args.samples:,} samples per "
             f"surface, with the Hausdorff distance ÷ diagonal beside it; time = whole-process wall seconds of "
             f"`fit` + `mesh` (default options: adaptive, automatic trim of open clouds). "
             f"Distance reported by `levelrecon eval`: {', '.join(distances)}."
             + (f" Neural fit arguments: `{args.fit_args}`." if args.fit_args else "")
             + (f" {args.jobs} runs at a time, the cores shared evenly between them." if args.jobs > 1 else ""), ""]
    if variants:
        lines += [f"Best Poisson = the Poisson variant with the lowest Chamfer-L1 on that shape among those run "
                  f"({', '.join(variants)}; `poisson` = depth 8 untrimmed, `_dN` depth N, `_trim5` vertices "
                  f"below the 5 % density quantile dropped); ×best = a method's value ÷ the best Poisson's "
                  f"(< 1: better).", ""]
    for condition in dict.fromkeys(condition_of(r) for r in rows):
        sub = [r for r in rows if condition_of(r) == condition]
        keys = list(dict.fromkeys((r["shape"], r["points"]) for r in sub))

        def find(shape: str, n: int, m: str, sub: list[dict] = sub) -> dict | None:
            return next((r for r in sub if (r["shape"], r["points"], r["method"]) == (shape, n, m)), None)

        lines += [f"## {condition}", "", f"Input: {describe(condition, args.noise)}.", ""]
        head = ["shape", "points"]
        if variants:
            head += ["best Poisson CD-L1 (variant)", "its Hausdorff", "its time (s)"]
        for m in others:
            head += [f"{m} CD-L1"] + ([f"{m} ×best"] if variants else []) + [f"{m} Hausdorff"] \
                + ([f"{m} Hausdorff ×best"] if variants else []) + [f"{m} time (s)"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        ratios: dict[tuple[str, int], list[float]] = {}
        for shape, n in keys:
            best = best_poisson([r for r in sub if (r["shape"], r["points"]) == (shape, n)])
            cells = [shape, str(n)]
            if variants:
                cells += ["–"] * 3 if best is None else [
                    f"{best['chamfer_l1_rel']:.5f} ({best['method']})", f"{best['hausdorff_rel']:.4f}",
                    f"{best['fit_s'] + best['mesh_s']:.0f}"]
            for m in others:
                r = find(shape, n, m)
                if r is None:
                    cells += ["–"] * (5 if variants else 3)
                    continue
                cd, hd = [f"{r['chamfer_l1_rel']:.5f}"], [f"{r['hausdorff_rel']:.4f}"]
                if variants:
                    ratio = r["chamfer_l1_rel"] / best["chamfer_l1_rel"] if best else None
                    if ratio is not None:
                        ratios.setdefault((m, n), []).append(ratio)
                    cd.append("–" if ratio is None else f"**{ratio:.2f}**")
                    hd.append("–" if best is None else f"{r['hausdorff_rel'] / best['hausdorff_rel']:.2f}")
                cells += cd + hd + [f"{r['fit_s'] + r['mesh_s']:.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
        if ratios:
            lines.append("")
        for (m, n), v in ratios.items():
            lines.append(f"- {m}, {n} points: Chamfer-L1 ÷ best Poisson, median {np.median(v):.2f} over {len(v)} "
                         f"shapes (range {min(v):.2f}–{max(v):.2f})")
        if len(variants) > 1:
            lines += ["", "Every Poisson variant: Chamfer-L1 ÷ diagonal / Hausdorff ÷ diagonal / seconds of fit + "
                          "mesh (best in bold):", "",
                      "| shape | points | " + " | ".join(variants) + " |", "|" + "---|" * (2 + len(variants))]
            for shape, n in keys:
                best = best_poisson([r for r in sub if (r["shape"], r["points"]) == (shape, n)])
                cells = [shape, str(n)]
                for m in variants:
                    r = find(shape, n, m)
                    text = "–" if r is None else (f"{r['chamfer_l1_rel']:.5f} / {r['hausdorff_rel']:.4f} / "
                                                  f"{r['fit_s'] + r['mesh_s']:.0f}")
                    cells.append(f"**{text}**" if r is not None and r is best else text)
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
