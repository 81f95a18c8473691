"""Adaptive vs dense mesh extraction of a trained field: field evaluations, seconds, faces, agreement.

Fits a quick field unless a run is given (`levelrecon fit data_samples/bunny_20k.ply --method igr --iters 200`
into a temporary run directory), then meshes it through `recon.meshing.extract.mesh_from_source` (what
`levelrecon mesh` runs): dense 128³, dense 256³, adaptive 256 and adaptive 512 (once per --margins value),
each timed with time.perf_counter (checkpoint loading, evaluation, marching cubes and clean-up). The dense-256
and adaptive-256 meshes, which should be the same, are compared by their vertices and point-to-surface
(`levelrecon eval --gt`, 30,000 samples each way); every mesh is also measured against the input cloud (mean
distance from the input points to its triangles).
Writes benchmarks/results/meshing.json and meshing.md.

    nice -n 10 python benchmarks/bench_meshing.py           # fit the quick IGR field first
    python benchmarks/bench_meshing.py --margins 1.0 0.5 1.5  # the run in results/meshing.md
    python benchmarks/bench_meshing.py runs/bunny_igr_1       # an existing run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

from levelrecon.recon import runs  # noqa: E402
from levelrecon.recon.data.io import write_mesh  # noqa: E402
from levelrecon.recon.meshing.adaptive import DEFAULT_MARGIN  # noqa: E402
from levelrecon.recon.meshing.extract import mesh_from_source  # noqa: E402
from levelrecon.recon.metrics import surface_distances  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "levelrecon"]


def cli(*args: str, cwd: Path) -> str:
    proc = subprocess.run(CLI + list(args), cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"levelrecon {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", help="run directory to mesh [default: fit a quick IGR field first]")
    ap.add_argument("--cloud", default=str(REPO / "data_samples" / "bunny_20k.ply"))
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--margins", type=float, nargs="+", default=[DEFAULT_MARGIN],
                    help="heuristic bands to run adaptive 512 with (adaptive 256 uses the first)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="bench_meshing_") as tmp:
        work = Path(tmp)
        fit_s = None
        if args.run is None:
            t0 = time.perf_counter()
            cli("fit", args.cloud, "--method", "igr", "--iters", str(args.iters), "-o", "run", "--device", "cpu",
                "-q", cwd=work)
            fit_s, run_dir = time.perf_counter() - t0, work / "run"
        else:
            run_dir = Path(args.run).resolve()
        info = runs.read_run_info(run_dir)
        cloud = np.load(run_dir / runs.INPUT)
        centre, diag = cloud.mean(axis=0), float(np.linalg.norm(np.ptp(cloud, axis=0)))
        cases = [(True, 128, None), (True, 256, None), (False, 256, args.margins[0])]
        cases += [(False, 512, m) for m in args.margins]
        rows, meshes = [], {}
        for dense, res, margin in cases:
            t0 = time.perf_counter()
            out = mesh_from_source(run_dir, res, device="cpu", dense=dense, margin=margin)
            seconds = time.perf_counter() - t0
            name = f"{'dense' if dense else 'adaptive'}_{res}" + ("" if margin is None else f"_m{margin:g}")
            write_mesh(out.mesh, work / f"{name}.ply", force=True)
            meshes[name] = out.mesh
            to_mesh = surface_distances(cloud, out.mesh, centre, diag)[0]
            rows.append({"name": name, "extraction": out.extraction, "resolution": res, "margin": margin,
                         "evaluations": out.evaluations, "dense_evaluations": res**3, "seconds": round(seconds, 1),
                         "faces": len(out.mesh.faces), "vertices": len(out.mesh.vertices),
                         "watertight": bool(out.mesh.is_watertight), "euler": int(out.mesh.euler_number),
                         "input_to_mesh_rel": float(to_mesh.mean() / diag)})
            print(json.dumps(rows[-1]), flush=True)
        a, d = meshes[f"adaptive_256_m{args.margins[0]:g}"], meshes["dense_256"]
        gap = max(cKDTree(d.vertices).query(a.vertices)[0].max(), cKDTree(a.vertices).query(d.vertices)[0].max())
        same = json.loads(cli("eval", f"adaptive_256_m{args.margins[0]:g}.ply", "--gt", "dense_256.ply", "--chamfer",
                              "--hausdorff", "--json", "-", cwd=work))
        agreement = {"same_face_count": len(a.faces) == len(d.faces), "max_vertex_gap": float(gap),
                     "chamfer_l1": same["chamfer_l1"], "hausdorff": same["hausdorff"],
                     "distance": same["distance"], "samples": same["n_recon"], "diagonal": same["diagonal"]}
    result = {"run": str(args.run or Path(args.cloud).name),
              "method": info["method"], "config": info.get("config", {}), "fit_s": fit_s,
              "default_margin": DEFAULT_MARGIN, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "rows": rows, "agreement_256": agreement}
    out_dir = REPO / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "meshing.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "meshing.md").write_text(render(result))
    print((out_dir / "meshing.md").read_text())


def render(r: dict) -> str:
    cfg = r["config"]
    source = f"fitted in {r['fit_s']:.0f} s to {r['run']}" if r["fit_s"] is not None else f"of run {r['run']}"
    base = next(row for row in r["rows"] if row["name"] == "dense_128")
    lines = [
        "# Mesh extraction: adaptive vs dense",
        "",
        f"Field: {r['method']} ({cfg.get('depth', '?')}×{cfg.get('width', '?')} {cfg.get('activation', '')}, "
        f"{cfg.get('iters', '?')} steps) {source}. Grid [-1.1, 1.1]³ in normalized units. Seconds "
        f"of `recon.meshing.extract.mesh_from_source` (load, evaluate, marching cubes, clean) with "
        f"{r['torch_threads']} "
        f"torch threads on a {r['cpus']}-core machine shared with other jobs: timings are rough (±30 %), the "
        "evaluation counts are exact.",
        "",
        "| extraction | resolution | field evaluations | share of dense | vs dense 128³ | seconds | faces | "
        "watertight | Euler | input→mesh ÷ diag |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        how = row["extraction"] + (" (default)" if row["margin"] == r["default_margin"] else "")
        lines.append(
            f"| {how} | {row['resolution']}³ | {row['evaluations']:,} | "
            f"{100 * row['evaluations'] / row['dense_evaluations']:.3g} % | "
            f"{row['evaluations'] / base['evaluations']:.2f}× evals, {row['seconds'] / base['seconds']:.2f}× time | "
            f"{row['seconds']:.1f} | {row['faces']:,} | {row['watertight']} | {row['euler']} | "
            f"{row['input_to_mesh_rel']:.6f} |")
    a = r["agreement_256"]
    lines += [
        "",
        f"Adaptive 256 against dense 256: same face count: {a['same_face_count']}; largest distance from a vertex "
        f"to the other mesh's nearest vertex {a['max_vertex_gap']:.1e}; {a['distance']} Chamfer-L1 "
        f"{a['chamfer_l1']:.1e} and Hausdorff {a['hausdorff']:.1e} ({a['samples']:,} samples each way; bounding-box "
        f"diagonal {a['diagonal']:.3g}, same units).",
        "",
        "input→mesh: mean distance from the input points to the mesh's triangles (point-to-surface, all input "
        "points), divided by the input's bounding-box diagonal.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
