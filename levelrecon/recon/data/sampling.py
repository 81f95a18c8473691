"""Sample generation: per-point scales from the cloud, Gaussian perturbations, surface samples."""

from __future__ import annotations

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from levelrecon.errors import InputError
from levelrecon.recon.data.io import PointCloud


def knn_scale(points: np.ndarray, k: int = 50, tree: cKDTree | None = None) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour (SAL/IGR local sample scale), (n,)."""
    tree = tree if tree is not None else cKDTree(points)
    k = min(k, len(points) - 1)
    d, _ = tree.query(points, k=k + 1, workers=-1)
    return d[:, -1]


def gaussian_around(centers: torch.Tensor, sigma: torch.Tensor | float, generator: torch.Generator
                    ) -> torch.Tensor:
    """centers + N(0, σ²I), σ scalar or per centre (n,)."""
    sigma = torch.as_tensor(sigma, dtype=centers.dtype, device=centers.device)
    if sigma.dim() == 1:
        sigma = sigma[:, None]
    noise = torch.randn(centers.shape, generator=generator, device=generator.device, dtype=centers.dtype)
    return centers + noise.to(centers.device) * sigma


def uniform_box(n: int, lo: float, hi: float, generator: torch.Generator, device: torch.device
                ) -> torch.Tensor:
    u = torch.rand((n, 3), generator=generator, device=generator.device)
    return (lo + (hi - lo) * u).to(device)


def sample_surface(mesh: trimesh.Trimesh, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n area-uniform samples on a triangle mesh and the normals of their faces."""
    if len(mesh.faces) == 0 or mesh.area <= 0:
        raise ValueError("mesh has no area to sample")
    pts, face_idx = trimesh.sample.sample_surface(mesh, n, seed=seed)
    return np.asarray(pts, dtype=np.float64), np.asarray(mesh.face_normals[face_idx], dtype=np.float64)


def surface_cloud(cloud: PointCloud, n: int, seed: int = 0, source: str = "input") -> PointCloud:
    """n area-uniform samples of a mesh input, as a cloud (for `fit --surface-samples`)."""
    if not cloud.is_mesh:
        raise InputError(f"{source}: --surface-samples needs a mesh input, this file has no faces")
    pts, _ = sample_surface(cloud.as_mesh(), n, seed=seed)
    return PointCloud(pts, None)


def add_noise(points: np.ndarray, sigma_fraction: float, seed: int = 0) -> np.ndarray:
    """Gaussian noise with σ = sigma_fraction × bounding-box diagonal."""
    if sigma_fraction <= 0:
        return points
    diag = float(np.linalg.norm(np.ptp(points, axis=0)))
    rng = np.random.default_rng(seed)
    return points + rng.normal(0.0, sigma_fraction * diag, size=points.shape)


# ------------------------------------------------------------------ harder benchmark clouds (`sample` options)
OUTLIER_BOX_SCALE = 1.05  # outliers are uniform in the bounding box scaled by this about its centre


