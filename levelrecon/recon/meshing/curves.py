"""Space curves: test-curve generation, extraction of {F₁ = 0} ∩ {F₂ = 0}, and polyline sampling."""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.interpolate import CubicSpline
from scipy.spatial import cKDTree

from levelrecon.errors import InputError
from levelrecon.recon.meshing.marching import FieldFn, ProgressFn, evaluate_grid, extract_mesh


def random_spline(n_control: int = 6, seed: int = 0, dense: int = 20000) -> np.ndarray:
    """A cubic spline through `n_control` random points in [-1, 1]³, densely sampled (paper 1 §5)."""
    rng = np.random.default_rng(seed)
    ctrl = rng.uniform(-1, 1, size=(n_control, 3))
    t = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(ctrl, axis=0), axis=1))])
    return CubicSpline(t, ctrl, axis=0)(np.linspace(0, t[-1], dense))


def farthest_point_sampling(points: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n points spread evenly (greedy farthest-point order from a random start)."""
    n = min(n, len(points))
    chosen = np.empty(n, dtype=np.int64)
    chosen[0] = np.random.default_rng(seed).integers(len(points))
    dist = np.linalg.norm(points - points[chosen[0]], axis=1)
    for i in range(1, n):
        chosen[i] = int(np.argmax(dist))
        dist = np.minimum(dist, np.linalg.norm(points - points[chosen[i]], axis=1))
    return points[chosen]


def curve_cloud(n: int = 300, noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy FPS samples of a random spline, the dense spline itself)."""
    dense = random_spline(seed=seed)
    pts = farthest_point_sampling(dense, n, seed)
    if noise > 0:
        diag = float(np.linalg.norm(np.ptp(dense, axis=0)))
        pts = pts + np.random.default_rng(seed + 1).normal(0, noise * diag, size=pts.shape)
    return pts, dense


def extract_curve(field: FieldFn, resolution: int, bounds: tuple[float, float] = (-1.1, 1.1),
                  progress: ProgressFn | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The curve {F₁ = 0} ∩ {F₂ = 0} as polyline vertices (m, 3) and edges (k, 2).

    Marching cubes gives the surface F₁ = 0; on each of its triangles where F₂ changes sign, the segment
    between the two edge crossings is a piece of the curve. Crossings are keyed by mesh edge, so
    neighbouring triangles share vertices and the pieces join into polylines.
    `field` maps (n, 3) points to (n, 2) values.
    """
    vol = evaluate_grid(lambda x: field(x)[:, 0], resolution, bounds, progress=progress)
    surface = extract_mesh(vol, 0.0, bounds)
    surface.merge_vertices()
    f2 = field(np.asarray(surface.vertices))[:, 1]
    faces = np.asarray(surface.faces)
    corner = f2[faces] > 0
    crossing = corner.any(axis=1) & ~corner.all(axis=1)
    if not crossing.any():
        raise InputError("the two level sets do not intersect on the grid: no curve to extract")
    key_to_vertex: dict[tuple[int, int], int] = {}
    verts: list[np.ndarray] = []
    edges: list[tuple[int, int]] = []
    v = np.asarray(surface.vertices)
    for tri in faces[crossing]:
        ends = []
        for a, b in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0])):
            if (f2[a] > 0) != (f2[b] > 0):
                key = (min(a, b), max(a, b))
                if key not in key_to_vertex:
                    w = f2[a] / (f2[a] - f2[b])
                    key_to_vertex[key] = len(verts)
                    verts.append(v[a] + w * (v[b] - v[a]))
                ends.append(key_to_vertex[key])
        if len(ends) == 2:
            edges.append((ends[0], ends[1]))
    return np.asarray(verts), np.asarray(edges, dtype=np.int64)


def _far_from_data(vertices: np.ndarray, points: np.ndarray, factor: float) -> np.ndarray:
    """Which vertices lie farther than `factor` × the data's median nearest-neighbour spacing from every point."""
    tree = cKDTree(points)
    spacing = float(np.median(tree.query(points, k=2, workers=-1)[0][:, 1]))
    return tree.query(vertices, k=1, workers=-1)[0] > factor * spacing


def _drop_cells(vertices: np.ndarray, cells: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kept cells, reindexed onto their own vertices (unused vertices go)."""
    used = np.unique(cells[keep])
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return vertices[used], remap[cells[keep]]


def trim_to_data(vertices: np.ndarray, cells: np.ndarray, points: np.ndarray,
                 factor: float = 3.0) -> tuple[np.ndarray, np.ndarray, int]:
    """Drop polyline edges or mesh faces (`cells`, (n, 2) or (n, 3)) with a vertex farther than `factor` ×
    the data's median spacing from every point.

    {F₁ = 0} ∩ {F₂ = 0} of an open curve can close through empty space between its ends, and a surface
    field closes an open scan (a cut neck, a single range view) below or beyond the data; no data supports
    such pieces. Returns (vertices, cells, number of cells dropped); unused vertices go too.
    """
    keep = ~_far_from_data(vertices, points, factor)[cells].any(axis=1)
    if not keep.any():
        raise InputError(f"every piece of the reconstruction is farther than {factor:g} × the point spacing "
                         "from the data")
    vertices, cells = _drop_cells(vertices, cells, keep)
    return vertices, cells, int((~keep).sum())


AUTO_TRIM_FACTOR = 0.75
AUTO_TRIM_AREA = 0.01


def trim_open(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, factor: float = AUTO_TRIM_FACTOR,
              min_area: float = AUTO_TRIM_AREA) -> tuple[np.ndarray, np.ndarray, int]:
    """The automatic trim: drop the connected regions of unsupported faces (a vertex farther from the data
    than `factor` × the local spacing of its nearest point, i.e. its distance to its 6th neighbour) whose
    area is at least `min_area` of the mesh's.

    A field closes an open cloud with a cap the data never saw (the cut neck of a scanned head, the unseen
    side of a range view); that cap is one large connected region far from every point, and costs the
    surface its accuracy. A closed cloud leaves at most small scattered patches past the spacing (sparse
    spots, a noisy crease), which are kept so that the surface stays watertight. The spacing is local so
    that a sparsely sampled part of a closed surface is not mistaken for a gap.
    Returns (vertices, faces, number of faces dropped); unchanged when no region is large enough.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from levelrecon.recon.data.targets import local_spacing

    tree = cKDTree(points)
    dist, nearest = tree.query(vertices, k=1, workers=-1)
    far = (dist > factor * local_spacing(points, tree)[nearest])[faces].any(axis=1)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    area = mesh.area_faces
    if area[far].sum() < min_area * area.sum():  # no region can be large enough: skip the adjacency
        return vertices, faces, 0
    pairs = mesh.face_adjacency
    pairs = pairs[far[pairs].all(axis=1)]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(faces), len(faces)))
    _, label = connected_components(graph, directed=False)
    region_area = np.bincount(label[far], weights=area[far], minlength=label.max() + 1)
    drop = far & (region_area[label] >= min_area * area.sum())
    if not drop.any() or drop.all():
        return vertices, faces, 0
    vertices, faces = _drop_cells(vertices, faces, ~drop)
    return vertices, faces, int(drop.sum())


def sample_polyline(vertices: np.ndarray, edges: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n length-uniform samples on the segments of a polyline."""
    a, b = vertices[edges[:, 0]], vertices[edges[:, 1]]
    length = np.linalg.norm(b - a, axis=1)
    if length.sum() <= 0:
        raise InputError("polyline has zero length")
    rng = np.random.default_rng(seed)
    seg = rng.choice(len(edges), size=n, p=length / length.sum())
    t = rng.random(n)[:, None]
    return a[seg] + t * (b[seg] - a[seg])
