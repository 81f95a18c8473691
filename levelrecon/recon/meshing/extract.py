"""Turn a run (or a bare checkpoint) into a mesh in the input's original coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from torch import nn

from levelrecon.device import resolve_device
from levelrecon.errors import InputError
from levelrecon.recon import runs
from levelrecon.recon.checkpoint import load_checkpoint
from levelrecon.recon.data.io import load_mesh
from levelrecon.recon.data.normalize import Normalization
from levelrecon.recon.data.sampling import knn_scale
from levelrecon.recon.meshing.adaptive import DEFAULT_MARGIN, extract_adaptive
from levelrecon.recon.meshing.curves import extract_curve, trim_open, trim_to_data
from levelrecon.recon.meshing.marching import (
    ProgressFn,
    clean,
    evaluate_grid,
    extract_mesh,
    largest_component,
    torch_field,
)
from levelrecon.recon.meshing.snap import auto_snap, snap_to_points
from levelrecon.recon.methods.registry import Method

SNAP_CHOICES = ("auto", "on", "off")

ADAPTIVE_RESOLUTION = 256  # default fine grid of adaptive extraction (512: same Chamfer, 3× the time)
SPARSE_RESOLUTION = 128  # … for clouds whose samples are several of its cells apart (auto_resolution)
DENSE_RESOLUTION = 128  # default grid when every point is evaluated (--dense, curves)
CELLS_PER_SPACING = 4.0


def auto_resolution(points: np.ndarray, bound: float = 1.1) -> int:
    """The default fine grid for a field fitted to `points` (normalized): SPARSE_RESOLUTION when its cell is at
    most 1/CELLS_PER_SPACING of the cloud's median spacing (distance to the 6th neighbour), else
    ADAPTIVE_RESOLUTION. A field fitted to a sparse cloud has no detail finer than several of those cells: on
    2,000-point clouds (spacing 4.6–5.3 cells of 128) the 128 and 256 meshes of one field are equally close to
    the true surface (bunny 0.001584 vs 0.001581 × diagonal, fandisk 0.001227 vs 0.001224, spot 0.001145 both)
    at a quarter of the time; the open camelhead's (3.95 cells) lost 3 % at 128 (0.001764 vs 0.001715), so it
    keeps 256, as 20,000-point clouds (≈ 1.8 cells) do."""
    spacing = float(np.median(knn_scale(points, 6)))
    return SPARSE_RESOLUTION if 2 * bound / (SPARSE_RESOLUTION - 1) * CELLS_PER_SPACING <= spacing \
        else ADAPTIVE_RESOLUTION


@dataclass
class Extracted:
    """A triangle mesh, or for two-output (curve) networks a polyline (vertices, edges)."""

    mesh: trimesh.Trimesh | None
    method: str
    level: float | None
    resolution: int | None
    curve: tuple[np.ndarray, np.ndarray] | None = None
    trimmed: int = 0  # curve edges or mesh faces dropped as unsupported by the data
    snapped: int = 0  # mesh vertices moved onto the input (recon/meshing/snap.py)
    evaluations: int | None = None  # field evaluations the grid took (dense: resolution³)
    extraction: str = ""  # how: "dense", or "adaptive, <band>"


def mesh_from_source(source: Path, resolution: int | None = None, level: float | None = None, bound: float = 1.1,
                     keep_largest: bool = False, device: str = "auto", chunk: int = 65536,
                     progress: ProgressFn | None = None, curve_trim: float = 3.0, dense: bool = False,
                     margin: float | None = None, trim: float | str = "auto", snap: str = "auto") -> Extracted:
    """Mesh of a run directory or checkpoint file.

    Neural runs: marching cubes at `level` (default: the method's level stored in the checkpoint, 0 for SDF
    methods) on a resolution³ grid over [-bound, bound]³ in normalized coordinates. By default the grid is
    refined adaptively (recon/meshing/adaptive.py, default resolution 256, or 128 for a sparse input:
    `auto_resolution`): certified for fields with a
    Lipschitz bound, a heuristic band of `margin` cell diagonals otherwise (default DEFAULT_MARGIN).
    `dense` evaluates every grid point (default resolution 128), as curves (two-output networks) always do.
    Classical runs (Poisson): the surface they wrote, optionally reduced to its largest component.
    Curves of a run directory lose the pieces farther than `curve_trim` × the input's point spacing from
    the input (0: keep all); a bare checkpoint has no input to compare with. Surfaces lose the faces
    farther than `trim` × that spacing (0: keep all; e.g. 3 for open scans); `trim="auto"` (the default)
    drops only large connected regions of such faces (`curves.trim_open`: the cap a field puts on an open
    cloud), so closed surfaces stay watertight; it needs the run directory's input and is skipped without,
    and for methods whose surface does not pass through the data (OCSDF's shell: `Method.through_data`).
    `snap` moves the vertices onto the input's points where they are nearly noise-free (`snap.auto_snap`;
    "on": always, "off": never); it too needs the run directory's input.
    """
    run_dir = None
    if source.is_file() and source.suffix == ".pt":
        ckpt_path = source
    else:
        run_dir = source
        info = runs.read_run_info(source)
        if (source / runs.SURFACE).is_file():
            return surface_extracted(load_mesh(source / runs.SURFACE), info["method"], keep_largest)
        ckpt_path = source / runs.CHECKPOINT
        if not ckpt_path.is_file():
            raise InputError(f"{source}: run has no checkpoint yet (status: {info.get('status', '?')})")
    ckpt = load_checkpoint(ckpt_path)
    method, model = ckpt.build(resolve_device(device))
    points = np.load(run_dir / runs.INPUT) if run_dir is not None and (run_dir / runs.INPUT).is_file() else None
    return mesh_from_field(method, model, ckpt.normalization, points, ckpt.method, str(source), resolution, level,
                           bound, keep_largest, chunk, progress, curve_trim, dense, margin, trim, snap)


def surface_extracted(mesh: trimesh.Trimesh, method: str, keep_largest: bool = False) -> Extracted:
    """A classical method's surface as an extraction result."""
    return Extracted(largest_component(mesh) if keep_largest else mesh, method, None, None)


