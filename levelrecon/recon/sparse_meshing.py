"""Certified sparse grid evaluation for Lipschitz fields: the dense marching-cubes mesh at a fraction of the cost.

If F is L-Lipschitz, a box with centre c and half-diagonal r where |F(c) − level| > L·r holds no point of
the level set, so F − level has one sign on the whole box. Blocks of cells are tested coarse to fine;
only blocks that may hold surface are split, down to blocks of 2³ cells, whose 27 grid points are
evaluated exactly (cheaper than testing the 8 cell centres first: most of those cells hold surface).
Every other grid point gets the value at the centre of the certified block it lies in: a stand-in with
the correct side of the level. Marching cubes emits triangles only in cells whose corners straddle the
level, and every such cell is evaluated exactly, so the mesh equals the dense one.
"""

from __future__ import annotations

import math

import numpy as np

from levelrecon.errors import InputError
from levelrecon.recon.meshing import FieldFn, ProgressFn, grid_axis

TOP_BLOCKS = 8  # about this many blocks per axis at the coarsest level
LEAF = 2  # cells per axis of the blocks evaluated exactly
ABS_TOL = 1e-5  # slack for float32 rounding of F at block centres


def evaluate_grid_sparse(field: FieldFn, resolution: int, level: float, lipschitz: float,
                         bounds: tuple[float, float] = (-1.1, 1.1), chunk: int = 65536,
                         progress: ProgressFn | None = None) -> tuple[np.ndarray, int]:
    """A resolution³ volume (`indexing='ij'`, as `meshing.evaluate_grid`) whose marching cubes at `level`
    equals the dense one, for a `lipschitz`-Lipschitz field.

    Returns the volume and the number of field evaluations it took (dense: resolution³).
    progress is called with (levels done, levels total).
    """
    if resolution < 2:
        raise InputError(f"resolution must be at least 2, got {resolution}")
    if not lipschitz > 0 or not math.isfinite(lipschitz):
        raise ValueError(f"lipschitz must be a positive number, got {lipschitz}")
    cells = resolution - 1
    h = (bounds[1] - bounds[0]) / cells
    size = 1 << max(0, math.ceil(math.log2(cells / TOP_BLOCKS)))
    n_levels = int(math.log2(size)) - int(math.log2(min(size, LEAF))) + 1
    vol = np.full((resolution,) * 3, np.nan, dtype=np.float32)
    # Blocks are tested on a regular grid per level; `active` marks those whose parent was not certified.
    active = np.ones((math.ceil(cells / size),) * 3, dtype=bool)
    evaluations = 0
    for done in range(n_levels):
        nb = active.shape[0]
        origin = np.arange(nb) * size  # first cell of each block along an axis
        extent = np.minimum(origin + size, cells) - origin  # blocks at the far border may be cut
        idx = np.nonzero(active)
        centre = np.stack([bounds[0] + (origin[i] + extent[i] / 2) * h for i in idx], axis=1)
        radius = 0.5 * h * np.sqrt(sum(extent[i].astype(np.float64) ** 2 for i in idx))
        values = _evaluate(field, centre, chunk)
        evaluations += len(values)
        certified = np.abs(values - level) > lipschitz * radius + ABS_TOL
        # Fill the points of newly certified blocks; a point belongs to the block holding cell min(i, cells-1).
        block_value = np.full(active.shape, np.nan, dtype=np.float32)
        block_value[tuple(i[certified] for i in idx)] = values[certified]
        owner = np.minimum(np.arange(resolution), cells - 1) // size
        fill = block_value[np.ix_(owner, owner, owner)]
        np.copyto(vol, fill, where=np.isnan(vol) & ~np.isnan(fill))
        refine = np.zeros_like(active)
        refine[tuple(i[~certified] for i in idx)] = True
        if progress is not None:
            progress(done + 1, n_levels)
        if size <= LEAF:
            break
        size //= 2
        n_child = math.ceil(cells / size)
        active = refine.repeat(2, 0).repeat(2, 1).repeat(2, 2)[:n_child, :n_child, :n_child]
    # `refine` now marks the leaf blocks that may hold surface: evaluate every corner of their cells exactly.
    refine = refine.repeat(size, 0).repeat(size, 1).repeat(size, 2)[:cells, :cells, :cells]
    corners = np.zeros((resolution,) * 3, dtype=bool)
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                corners[di:di + cells, dj:dj + cells, dk:dk + cells] |= refine
    exact = np.nonzero(corners)
    ax = grid_axis(resolution, bounds).astype(np.float32)
    vol[exact] = _evaluate(field, np.stack([ax[i] for i in exact], axis=1), chunk)
    evaluations += len(exact[0])
    return vol, evaluations


def _evaluate(field: FieldFn, points: np.ndarray, chunk: int) -> np.ndarray:
    points = points.astype(np.float32)
    out = np.empty(len(points), dtype=np.float32)
    for start in range(0, len(points), chunk):
        out[start:start + chunk] = field(points[start:start + chunk])
    return out
