"""Signed-distance targets from oriented points, precomputed once per cloud.

For a query q near the cloud, the kernel-weighted signed distance to the tangent planes of its k nearest
input points, Σ wᵢ (q − xᵢ)·nᵢ / Σ wᵢ with wᵢ = exp(−‖q − xᵢ‖² / h²), averages the noise of several
points (a plain nearest-point distance would copy it). Where the query is not in front of its nearest
point — beyond a kernel width from it along the tangent plane (past a boundary or the tip of a thin
part), or farther than a few widths — the sign of a plane distance is a guess that would extend the
surface along its tangent plane; there the target is the unsigned distance to the nearest point, to be
matched by |F| (SAL's loss). A pool of such samples is drawn once, so a training step costs the same
whatever the size of the cloud and needs no KD-tree query; its queries and their neighbours stay fixed
when the normals change (re-orientation), so only the targets are recomputed.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from levelrecon.recon.data.sampling import knn_scale


class TargetPool:
    """Queries with their k nearest input points, found once; `targets(normals)` for any orientation.

    `spacing` is each point's local sample spacing (distance to its 6th neighbour when not given); the
    kernel width at a query is `width` × the spacing of its nearest point.
    """

    def __init__(self, points: np.ndarray, queries: np.ndarray, k: int = 10, spacing: np.ndarray | None = None,
                 tree: cKDTree | None = None) -> None:
        tree = tree if tree is not None else cKDTree(points)
        self.points, self.queries = points, queries
        self.spacing = spacing if spacing is not None else local_spacing(points, tree)
        k = min(k, len(points))
        dist, idx = tree.query(queries, k=k, workers=-1)
        self.dist, self.idx = (dist[:, None], idx[:, None]) if k == 1 else (dist, idx)

    @classmethod
    def around(cls, points: np.ndarray, size: int, rng: np.random.Generator, box: float, sigma: float = 2.0,
               k: int = 10, uniform_fraction: float = 0.125) -> TargetPool:
        """`size` queries: around the points (σ = `sigma` × local spacing) and uniform in [−box, box]³."""
        tree = cKDTree(points)
        spacing = local_spacing(points, tree)
        n_uniform = int(size * uniform_fraction)
        centre = rng.integers(0, len(points), size - n_uniform)
        near = points[centre] + rng.normal(size=(len(centre), 3)) * (sigma * spacing[centre])[:, None]
        queries = np.concatenate([near, rng.uniform(-box, box, size=(n_uniform, 3))])
        return cls(points, queries, k, spacing, tree)

    def targets(self, normals: np.ndarray, width: float = 2.0, fit: str = "plane", chunk: int = 131072
                ) -> tuple[np.ndarray, np.ndarray]:
        """Target distance (n,) of each query and whether it is signed (n,) bool.

        `fit`: "plane" averages the neighbours' tangent-plane distances; "sphere" fits an algebraic sphere
        to the neighbours' positions and normals (APSS) and measures the distance to it, which follows
        curved parts, so a wider kernel can average more noise without flattening them.
        """
        if fit not in ("plane", "sphere"):
            raise ValueError(f"unknown fit {fit!r}")
        parts = [self._targets(sl, normals, width, fit) for sl in
                 (slice(i, i + chunk) for i in range(0, len(self.queries), chunk))]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _targets(self, sl: slice, normals: np.ndarray, width: float, fit: str) -> tuple[np.ndarray, np.ndarray]:
        dist, idx, q = self.dist[sl], self.idx[sl], self.queries[sl]
        h = width * self.spacing[idx[:, 0]][:, None]
        # Neighbours facing away from the nearest one lie on the other side of a thin part: averaging their
        # planes would cancel the distance and grow a blob between the two sides.
        nb = normals[idx]
        same_side = (nb * nb[:, :1]).sum(axis=-1) > 0.5
        w = np.exp(-((dist / h) ** 2)) * same_side + 1e-12
        rel = self.points[idx] - q[:, None, :]
        plane = -(rel * nb).sum(axis=-1)
        target = sphere_distance(rel, nb, w) if fit == "sphere" else (w * plane).sum(axis=1) / w.sum(axis=1)
        lateral = np.sqrt(np.maximum(dist[:, 0] ** 2 - plane[:, 0] ** 2, 0.0))
        signed = (lateral < h[:, 0]) & (dist[:, 0] < 3.0 * h[:, 0])
        target[~signed] = dist[~signed, 0]
        return target, signed


def sphere_distance(rel: np.ndarray, normals: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Signed distance from the origin to the algebraic sphere u₀ + u·x + u₄‖x‖² fitted to points `rel`
    (n, k, 3, relative to each query) and their unit normals by weighted least squares (Guennebaud & Gross'
    APSS closed form); positive on the side the normals point to. A plane when the points are flat."""
    w = w / w.sum(axis=1, keepdims=True)
    mean_p = np.einsum("nk,nki->ni", w, rel)
    mean_n = np.einsum("nk,nki->ni", w, normals)
    mean_pn = np.einsum("nk,nk->n", w, (rel * normals).sum(axis=-1))
    mean_pp = np.einsum("nk,nk->n", w, (rel * rel).sum(axis=-1))
    spread = mean_pp - (mean_p * mean_p).sum(axis=1)
    u4 = 0.5 * (mean_pn - (mean_p * mean_n).sum(axis=1)) / np.maximum(spread, 1e-30)
    u = mean_n - 2.0 * u4[:, None] * mean_p
    u0 = -(u * mean_p).sum(axis=1) - u4 * mean_pp
    # The nearest root of u₄t² + ‖u‖t + u₀ along the gradient, in the form that stays exact as u₄ → 0.
    norm_u = np.maximum(np.linalg.norm(u, axis=1), 1e-30)
    disc = norm_u**2 - 4.0 * u0 * u4
    return np.where(disc > 0, 2.0 * u0 / (norm_u + np.sqrt(np.maximum(disc, 0.0))), u0 / norm_u)


def local_spacing(points: np.ndarray, tree: cKDTree) -> np.ndarray:
    """Distance from each point to its 6th neighbour (at least 1e-6)."""
    return np.maximum(knn_scale(points, 6, tree), 1e-6)
