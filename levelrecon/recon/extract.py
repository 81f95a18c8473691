"""Turn a run (or a bare checkpoint) into a mesh in the input's original coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from levelrecon.errors import InputError
from levelrecon.recon import runs
from levelrecon.recon.checkpoint import load_checkpoint
from levelrecon.recon.curves import extract_curve, trim_to_data
from levelrecon.recon.fit import resolve_device
from levelrecon.recon.io import load_mesh
from levelrecon.recon.meshing import ProgressFn, clean, evaluate_grid, extract_mesh, largest_component, torch_field
from levelrecon.recon.sparse_meshing import evaluate_grid_sparse


@dataclass
class Extracted:
    """A triangle mesh, or for two-output (curve) networks a polyline (vertices, edges)."""

    mesh: trimesh.Trimesh | None
    method: str
    level: float | None
    resolution: int | None
    curve: tuple[np.ndarray, np.ndarray] | None = None
    trimmed: int = 0  # curve edges dropped as unsupported by the data


def mesh_from_source(source: Path, resolution: int = 128, level: float | None = None, bound: float = 1.1,
                     keep_largest: bool = False, device: str = "auto", chunk: int = 65536,
                     progress: ProgressFn | None = None, curve_trim: float = 3.0) -> Extracted:
    """Mesh of a run directory or checkpoint file.

    Neural runs: grid evaluation in normalized coordinates over [-bound, bound]³, marching cubes at
    `level` (default: the method's level stored in the checkpoint, 0 for SDF methods).
    Classical runs (Poisson): the surface they wrote, optionally reduced to its largest component.
    Curves of a run directory lose the pieces farther than `curve_trim` × the input's point spacing from
    the input (0: keep all); a bare checkpoint has no input to compare with.
    """
    run_dir = None
    if source.is_file() and source.suffix == ".pt":
        ckpt_path = source
    else:
        run_dir = source
        info = runs.read_run_info(source)
        if (source / runs.SURFACE).is_file():
            mesh = load_mesh(source / runs.SURFACE)
            return Extracted(largest_component(mesh) if keep_largest else mesh, info["method"], None, None)
        ckpt_path = source / runs.CHECKPOINT
        if not ckpt_path.is_file():
            raise InputError(f"{source}: run has no checkpoint yet (status: {info.get('status', '?')})")
    ckpt = load_checkpoint(ckpt_path)
    method, model = ckpt.build(resolve_device(device))
    if method.n_outputs == 2:
        verts, edges = extract_curve(torch_field(model, output=None), resolution, (-bound, bound),
                                     progress=progress)
        verts, dropped = ckpt.normalization.invert(verts), 0
        if curve_trim > 0 and run_dir is not None and (run_dir / runs.INPUT).is_file():
            verts, edges, dropped = trim_to_data(verts, edges, np.load(run_dir / runs.INPUT), curve_trim)
        return Extracted(None, ckpt.method, 0.0, resolution, (verts, edges), dropped)
    lvl = method.mesh_level() if level is None else float(level)
    lipschitz = method.lipschitz_bound(model)
    if lipschitz is None:
        volume = evaluate_grid(torch_field(model), resolution, (-bound, bound), chunk=chunk, progress=progress)
    else:  # certified sparse evaluation, same mesh (recon/sparse_meshing.py)
        volume, _ = evaluate_grid_sparse(torch_field(model), resolution, lvl, lipschitz, (-bound, bound), chunk,
                                         progress)
    mesh = clean(extract_mesh(volume, lvl, (-bound, bound), inside=method.inside))
    if keep_largest:
        mesh = largest_component(mesh)
    mesh.vertices = ckpt.normalization.invert(mesh.vertices)
    return Extracted(mesh, ckpt.method, lvl, resolution)
