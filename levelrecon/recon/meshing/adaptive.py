"""Adaptive (coarse-to-fine) marching cubes: the dense-grid mesh from evaluations near the level set only.

The fine grid is the dense path's (`meshing.evaluate_grid`): node i along an axis sits at
`np.linspace(lo, hi, resolution)[i]`, `ij` order, so the mesh can be the dense one exactly. Cells are tested
on nested grids, twice finer per level, from about `coarse` cells per axis; a cell is split only if it may
hold the level set (`may_contain_level`): its corners straddle the level, or a known corner value is within
a band of it. The band comes from a slope bound G on |F|: a point x of {F = level} forces
|F(c) − level| ≤ G·|x − c| at every corner c, so a cell all of whose points lie within `reach` of a known
corner with |F(c) − level| > G·reach holds no such point, and F − level keeps one sign on all of it. With
all 8 corners known the reach is half the cell diagonal; before a child's corners are evaluated, its two
corners already known (its parent's corner and the parent's centre, opposite each other) give √1.25 × its
side, and children cleared that way are never evaluated.

- Certified, for an L-Lipschitz field (G = L, the OCSDF networks): nothing the dense grid sees is missed.
- Heuristic, for SDF-like fields without a bound (|∇F| ≈ 1 near the surface: SAL, IGR, levelset): the band
  is `margin` × the cell diagonal on 8 corners (G = 2·margin). An exact SDF needs margin 0.5; the default
  1.5 tolerates |∇F| up to 3. A feature whose values stay outside the band at every corner tested (a thin
  part where the network is steeper than assumed) can be lost. The steepest edge slope met on the tested
  cells is measured (a lower bound on max |∇F|); when it exceeds G, the band is widened to 1.25 × that slope
  and the cells refined again, reusing every value already evaluated, with a warning only if the wider
  pass meets a steeper slope still.

Every node is evaluated at most once (values kept by integer node index), in chunks. Marching cubes runs on
blocks of `block`³ fine cells holding cells that may hold surface; grid points of a block never evaluated
take the value of the nearest evaluated one, which is on their side of the level. Vertices are computed in
integer node coordinates, so a vertex on a face shared by two blocks comes out bitwise the same from both and
the blocks join exactly.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import trimesh
from scipy import ndimage
from skimage.measure import marching_cubes

from levelrecon.errors import InputError, LevelreconWarning
from levelrecon.recon.meshing.marching import FieldFn, ProgressFn, grid_axis, no_crossing_error

ABS_TOL = 1e-5  # certified band slack for the float32 rounding of field values
DEFAULT_MARGIN = 1.5  # heuristic band, in cell diagonals: assumes |∇F| ≤ 3 (grid fields: up to 2.3 on the bunny)
WIDEN = 1.25  # a widened band assumes this × the steepest slope measured
DEFAULT_COARSE = 32  # about this many cells per axis at the coarsest level
DEFAULT_BLOCK = 16  # fine cells per axis of a marching-cubes block

# Offsets of a cell's 8 corners, and of its 8 children (child c shares the parent's corner c); the 3×3×3
# lattice of a split cell (in half steps) holds its children's corners: corner k of child c is entry
# _CHILD_CORNER[c, k], and _CHILD_LATTICE[c] marks the 8 entries of child c.
_CUBE = np.stack(np.meshgrid([0, 1], [0, 1], [0, 1], indexing="ij"), axis=-1).reshape(8, 3)
_LATTICE = np.stack(np.meshgrid([0, 1, 2], [0, 1, 2], [0, 1, 2], indexing="ij"), axis=-1).reshape(27, 3)
_CHILD_CORNER = ((_CUBE[:, None, :] + _CUBE[None, :, :]) @ np.array([9, 3, 1])).astype(np.int64)
_CHILD_LATTICE = np.zeros((8, 27), dtype=np.uint8)
_CHILD_LATTICE[np.arange(8)[:, None], _CHILD_CORNER] = 1


@dataclass
class AdaptiveStats:
    """What an adaptive extraction cost; `evaluations` against the dense path's resolution³."""

    resolution: int
    band: str  # "certified (L=…)" or "heuristic (margin …)"
    evaluations: int = 0
    blocks: int = 0  # marching-cubes blocks run
    steepest: float = 0.0  # largest |ΔF| / length seen on a tested cell's edge (a lower bound on max |∇F|)
    levels: list[dict[str, int]] = field(default_factory=list)  # per level: cell size, tested, split, kept

    @property
    def dense_evaluations(self) -> int:
        return self.resolution**3


