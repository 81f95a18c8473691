"""GPU check: the default and paper presets on one CUDA device, against the CPU default.

For each preset: per-step milliseconds (median of the second half of training), peak GPU memory,
fit and mesh seconds, and the point-to-surface Chamfer-L1 against the true mesh; the default preset is
also run on the CPU, and the GPU Chamfer must be within `--tolerance` of it. Writes
benchmarks/results/gpu.json and gpu.md. Exits with 2 when no CUDA device is visible.

    python benchmarks/gpu_check.py                         # data from ../shared/data
    python benchmarks/gpu_check.py /path/to/data --shape spot.obj --paper-iters 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent


def run(cloud, gt: Path, method: str, preset: str, device: str, work: Path, overrides: dict) -> dict:
    from levelrecon.recon.data.io import write_mesh
    from levelrecon.recon.evaluation import evaluate
    from levelrecon.recon.fit import fit_cloud
    from levelrecon.recon.meshing.extract import mesh_from_source

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    run_dir = work / f"{method}_{preset}_{device.replace(':', '')}"
    t0 = time.perf_counter()
    result = fit_cloud(cloud, Path("cloud.ply"), method, run_dir, preset=preset, overrides=overrides,
                       device=device, force=True)
    t1 = time.perf_counter()
    mesh = mesh_from_source(run_dir, device=device).mesh
    write_mesh(mesh, run_dir / "mesh.ply", force=True)
    t2 = time.perf_counter()
    metrics = evaluate(run_dir / "mesh.ply", gt)
    log = np.genfromtxt(run_dir / "train_log.csv", delimiter=",", names=True)
    times = np.atleast_1d(log["time"])
    step_ms = float(np.median(np.diff(times[len(times) // 2:])) * 1000) if len(times) > 2 else float("nan")
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return {"method": method, "preset": preset, "device": device, "steps": result.steps,
            "step_ms": round(step_ms, 2), "fit_s": round(t1 - t0, 1), "mesh_s": round(t2 - t1, 1),
            "peak_gpu_mb": None if peak is None else round(peak), "chamfer_l1_rel": metrics["chamfer_l1_rel"],
            "hausdorff_rel": metrics["hausdorff_rel"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--shape", default="bunny_closed_3k.off")
    ap.add_argument("--points", type=int, default=20000)
    ap.add_argument("--paper-iters", type=int, default=2000, help="steps of the paper presets (GPU time)")
    ap.add_argument("--tolerance", type=float, default=0.15, help="allowed relative Chamfer gap, GPU vs CPU")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device visible (is the CUDA build of torch installed?)", file=sys.stderr)
        raise SystemExit(2)
    from levelrecon.recon.data.io import PointCloud, load_mesh
    from levelrecon.recon.data.sampling import add_noise, sample_surface

    gt = Path(args.data) / "meshes" / args.shape
    pts, _ = sample_surface(load_mesh(gt), args.points, seed=1)
    cloud = PointCloud(add_noise(pts, 0.0025, seed=1))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows.append(run(cloud, gt, "igr", "cpu", "cuda", work, {}))
        rows.append(run(cloud, gt, "igr", "cpu", "cpu", work, {}))
        for method in ("igr", "sal", "levelset"):
            rows.append(run(cloud, gt, method, "paper", "cuda", work, {"iters": args.paper_iters}))
    gpu, cpu = rows[0], rows[1]
    gap = abs(gpu["chamfer_l1_rel"] - cpu["chamfer_l1_rel"]) / cpu["chamfer_l1_rel"]
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "shape": args.shape,
           "points": args.points, "rows": rows, "default_gpu_vs_cpu_gap": gap,
           "within_tolerance": gap <= args.tolerance}
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "gpu.json").write_text(json.dumps(out, indent=2))
    lines = [f"{out['device']}, torch {out['torch']}, {args.points:,} points of `{args.shape}` (0.25 % noise); "
             f"paper presets run {args.paper_iters} steps.", "",
             "| method | preset | device | step ms | fit s | mesh s | peak GPU MB | CD-L1 | Hausdorff |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['preset']} | {r['device']} | {r['step_ms']} | {r['fit_s']} | {r['mesh_s']} | "
              f"{r['peak_gpu_mb'] if r['peak_gpu_mb'] is not None else '–'} | {r['chamfer_l1_rel']:.5f} | "
              f"{r['hausdorff_rel']:.4f} |" for r in rows]
    lines += ["", f"Default preset, GPU vs CPU Chamfer gap: {gap:.1%} (tolerance {args.tolerance:.0%}): "
              f"{'within' if out['within_tolerance'] else 'OUTSIDE'}."]
    (results / "gpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    raise SystemExit(0 if out["within_tolerance"] else 1)


if __name__ == "__main__":
    main()
