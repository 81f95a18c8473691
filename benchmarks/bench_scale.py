"""Scale benchmark: million-point clouds, far outliers and batch parallelism (issue "real scans").

Runs the real commands as subprocesses under /usr/bin/time -v (wall seconds, peak memory) and writes
benchmarks/results/scale.json and scale.md:
- a 20,000- and a 1,000,000-point binary PLY of the same mesh (0.25 % noise): read time, training step
  time (median over the second half of training, from train_log.csv), fit + mesh seconds, peak memory,
  point-to-surface Chamfer-L1 against the mesh;
- the 20,000-point cloud with 20 far outliers (1000× the box) added: Chamfer against the clean run;
- `levelrecon batch` over N small clouds with --jobs 1 and --jobs 2 (and --ray when installed).

    python benchmarks/bench_scale.py                         # data from ../shared/data
    python benchmarks/bench_scale.py /path/to/data --shape spot.obj --batch-clouds 20
"""

from __future__ import annotations

import argparse
import csv
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
EXE = [sys.executable, "-m", "levelrecon"]


def timed(cmd: list[str], cwd: Path) -> tuple[float, float | None, str]:
    """Wall seconds, peak RSS in MB (when /usr/bin/time exists) and stdout of a command that must succeed."""
    full = ([TIME, "-v"] if TIME else []) + cmd
    t0 = time.perf_counter()
    proc = subprocess.run(full, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return wall, (int(rss.group(1)) / 1024 if rss else None), proc.stdout


def step_ms(run_dir: Path) -> float:
    """Median training step time (ms) over the second half of the run, from its log."""
    with open(run_dir / "train_log.csv", newline="") as fh:
        t = np.array([float(r["time"]) for r in csv.DictReader(fh)])
    half = t[len(t) // 2:]
    return float(np.median(np.diff(half)) * 1000)


def fit_mesh_eval(cloud: Path, gt: Path, work: Path, name: str, fit_args: list[str]) -> dict:
    run = work / name
    fit_s, fit_mb, _ = timed(EXE + ["fit", str(cloud), "-o", str(run), "--force", "-q", *fit_args], work)
    mesh_s, mesh_mb, _ = timed(EXE + ["mesh", str(run), "--force", "-q"], work)
    _, _, out = timed(EXE + ["eval", str(run), "--gt", str(gt), "--json", "-"], work)
    m = json.loads(out)
    info = json.loads((run / "run.json").read_text())
    return {"name": name, "points": info["n_points"], "trained_on": info.get("trained_on"),
            "fit_s": round(fit_s, 1), "mesh_s": round(mesh_s, 1), "peak_mb": round(max(fit_mb or 0, mesh_mb or 0)),
            "step_ms": round(step_ms(run), 1), "chamfer_l1_rel": m["chamfer_l1_rel"],
            "hausdorff_rel": m["hausdorff_rel"], "far_outliers_dropped": info.get("far_outliers_dropped")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--shape", default="bunny_closed_3k.off")
    ap.add_argument("--big", type=int, default=1_000_000)
    ap.add_argument("--batch-clouds", type=int, default=8)
    ap.add_argument("--batch-points", type=int, default=5000)
    ap.add_argument("--batch-iters", type=int, default=50)
    ap.add_argument("--parts", default="clouds,batch", help="which parts to run; the others are kept from "
                                                            "an earlier scale.json")
    ap.add_argument("--fit-args", default="", help="extra arguments for every `levelrecon fit`")
    ap.add_argument("--work", default="/tmp/levelrecon_bench_scale")
    args = ap.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    gt = Path(args.data) / "meshes" / args.shape
    fit_args = args.fit_args.split()
    parts = args.parts.split(",")
    out_dir = REPO / "benchmarks" / "results"
    earlier = json.loads((out_dir / "scale.json").read_text()) if (out_dir / "scale.json").exists() else {}
    result: dict = {**earlier, "shape": args.shape, "fit_args": args.fit_args}
    if "clouds" in parts:
        result.update(measure_clouds(args, work, gt, fit_args))
    if "batch" in parts:
        result["batch"] = measure_batch(args, work, gt)
        result["batch_setup"] = {"clouds": args.batch_clouds, "points": args.batch_points, "iters": args.batch_iters}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scale.json").write_text(json.dumps(result, indent=2))
    write_markdown(result, out_dir / "scale.md", args)


def measure_clouds(args: argparse.Namespace, work: Path, gt: Path, fit_args: list[str]) -> dict:
    """Read times, the 20k and big clouds through fit + mesh + eval, and 20 far outliers."""
    result: dict = {"rows": []}
    clouds = {}
    for n in (20000, args.big):
        clouds[n] = work / f"cloud_{n}.ply"
        subprocess.run(EXE + ["sample", str(gt), "-n", str(n), "--noise", "0.0025", "--seed", "1", "-o",
                              str(clouds[n]), "--force"], check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"from levelrecon.recon.data.io import load_points; "
                                          f"load_points({str(clouds[args.big])!r})"], check=True)
    result["read_big_s"] = round(time.perf_counter() - t0, 2)  # includes the interpreter start and imports
    # reading 10 M points: a binary PLY written by levelrecon, loaded and validated in a fresh process
    from levelrecon.recon.data.io import write_points

    ten = work / "cloud_10m.ply"
    write_points(np.random.default_rng(0).normal(size=(10_000_000, 3)), ten, force=True)
    wall, mb, _ = timed([sys.executable, "-c", f"from levelrecon.recon.data.io import load_points; "
                                               f"load_points({str(ten)!r})"], work)
    result["read_10m_s"], result["read_10m_peak_mb"] = round(wall, 2), round(mb or 0)
    ten.unlink()
    for n, cloud in clouds.items():
        row = fit_mesh_eval(cloud, gt, work, f"cloud_{n}", fit_args)
        result["rows"].append(row)
        print(json.dumps(row), flush=True)

    # 20 far outliers at 1000× the box
    from levelrecon.recon.data.io import load_points

    pts = load_points(clouds[20000]).points
    box = np.ptp(pts, axis=0).max()
    far = np.random.default_rng(0).uniform(-1, 1, (20, 3)) * 1000 * box + pts.mean(axis=0)
    noisy = work / "cloud_20000_far.ply"
    write_points(np.concatenate([pts, far]), noisy, force=True)
    row = fit_mesh_eval(noisy, gt, work, "cloud_20000_far", fit_args)
    result["rows"].append(row)
    print(json.dumps(row), flush=True)
    return result


def measure_batch(args: argparse.Namespace, work: Path, gt: Path) -> dict:
    """`levelrecon batch` over N clouds: --jobs 1 vs --jobs 2 (vs --ray when installed)."""
    bdir = work / "batch_clouds"
    shutil.rmtree(bdir, ignore_errors=True)
    bdir.mkdir()
    for i in range(args.batch_clouds):
        subprocess.run(EXE + ["sample", str(gt), "-n", str(args.batch_points), "--noise", "0.0025", "--seed",
                              str(i), "-o", str(bdir / f"c{i:02d}.ply"), "--force"], check=True, capture_output=True)
    batch = {}
    modes = [("jobs1", ["--jobs", "1"]), ("jobs2", ["--jobs", "2"])]
    try:
        import ray  # noqa: F401

        modes.append(("ray", ["--ray", "--num-cpus", "1"]))
    except ImportError:
        pass
    for label, extra in modes:
        out = work / f"batch_{label}"
        shutil.rmtree(out, ignore_errors=True)
        wall, mb, _ = timed(EXE + ["batch", str(bdir), "-o", str(out), "--iters", str(args.batch_iters), "-q",
                                   "--no-render", *extra], work)
        rows = json.loads((out / "results.json").read_text())["rows"]
        batch[label] = {"wall_s": round(wall, 1), "peak_mb": round(mb or 0),
                        "chamfer": [r.get("chamfer_l1_rel") for r in rows]}
        print(label, batch[label]["wall_s"], flush=True)
    return batch


def write_markdown(result: dict, path: Path, args: argparse.Namespace) -> None:
    rows = {r["name"]: r for r in result["rows"]}
    small, big, far = rows["cloud_20000"], rows[f"cloud_{args.big}"], rows["cloud_20000_far"]
    lines = [f"Shape `{result['shape']}`, 0.25 % noise, default `fit` + `mesh`"
             + (f" with `{result['fit_args']}`" if result["fit_args"] else "") + "; whole-process wall seconds "
             "and peak memory from `/usr/bin/time -v`; point-to-surface Chamfer-L1 ÷ diagonal.", "",
             "| cloud | points (trained on) | step ms | fit s | mesh s | peak MB | CD-L1 | Hausdorff |",
             "|---|---|---|---|---|---|---|---|"]
    for r in (small, big, far):
        lines.append(f"| {r['name']} | {r['points']:,} ({r['trained_on']:,}) | {r['step_ms']} | {r['fit_s']} | "
                     f"{r['mesh_s']} | {r['peak_mb']} | {r['chamfer_l1_rel']:.5f} | {r['hausdorff_rel']:.4f} |")
    ratio_t = (big["fit_s"] + big["mesh_s"]) / (small["fit_s"] + small["mesh_s"])
    lines += ["", f"- Reading the {args.big:,}-point binary PLY: {result['read_big_s']} s (with interpreter start); "
              f"a 10,000,000-point binary PLY: {result['read_10m_s']} s, peak {result['read_10m_peak_mb']} MB.",
              f"- Step time, {args.big:,} vs 20,000 points: {big['step_ms'] / small['step_ms']:.2f}×; "
              f"fit + mesh: {ratio_t:.2f}×.",
              f"- 20 far outliers: {far['far_outliers_dropped']} dropped; Chamfer {far['chamfer_l1_rel']:.5f} vs "
              f"{small['chamfer_l1_rel']:.5f} clean ({far['chamfer_l1_rel'] / small['chamfer_l1_rel']:.2f}×)."]
    b, setup = result["batch"], result["batch_setup"]
    lines.append(f"- `batch` over {setup['clouds']} clouds of {setup['points']:,} points (`--iters {setup['iters']}`): "
                 f"--jobs 1 {b['jobs1']['wall_s']} s, --jobs 2 {b['jobs2']['wall_s']} s "
                 f"({b['jobs2']['wall_s'] / b['jobs1']['wall_s']:.2f}×)"
                 + (f", --ray {b['ray']['wall_s']} s (same Chamfer as --jobs 2, one thread per task: "
                    f"{b['ray']['chamfer'] == b['jobs2']['chamfer']})" if "ray" in b else "")
                 + f"; largest Chamfer difference --jobs 2 vs --jobs 1 (1 vs 2 torch threads): "
                 f"{_max_rel(b['jobs2']['chamfer'], b['jobs1']['chamfer']):.1e} relative.")
    path.write_text("\n".join(lines) + "\n")


def _max_rel(a: list, b: list) -> float:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return max((abs(x - y) / max(abs(y), 1e-12) for x, y in pairs), default=float("nan"))


if __name__ == "__main__":
    main()