def may_contain_level(corners: np.ndarray, level: float, reach: np.ndarray | float, slope: float) -> np.ndarray:
    """Which cells may hold points of {F = level}, from the values at some of their corners (rows).

    `reach`: how far a point of the cell can be from the nearest of those corners (half the diagonal for
    all 8 corners, √1.25 × the side of a cube for two opposite ones, the diagonal for one). `slope`: a bound
    on |∇F| — a Lipschitz constant makes the answer certified (False only for cells without such a point);
    otherwise it is an assumption.
    """
    nearest = np.abs(corners - np.float32(level)).min(axis=1)
    straddle = (corners.min(axis=1) <= level) & (corners.max(axis=1) >= level)
    return straddle | (nearest <= slope * np.asarray(reach) + ABS_TOL)


def _linear(ijk: np.ndarray, n: int) -> np.ndarray:
    """Linear index (i·n + j)·n + k of integer triples on an n³ grid."""
    return (ijk[..., 0] * n + ijk[..., 1]) * n + ijk[..., 2]


def _unique_inverse(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(a, return_inverse=True) by sorting: ~20× faster than numpy 2's hash-based unique here, and
    binary searches of sorted queries stay in cache."""
    order = np.argsort(a)
    ordered = a[order]
    first = np.empty(len(a), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    inverse = np.empty(len(a), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


class _NodeValues:
    """Field values keyed by linear node index; each node evaluated once, in chunks."""

    def __init__(self, fn: FieldFn, resolution: int, bounds: tuple[float, float], chunk: int,
                 progress: ProgressFn | None) -> None:
        self.fn, self.res, self.chunk, self.progress = fn, resolution, chunk, progress
        self.axis = grid_axis(resolution, bounds).astype(np.float32)  # the dense path's node positions
        self.keys = np.empty(0, dtype=np.int64)
        self.values = np.empty(0, dtype=np.float32)

    def find(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in the store, found mask) for an array of linear node indices."""
        pos = np.searchsorted(self.keys, nodes)
        pos_c = np.minimum(pos, max(len(self.keys) - 1, 0))
        found = (pos < len(self.keys)) & (self.keys[pos_c] == nodes) if len(self.keys) else np.zeros(nodes.shape, bool)
        return pos_c, found

    def get(self, nodes: np.ndarray) -> np.ndarray:
        """Values of linear node indices, evaluating those not seen yet."""
        uniq, inverse = _unique_inverse(nodes.reshape(-1))
        pos, found = self.find(uniq)
        values = np.empty(len(uniq), dtype=np.float32)
        values[found] = self.values[pos[found]]
        values[~found] = self._evaluate(uniq[~found])
        return values[inverse].reshape(nodes.shape)

    def _evaluate(self, new: np.ndarray) -> np.ndarray:
        """Evaluate sorted, not yet stored nodes in chunks and store them."""
        out = np.empty(len(new), dtype=np.float32)
        r2 = self.res * self.res
        done_before = len(self.keys)
        for start in range(0, len(new), self.chunk):
            n = new[start:start + self.chunk]
            pts = np.column_stack([self.axis[n // r2], self.axis[(n // self.res) % self.res], self.axis[n % self.res]])
            out[start:start + self.chunk] = self.fn(pts)
            if self.progress is not None:
                self.progress(done_before + start + len(n), done_before + len(new))
        at = np.searchsorted(self.keys, new)
        self.keys = np.insert(self.keys, at, new)
        self.values = np.insert(self.values, at, out)
        return out


def extract_adaptive(fn: FieldFn, resolution: int = 512, level: float = 0.0,
                     bounds: tuple[float, float] = (-1.1, 1.1), inside: str = "negative",
                     lipschitz: float | None = None, margin: float = DEFAULT_MARGIN, coarse: int = DEFAULT_COARSE,
                     block: int = DEFAULT_BLOCK, chunk: int = 65536,
                     progress: ProgressFn | None = None) -> tuple[trimesh.Trimesh, AdaptiveStats]:
    """Marching cubes at `level` on the resolution³ grid of `meshing.evaluate_grid`, evaluating the field
    only where the level set may pass (see the module notes); faces oriented as `meshing.extract_mesh`.

    Returns the mesh (vertices shared between blocks merged) and what it cost. progress gets
    (nodes evaluated, nodes known to be needed so far): the total grows as levels are refined.
    """
    if resolution < 2:
        raise InputError(f"resolution must be at least 2, got {resolution}")
    if lipschitz is not None and not (lipschitz > 0 and math.isfinite(lipschitz)):
        raise ValueError(f"lipschitz must be a positive number, got {lipschitz}")
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    if block < 1 or coarse < 1:
        raise ValueError(f"block and coarse must be at least 1, got {block}, {coarse}")
    cells = resolution - 1
    h = (bounds[1] - bounds[0]) / cells
    store = _NodeValues(fn, resolution, bounds, chunk, progress)
    band = f"certified (L={lipschitz:g})" if lipschitz is not None else f"heuristic (margin {margin:g})"
    stats = AdaptiveStats(resolution, band)

    # |∇F| bound behind the bands: certified with a Lipschitz constant; `margin` × diagonal on 8 corners else.
    slope = lipschitz if lipschitz is not None else 2.0 * margin
    tested = _refine(store, cells, h, level, slope, coarse, stats)
    if lipschitz is None and stats.steepest > slope:
        # The field is steeper near its level set than the band assumes (a real range scan: |∇F| up to ~6 on a
        # tenth of the surface cells): widen the band to cover what was measured and refine again. Every value
        # already evaluated is reused, so this costs only the nodes of the wider band.
        slope = WIDEN * stats.steepest
        stats.band = f"heuristic (margin {margin:g}, widened to {slope / 2:.3g})"
        tested = _refine(store, cells, h, level, slope, coarse, stats)
        if stats.steepest > slope:
            warnings.warn(f"the field changes by up to {stats.steepest:.3g} per unit along grid edges, more than "
                          f"the {slope:.3g} the widened heuristic band assumes: parts thinner than a grid cell may "
                          f"be missing (raise --margin to {stats.steepest / 2:.2g} or more, or mesh densely)",
                          LevelreconWarning, stacklevel=2)
    stats.evaluations = len(store.keys)
    nb = math.ceil(cells / block)
    blocks = _unique_inverse(_linear(tested // block, nb))[0]
    blocks = np.column_stack([blocks // (nb * nb), (blocks // nb) % nb, blocks % nb])
    mesh = _blocks_marching_cubes(store, blocks, block, cells, level, "descent" if inside == "negative" else "ascent",
                                  stats)
    if mesh is None:
        raise no_crossing_error(level, float(store.values.min()), float(store.values.max()))
    mesh.vertices = mesh.vertices * h + bounds[0]
    return mesh, stats


def _refine(store: _NodeValues, cells: int, h: float, level: float, slope: float, coarse: int,
            stats: AdaptiveStats) -> np.ndarray:
    """The fine cells (m, 3) that may hold the level set under the slope bound `slope`, every corner evaluated;
    records the levels and the steepest edge slope met in `stats`."""
    resolution = store.res
    stats.levels.clear()
    # Coarsest level: every cell, corners on a grid of step `size` fine cells (the last one cut at the border).
    size = 1 << max(0, math.ceil(math.log2(cells / coarse)))
    n = math.ceil(cells / size)
    ticks = np.minimum(np.arange(n + 1) * size, cells)
    grid = store.get(_linear(np.stack(np.meshgrid(ticks, ticks, ticks, indexing="ij"), axis=-1), resolution))
    tested = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    corner_values = grid[tuple((tested[:, None, :] + _CUBE[None]).transpose(2, 0, 1))]
    while size > 1:
        extent = np.minimum((tested + 1) * size, cells) - tested * size
        stats.steepest = max(stats.steepest, _steepest(corner_values, extent * h))
        split = may_contain_level(corner_values, level, 0.5 * h * np.linalg.norm(extent, axis=1), slope)
        parents, parent_values = tested[split], corner_values[split]
        size //= 2
        # Child c of a split cell has two corners known once the parent's centre is evaluated: the parent's
        # corner c and the centre, opposite. Every point of a cube of side a is within a·√1.25 of one of two
        # opposite corners (a non-cubic child at the border: within its diagonal of either), so children those
        # two values clear are empty and their other corners are never evaluated.
        i, j, k = (np.minimum(parents[:, a] * 2 * size + size, cells) for a in range(3))
        centre = store.get((i * resolution + j) * resolution + k)
        children = parents[:, None, :] * 2 + _CUBE[None]
        extent = (np.minimum((children + 1) * size, cells) - children * size).reshape(-1, 3)
        exists = (extent > 0).all(axis=1)  # children past the far border are empty
        cubic = (extent == size).all(axis=1)
        reach = h * np.where(cubic, size * math.sqrt(1.25), np.linalg.norm(extent, axis=1))
        known = np.stack([parent_values, np.repeat(centre[:, None], 8, axis=1)], axis=-1).reshape(-1, 2)
        near = may_contain_level(known, level, reach, slope)
        stats.levels.append({"cell_size": 2 * size, "tested": len(tested), "split": len(parents),
                             "children_kept": int((exists & near).sum())})
        kept = (exists & near).reshape(-1, 8)
        tested = children[kept]
        # The kept children's corners, as entries of their parent's 3×3×3 lattice: each needed node once per
        # parent (most of the duplicates between siblings gone before the sort that finds the rest).
        parent_id, entry = np.nonzero((kept.astype(np.uint8) @ _CHILD_LATTICE) > 0)
        i, j, k = (np.minimum(parents[parent_id, a] * 2 * size + _LATTICE[entry, a] * size, cells) for a in range(3))
        lattice = np.empty((len(parents), 27), dtype=np.float32)
        lattice[parent_id, entry] = store.get((i * resolution + j) * resolution + k)
        corner_values = lattice[:, _CHILD_CORNER][kept]
    stats.steepest = max(stats.steepest, _steepest(corner_values, np.full(tested.shape, h)))
    return tested


def _steepest(corner_values: np.ndarray, edge: np.ndarray) -> float:
    """Largest |ΔF| / length over the axis-aligned edges of cells (corner values (m, 8), edge lengths (m, 3)):
    a lower bound on max |∇F|, to check the heuristic band's assumption against."""
    out = 0.0
    for axis, bit in enumerate((4, 2, 1)):  # corner index = 4·di + 2·dj + dk
        lo = [c for c in range(8) if not c & bit]
        diff = np.abs(corner_values[:, [c | bit for c in lo]] - corner_values[:, lo]).max(axis=1, initial=0.0)
        out = max(out, float((diff / edge[:, axis]).max(initial=0.0)))
    return out


def _blocks_marching_cubes(store: _NodeValues, blocks: np.ndarray, block: int, cells: int, level: float,
                           direction: str, stats: AdaptiveStats) -> trimesh.Trimesh | None:
    """skimage marching cubes on each block volume; vertices in node units, merged exactly across blocks.

    A node never evaluated lies only in cells found empty, each of one sign: the nodes on the way to its
    nearest evaluated node are never-evaluated ones too, each sharing such a cell with the next, so that
    node's value is on the correct side and stands in for it (no triangle appears in an empty cell).
    """
    verts: list[np.ndarray] = []
    faces: list[np.ndarray] = []
    n_verts = 0
    per_batch = max(1, 2_000_000 // (block + 1) ** 3)  # bounds the memory of one batch of block volumes
    res, span = store.res, np.arange(block + 1)
    for start in range(0, len(blocks), per_batch):
        batch = blocks[start:start + per_batch]
        i, j, k = (np.minimum(batch[:, a, None] * block + span, cells) for a in range(3))
        lin = ((i[:, :, None, None] * res + j[:, None, :, None]) * res + k[:, None, None, :]).reshape(-1)
        pos, found = store.find(lin)
        values = store.values[pos].reshape(len(batch), block + 1, block + 1, block + 1)
        found = found.reshape(values.shape)
        for b, origin in enumerate(batch * block):
            shape = np.minimum(origin + block, cells) - origin + 1
            vol, known = values[b, :shape[0], :shape[1], :shape[2]], found[b, :shape[0], :shape[1], :shape[2]]
            if not vol[known].min() <= level <= vol[known].max():
                continue
            if not known.all():
                vol = vol[tuple(ndimage.distance_transform_edt(~known, return_distances=False, return_indices=True))]
            try:
                v, f, _, _ = marching_cubes(vol, level=level, gradient_direction=direction)
            except RuntimeError:  # skimage: "No surface found" (values touch the level without crossing)
                continue
            stats.blocks += 1
            verts.append(v.astype(np.float64) + origin)
            faces.append(f + n_verts)
            n_verts += len(v)
    if not faces:
        return None
    unique, inverse = np.unique(np.concatenate(verts), axis=0, return_inverse=True)
    return trimesh.Trimesh(unique, inverse.reshape(-1)[np.concatenate(faces)], process=False)
