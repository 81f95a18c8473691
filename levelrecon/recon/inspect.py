"""Summaries of files for `levelrecon info`: clouds, meshes, checkpoints and run directories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from levelrecon.recon import runs
from levelrecon.recon.checkpoint import load_checkpoint
from levelrecon.recon.data.io import load_points


def describe(path: Path) -> dict[str, Any]:
    if runs.is_run_dir(path):
        info = runs.read_run_info(path)
        files = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
        return {"kind": "run directory", "path": str(path), "files": files, **info}
    if path.suffix == ".pt":
        ckpt = load_checkpoint(path)
        n_params = int(sum(v.numel() for v in ckpt.state_dict.values()))
        return {"kind": "checkpoint", "path": str(path), "method": ckpt.method, "step": ckpt.step,
                "parameters": n_params, "normalization": ckpt.normalization.to_dict(), "config": ckpt.config,
                "extra": ckpt.extra}
    cloud = load_points(path, min_points=1)
    lo, hi = cloud.points.min(axis=0), cloud.points.max(axis=0)
    out: dict[str, Any] = {
        "kind": "mesh" if cloud.is_mesh else "point cloud",
        "path": str(path),
        "vertices": int(len(cloud.points)),
        "faces": int(len(cloud.faces)) if cloud.is_mesh else 0,
        "normals": cloud.normals is not None,
        "bounds_min": lo.tolist(),
        "bounds_max": hi.tolist(),
        "diagonal": float(np.linalg.norm(hi - lo)),
    }
    if cloud.is_mesh:
        mesh = cloud.as_mesh()
        merged = mesh.copy()
        merged.merge_vertices()
        out["area"] = float(mesh.area)
        out["watertight"] = bool(merged.is_watertight)
        if merged.is_watertight:
            out["volume"] = float(merged.volume)
    return out
