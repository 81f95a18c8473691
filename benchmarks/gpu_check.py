"""GPU check: the default methods and the paper presets on one CUDA device, against the CPU.

Three phases, so that the GPU machine needs neither Open3D nor the meshes' ground truth:

    prepare  sample the clouds (20,000 noisy points with estimated, oriented normals; 2,000 noisy points)
    run      fit + mesh each row on the GPU (and the dense default on the CPU too): timings, peak memory
    report   point-to-surface Chamfer-L1 / Hausdorff of every mesh against the true mesh

Without a phase all three run in turn. `report` writes benchmarks/results/gpu.json and gpu.md; the dense
default's GPU Chamfer must lie within `--tolerance` of its CPU Chamfer (exit 1 otherwise).

    python benchmarks/gpu_check.py                                    # all, data from ../shared/data
    python benchmarks/gpu_check.py prepare --work w                   # here (Open3D for the normals)
    python benchmarks/gpu_check.py run --work w --paper-iters 1000    # on the GPU machine
    python benchmarks/gpu_check.py report --work w                    # here again
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# (name, cloud, method, preset, device); "paper" rows take --paper-iters steps
ROWS = [("default_dense_gpu", "dense", "auto", "cpu", "cuda"),
        ("default_dense_cpu", "dense", "auto", "cpu", "cpu"),
        ("default_sparse_gpu", "sparse", "auto", "cpu", "cuda"),
        ("igr_paper_gpu", "dense", "igr", "paper", "cuda"),
        ("sal_paper_gpu", "dense", "sal", "paper", "cuda"),
        ("levelset_paper_gpu", "dense", "levelset", "paper", "cuda")]


def prepare(data: Path, shape: str, work: Path) -> None:
    from levelrecon.recon.data.io import load_mesh, write_points
    from levelrecon.recon.data.normals import estimate_normals
    from levelrecon.recon.data.sampling import add_noise, sample_surface

    work.mkdir(parents=True, exist_ok=True)
    mesh = load_mesh(data / "meshes" / shape)
    for name, n in (("dense", 20000), ("sparse", 2000)):
        pts, _ = sample_surface(mesh, n, seed=1)
        pts = add_noise(pts, 0.0025, seed=1)
        # the dense default estimates these itself; done here so that the GPU machine needs no Open3D
        normals = estimate_normals(pts) if name == "dense" else None
        write_points(pts, work / f"{name}.ply", normals=normals, force=True)
    (work / "clouds.json").write_text(json.dumps({"shape": shape, "noise": 0.0025}))
    print(f"prepared {work}/dense.ply (20,000 points, normals) and sparse.ply (2,000 points)")


def run(work: Path, paper_iters: int, only: list[str] | None) -> None:
    import torch

    from levelrecon.recon.data.io import load_points, write_mesh
    from levelrecon.recon.fit import fit_cloud
    from levelrecon.recon.meshing.extract import mesh_from_source
    from levelrecon.recon.methods.registry import auto_method

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device visible (is the CUDA build of torch installed?)", file=sys.stderr)
        raise SystemExit(2)
    out = work / "runs.json"
    rows = json.loads(out.read_text()) if out.exists() else {}
    rows["_device"] = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
                       "cpu_threads": torch.get_num_threads()}
    for name, cloud_name, method, preset, device in ROWS:
        if only and name not in only:
            continue
        cloud = load_points(work / f"{cloud_name}.ply")
        chosen = auto_method(len(cloud.points)) if method == "auto" else method
        overrides = {"iters": paper_iters} if preset == "paper" else {}
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        run_dir = work / "runs" / name
        t0 = time.perf_counter()
        result = fit_cloud(cloud, work / f"{cloud_name}.ply", chosen, run_dir, preset=preset, overrides=overrides,
                           device=device, force=True)
        t1 = time.perf_counter()
        mesh = mesh_from_source(run_dir, device=device).mesh
        write_mesh(mesh, work / f"{name}.ply", force=True)
        t2 = time.perf_counter()
        log = np.genfromtxt(run_dir / "train_log.csv", delimiter=",", names=True)
        times = np.atleast_1d(log["time"])
        step_ms = float(np.median(np.diff(times[len(times) // 2:])) * 1000) if len(times) > 2 else float("nan")
        peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
        rows[name] = {"cloud": cloud_name, "method": chosen, "preset": preset, "device": device,
                      "steps": result.steps, "step_ms": round(step_ms, 2), "fit_s": round(t1 - t0, 1),
                      "mesh_s": round(t2 - t1, 1), "peak_gpu_mb": None if peak is None else round(peak),
                      "faces": len(mesh.faces)}
        out.write_text(json.dumps(rows, indent=2))  # after every row: a run cut short keeps what it did
        print(name, rows[name], flush=True)


def report(data: Path, work: Path, tolerance: float) -> int:
    from levelrecon.recon.evaluation import evaluate

    rows = json.loads((work / "runs.json").read_text())
    clouds = json.loads((work / "clouds.json").read_text())
    device = rows.pop("_device")
    gt = data / "meshes" / clouds["shape"]
    for name, row in rows.items():
        metrics = evaluate(work / f"{name}.ply", gt)
        row.update(chamfer_l1_rel=metrics["chamfer_l1_rel"], hausdorff_rel=metrics["hausdorff_rel"])
    out = {"device": device, "shape": clouds["shape"], "rows": rows}
    lines = [f"{device['gpu']}, torch {device['torch']} ({device['cpu_threads']} CPU threads for the CPU row); "
             f"`{clouds['shape']}` with {clouds['noise']:.2%} noise: `dense` 20,000 points, `sparse` 2,000.", "",
             "| row | cloud | method | preset | device | steps | step ms | fit s | mesh s | peak GPU MB | CD-L1 | "
             "Hausdorff |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {name} | {r['cloud']} | {r['method']} | {r['preset']} | {r['device']} | {r['steps']} | "
              f"{r['step_ms']} | {r['fit_s']} | {r['mesh_s']} | "
              f"{r['peak_gpu_mb'] if r['peak_gpu_mb'] is not None else '–'} | {r['chamfer_l1_rel']:.5f} | "
              f"{r['hausdorff_rel']:.4f} |" for name, r in rows.items()]
    status = 0
    if "default_dense_gpu" in rows and "default_dense_cpu" in rows:
        gpu, cpu = rows["default_dense_gpu"]["chamfer_l1_rel"], rows["default_dense_cpu"]["chamfer_l1_rel"]
        gap = abs(gpu - cpu) / cpu
        out.update(default_gpu_vs_cpu_gap=gap, within_tolerance=gap <= tolerance)
        lines += ["", f"Dense default, GPU vs CPU Chamfer gap: {gap:.1%} (tolerance {tolerance:.0%}): "
                  f"{'within' if gap <= tolerance else 'OUTSIDE'}."]
        status = 0 if gap <= tolerance else 1
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "gpu.json").write_text(json.dumps(out, indent=2))
    (results / "gpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", nargs="?", choices=("prepare", "run", "report"), help="default: all three")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--work", default=str(REPO / "benchmarks" / "out" / "gpu_check"))
    ap.add_argument("--shape", default="bunny_closed_3k.off")
    ap.add_argument("--paper-iters", type=int, default=1000, help="steps of the paper presets")
    ap.add_argument("--only", help="comma-separated rows to run: " + ", ".join(r[0] for r in ROWS))
    ap.add_argument("--tolerance", type=float, default=0.15, help="allowed relative Chamfer gap, GPU vs CPU")
    args = ap.parse_args()
    data, work = Path(args.data), Path(args.work)
    only = args.only.split(",") if args.only else None
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if args.phase in (None, "prepare"):
        prepare(data, args.shape, work)
    if args.phase in (None, "run"):
        run(work, args.paper_iters, only)
    if args.phase in (None, "report"):
        raise SystemExit(report(data, work, args.tolerance))


if __name__ == "__main__":
    main()