def mesh_from_field(method: Method, model: nn.Module, normalization: Normalization, points: np.ndarray | None,
                    name: str, source: str, resolution: int | None = None, level: float | None = None,
                    bound: float = 1.1, keep_largest: bool = False, chunk: int = 65536,
                    progress: ProgressFn | None = None, curve_trim: float = 3.0, dense: bool = False,
                    margin: float | None = None, trim: float | str = "auto", snap: str = "auto") -> Extracted:
    """The mesh (or curve) of a trained network in memory, in the input's coordinates; `points`, the input
    cloud in original coordinates, drives the trimming (None: no automatic trim). `mesh_from_source`
    explains the options; `name` is the method's name, `source` names the model in messages."""
    if snap not in SNAP_CHOICES:
        raise InputError(f"unknown snap {snap!r}; choose from {', '.join(SNAP_CHOICES)}")
    if snap == "on" and points is None:  # before the grid is evaluated, not after
        raise InputError(f"{source}: --snap on needs the run directory's input cloud")
    dense = dense or method.n_outputs == 2  # curves keep the dense path
    if resolution is None and not dense and points is not None:
        resolution = auto_resolution(normalization.apply(points), bound)
    resolution = resolution or (DENSE_RESOLUTION if dense else ADAPTIVE_RESOLUTION)
    if method.n_outputs == 2:
        verts, edges = extract_curve(torch_field(model, output=None), resolution, (-bound, bound),
                                     progress=progress)
        verts, dropped = normalization.invert(verts), 0
        if curve_trim > 0 and points is not None:
            verts, edges, dropped = trim_to_data(verts, edges, points, curve_trim)
        return Extracted(None, name, 0.0, resolution, (verts, edges), dropped, resolution**3, "dense")
    lvl = method.mesh_level() if level is None else float(level)
    bounds = (-bound, bound)
    if dense:
        volume = evaluate_grid(torch_field(model), resolution, bounds, chunk=chunk, progress=progress)
        mesh, evaluations, how = extract_mesh(volume, lvl, bounds, inside=method.inside), resolution**3, "dense"
    else:
        margin = DEFAULT_MARGIN if margin is None else margin
        mesh, stats = extract_adaptive(torch_field(model), resolution, lvl, bounds, method.inside,
                                       method.lipschitz_bound(model), margin, chunk=chunk, progress=progress)
        evaluations, how = stats.evaluations, f"adaptive, {stats.band}"
    mesh = clean(mesh)
    mesh.vertices = normalization.invert(mesh.vertices)
    dropped = 0
    if trim == "auto" and points is not None and method.through_data:
        verts, faces, dropped = trim_open(np.asarray(mesh.vertices), np.asarray(mesh.faces), points)
    elif trim != "auto" and float(trim) > 0:
        if points is None:
            raise InputError(f"{source}: --trim needs the run directory's input cloud")
        verts, faces, dropped = trim_to_data(np.asarray(mesh.vertices), np.asarray(mesh.faces), points, float(trim))
    if dropped:
        mesh = trimesh.Trimesh(verts, faces, process=False)
    if keep_largest:
        mesh = largest_component(mesh)
    snapped = 0
    if points is not None and method.through_data and (snap == "on" or (snap == "auto" and auto_snap(points))):
        mesh, snapped = snap_to_points(mesh, points)
    return Extracted(mesh, name, lvl, resolution, trimmed=dropped, snapped=snapped, evaluations=evaluations,
                     extraction=how)
