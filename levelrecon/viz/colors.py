"""Colour maps shared by the PNG renders and the browser viewer, so both show the same scale."""

from __future__ import annotations

import numpy as np
import trimesh

ERROR_CMAP = "viridis"  # perceptually uniform: dark = close to the ground truth, yellow = far
FIELD_CMAP = "RdBu_r"  # diverging around the level: blue inside, red outside


def vertex_errors(mesh: trimesh.Trimesh, gt: trimesh.Trimesh) -> np.ndarray:
    """Distance of every vertex of `mesh` to the triangles of `gt` (point-to-surface, as `eval` measures).

    Returns
    -------
    errors : (n_vertices,) float64, in the meshes' units
    """
    from levelrecon.recon.metrics import surface_distances

    ref = np.asarray(gt.vertices)
    lo, hi = ref.min(axis=0), ref.max(axis=0)
    centre, scale = (lo + hi) / 2, float(np.abs(hi - lo).max()) or 1.0
    return surface_distances(np.asarray(mesh.vertices, dtype=np.float64), gt, centre, scale)[0]


def error_range(errors: np.ndarray) -> float:
    """Top of the colour scale: the 99th percentile, so that a few stray vertices do not wash out the rest."""
    top = float(np.percentile(errors, 99)) if len(errors) else 0.0
    return top if top > 0 else float(errors.max(initial=0.0)) or 1.0


def colormap(values: np.ndarray, vmin: float, vmax: float, cmap: str = ERROR_CMAP) -> np.ndarray:
    """Map values to (n, 3) uint8 RGB through a matplotlib colour map, clipped to [vmin, vmax]."""
    from matplotlib import colormaps

    t = np.clip((np.asarray(values, dtype=np.float64) - vmin) / ((vmax - vmin) or 1.0), 0.0, 1.0)
    return (colormaps[cmap](t)[..., :3] * 255).round().astype(np.uint8)
