"""Marching cubes on a field: chunked grid evaluation (bounded memory) and scikit-image extraction."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import trimesh
from skimage.measure import marching_cubes
from torch import nn

from levelrecon.errors import InputError

FieldFn = Callable[[np.ndarray], np.ndarray]  # (n, 3) float -> (n,) float
ProgressFn = Callable[[int, int], None]  # (done, total)


def torch_field(model: nn.Module, output: int | None = 0, device: str | torch.device | None = None) -> FieldFn:
    """Wrap a network as a numpy field evaluated without autograd: one output, or all (output=None)."""
    dev = torch.device(device) if device is not None else next(model.parameters()).device

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = model(torch.as_tensor(x, dtype=torch.float32, device=dev))
        out = out if output is None else out[:, output]
        return out.float().cpu().numpy()

    return fn


def grid_axis(resolution: int, bounds: tuple[float, float]) -> np.ndarray:
    return np.linspace(bounds[0], bounds[1], resolution)


def evaluate_grid(field: FieldFn, resolution: int, bounds: tuple[float, float] = (-1.1, 1.1),
                  chunk: int = 65536, progress: ProgressFn | None = None) -> np.ndarray:
    """Field values on a resolution³ grid with `indexing='ij'` (volume[i, j, k] at (x_i, y_j, z_k)).

    Points are generated slab by slab so memory stays O(chunk) beyond the float32 volume itself.
    """
    if resolution < 2:
        raise InputError(f"resolution must be at least 2, got {resolution}")
    ax = grid_axis(resolution, bounds).astype(np.float32)
    vol = np.empty((resolution,) * 3, dtype=np.float32)
    flat = vol.reshape(-1)
    total = flat.size
    yz = np.stack(np.meshgrid(ax, ax, indexing="ij"), axis=-1).reshape(-1, 2)
    done = 0
    while done < total:
        stop = min(total, done + chunk)
        idx = np.arange(done, stop)
        pts = np.column_stack([ax[idx // (resolution * resolution)], yz[idx % (resolution * resolution)]])
        flat[done:stop] = field(pts)
        done = stop
        if progress is not None:
            progress(done, total)
    return vol


def extract_mesh(volume: np.ndarray, level: float = 0.0, bounds: tuple[float, float] = (-1.1, 1.1),
                 inside: str = "negative") -> trimesh.Trimesh:
    """Marching cubes (Lewiner) at `level`; faces oriented outward from the `inside` side.

    inside='negative' for SDFs negative inside (SAL, IGR), 'positive' for OCSDF (F > 0 inside).
    """
    lo, hi = float(np.nanmin(volume)), float(np.nanmax(volume))
    if not lo < level < hi:
        raise no_crossing_error(level, lo, hi)
    res = volume.shape[0]
    h = (bounds[1] - bounds[0]) / (res - 1)
    # Measured on an analytic sphere: skimage's 'descent' gives outward faces for fields negative inside.
    direction = "descent" if inside == "negative" else "ascent"
    verts, faces, _, _ = marching_cubes(volume, level=level, spacing=(h, h, h), gradient_direction=direction)
    return trimesh.Trimesh(verts + bounds[0], faces, process=False)


def no_crossing_error(level: float, lo: float, hi: float) -> InputError:
    """The one error for a field that stays on one side of `level` (dense and adaptive extraction)."""
    return InputError(f"the field never crosses level {level:g} on the grid (values in [{lo:.4g}, {hi:.4g}])")


def largest_component(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The connected component with the most faces (drops floating blobs)."""
    parts = mesh.split(only_watertight=False)
    if len(parts) <= 1:
        return mesh
    return max(parts, key=lambda m: len(m.faces))


def clean(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Merge the duplicate vertices marching cubes leaves on cell edges, drop degenerate faces."""
    mesh.merge_vertices()
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    return mesh


def evaluate_slice(field: FieldFn, axis: int, offset: float, resolution: int,
                   bounds: tuple[float, float] = (-1.1, 1.1)) -> np.ndarray:
    """Field values on the plane x[axis] = offset, a (resolution, resolution) array indexed [u, v] where
    (u, v) are the two other axes in increasing order."""
    ax = grid_axis(resolution, bounds)
    u, v = np.meshgrid(ax, ax, indexing="ij")
    pts = np.empty((u.size, 3))
    others = [i for i in range(3) if i != axis]
    pts[:, axis] = offset
    pts[:, others[0]], pts[:, others[1]] = u.ravel(), v.ravel()
    return field(pts).reshape(resolution, resolution)