def replace_with_outliers(points: np.ndarray, fraction: float, bounds: np.ndarray, seed: int = 0,
                          normals: np.ndarray | None = None
                          ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Replace round(fraction × n) randomly chosen points by points uniform in `bounds` (2, 3) enlarged
    5 % (each side × OUTLIER_BOX_SCALE about the box centre); the count n stays the same.

    Returns the new points, the normals (random unit vectors at the outliers) and the sorted indices of
    the outliers.
    """
    if not 0 <= fraction <= 1:
        raise InputError(f"outlier fraction must be in [0, 1], got {fraction:g}")
    points = np.array(points, dtype=np.float64)
    n_out = int(round(fraction * len(points)))
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(points), size=n_out, replace=False))
    lo, hi = outlier_box(bounds)
    points[idx] = lo + (hi - lo) * rng.random((n_out, 3))
    if normals is not None:
        normals = np.array(normals, dtype=np.float64)
        v = rng.normal(size=(n_out, 3))
        normals[idx] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return points, normals, idx


def outlier_box(bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (lo, hi) corners of the bounding box `bounds` (2, 3) scaled by OUTLIER_BOX_SCALE about its centre."""
    bounds = np.asarray(bounds, dtype=np.float64)
    center, half = bounds.mean(axis=0), (bounds[1] - bounds[0]) / 2 * OUTLIER_BOX_SCALE
    return center - half, center + half


def split_plane(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """(origin, unit normal) of the plane through the bounding-box centre normal to the longest axis."""
    bounds = np.asarray(mesh.bounds, dtype=np.float64)
    return bounds.mean(axis=0), np.eye(3)[int(np.argmax(bounds[1] - bounds[0]))]


def positive_area(mesh: trimesh.Trimesh, origin: np.ndarray, normal: np.ndarray) -> float:
    """Exact area of the part of the surface on the positive side of a plane (triangles clipped)."""
    tri = np.asarray(mesh.triangles, dtype=np.float64)
    area = np.asarray(mesh.area_faces, dtype=np.float64)
    d = (tri - origin) @ normal  # (F, 3) signed distances of the corners
    pos = d > 0
    k = pos.sum(axis=1)
    out = np.where(k == 3, area, 0.0)
    mixed = (k == 1) | (k == 2)
    if mixed.any():
        dm, pm, am, km = d[mixed], pos[mixed], area[mixed], k[mixed]
        # the corner alone on its side: the positive one when k == 1, the non-positive one when k == 2
        lone = np.where(km == 1, np.argmax(pm, axis=1), np.argmin(pm, axis=1))
        rows = np.arange(len(dm))
        d0, d1, d2 = dm[rows, lone], dm[rows, (lone + 1) % 3], dm[rows, (lone + 2) % 3]
        corner = (d0 / (d0 - d1)) * (d0 / (d0 - d2))  # area share of the corner triangle cut off at `lone`
        out[mixed] = np.where(km == 1, am * corner, am * (1.0 - corner))
    return float(out.sum())


def sample_surface_nonuniform(mesh: trimesh.Trimesh, n: int, ratio: float, seed: int = 0
                              ) -> tuple[np.ndarray, np.ndarray]:
    """n samples whose density per unit area is `ratio` × lower on the positive side of split_plane(mesh)
    than on the other side (area-uniform within each half), and the normals of their faces.

    The count per half is fixed: n_pos = round(n × (A_pos / ratio) / (A_pos / ratio + A_neg)) from the exact
    half areas; ratio 1 is plain area-uniform sampling with these fixed counts.
    """
    if ratio < 1:
        raise InputError(f"non-uniform density ratio must be ≥ 1, got {ratio:g}")
    if len(mesh.faces) == 0 or mesh.area <= 0:
        raise ValueError("mesh has no area to sample")
    origin, normal = split_plane(mesh)
    a_pos = positive_area(mesh, origin, normal)
    a_neg = float(mesh.area) - a_pos
    if a_pos <= 0 or a_neg <= 0:
        raise InputError("the mesh has no surface on one side of its mid-plane: cannot sample it non-uniformly")
    n_pos = int(round(n * (a_pos / ratio) / (a_pos / ratio + a_neg)))
    need = {True: n_pos, False: n - n_pos}
    share = {True: a_pos / mesh.area, False: a_neg / mesh.area}
    got: dict[bool, list[tuple[np.ndarray, np.ndarray]]] = {True: [], False: []}
    rng = np.random.default_rng(seed)
    while any(need.values()):
        batch = int(min(1.2 * max(need[s] / share[s] for s in need if need[s]) + 64, 50 * n + 64))
        pts, nrm = sample_surface(mesh, batch, seed=int(rng.integers(2**31)))
        side = (pts - origin) @ normal > 0
        for s in (True, False):
            take = np.flatnonzero(side == s)[:need[s]]
            got[s].append((pts[take], nrm[take]))
            need[s] -= len(take)
    parts = got[False] + got[True]
    order = rng.permutation(n)  # the two halves interleaved, as with i.i.d. samples
    return np.concatenate([p for p, _ in parts])[order], np.concatenate([q for _, q in parts])[order]
