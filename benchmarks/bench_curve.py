"""Curve reconstruction (paper 1 §5): a random spline, 300 FPS points with noise, `levelset --set curve=true`.

Runs the command-line flow, writes benchmarks/results/curve.json and curve.png (input, true curve and
the recovered polyline).

    python benchmarks/bench_curve.py [--seed 3] [--noise 0.002] [--iters N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--noise", type=float, default=0.002)
    ap.add_argument("--points", type=int, default=300)
    ap.add_argument("--iters", type=int, default=0, help="0: the method's default")
    args = ap.parse_args()
    work = REPO / "benchmarks" / "out" / "curve"
    work.mkdir(parents=True, exist_ok=True)
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    exe = [sys.executable, "-m", "levelrecon"]

    def call(*a: str) -> str:
        return subprocess.run(exe + list(a), cwd=work, check=True, capture_output=True, text=True).stdout

    call("sample", "--curve", "-n", str(args.points), "--noise", str(args.noise), "--seed", str(args.seed),
         "-o", "curve.xyz", "--curve-gt", "gt.ply", "--force")
    t0 = time.perf_counter()
    call("fit", "curve.xyz", "--method", "levelset", "--set", "curve=true", "-o", "run", "--force", "-q",
         *(["--iters", str(args.iters)] if args.iters else []))
    fit_s = time.perf_counter() - t0
    call("mesh", "run", "-o", "curve.ply", "--force", "-q")
    metrics = json.loads(call("eval", "curve.ply", "--gt", "gt.ply", "--json", "-", "--samples", "20000"))
    result = {"seed": args.seed, "noise": args.noise, "points": args.points, "fit_s": round(fit_s, 1),
              "chamfer_l1": metrics["chamfer_l1"], "chamfer_l1_rel": metrics["chamfer_l1_rel"],
              "hausdorff_rel": metrics["hausdorff_rel"]}
    (out / "curve.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))

    from levelrecon.recon.data.io import load_points, load_polyline
    from levelrecon.recon.plots import render_curve

    verts, edges = load_polyline(work / "curve.ply")
    truth, _ = load_polyline(work / "gt.ply")
    render_curve(load_points(work / "curve.xyz").points, verts, edges, out / "curve.png",
                 f"levelset curve: Chamfer-L1 {result['chamfer_l1_rel']:.4f} × diagonal", truth=truth)


if __name__ == "__main__":
    main()
