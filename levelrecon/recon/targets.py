"""Signed-distance targets from oriented points, precomputed once per cloud.

For a query q near the cloud, the kernel-weighted signed distance to the tangent planes of its k nearest
input points, Σ wᵢ (q − xᵢ)·nᵢ / Σ wᵢ with wᵢ = exp(−‖q − xᵢ‖² / h²), averages the noise of several
points (a plain nearest-point distance would copy it); beyond a few kernel widths the target is the
distance to the nearest point, signed by its normal. A pool of such samples is drawn once, so a training
step costs the same whatever the size of the cloud and needs no KD-tree query.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def plane_distance_targets(queries: np.ndarray, points: np.ndarray, normals: np.ndarray, spacing: np.ndarray,
                           tree: cKDTree, k: int = 10, width: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Target distance (n,) of each query and whether it is signed (n,) bool; `spacing` is each point's
    local sample spacing and the kernel width at a query is `width` × the spacing of its nearest point."""
    k = min(k, len(points))
    dist, idx = tree.query(queries, k=k, workers=-1)
    if k == 1:
        dist, idx = dist[:, None], idx[:, None]
    h = width * spacing[idx[:, 0]][:, None]
    # Neighbours facing away from the nearest one lie on the other side of a thin part: averaging their
    # planes would cancel the distance and grow a blob between the two sides.
    same_side = (normals[idx] * normals[idx[:, :1]]).sum(axis=-1) > 0.5
    w = np.exp(-((dist / h) ** 2)) * same_side + 1e-12
    plane = ((queries[:, None, :] - points[idx]) * normals[idx]).sum(axis=-1)
    target = (w * plane).sum(axis=1) / w.sum(axis=1)
    lateral = np.sqrt(np.maximum(dist[:, 0] ** 2 - plane[:, 0] ** 2, 0.0))
    signed = (lateral < h[:, 0]) & (dist[:, 0] < 3.0 * h[:, 0])
    target[~signed] = dist[~signed, 0]
    return target, signed


def target_pool(points: np.ndarray, normals: np.ndarray, size: int, rng: np.random.Generator, box: float,
                sigma: float = 2.0, k: int = 10, width: float = 2.0, uniform_fraction: float = 0.125
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`size` queries — around the points (σ = `sigma` × local spacing) and uniform in [−box, box]³ —
    their targets and which targets are signed (see `plane_distance_targets`)."""
    tree = cKDTree(points)
    spacing = np.maximum(tree.query(points, k=min(7, len(points)), workers=-1)[0][:, -1], 1e-6)
    n_uniform = int(size * uniform_fraction)
    centre = rng.integers(0, len(points), size - n_uniform)
    near = points[centre] + rng.normal(size=(len(centre), 3)) * (sigma * spacing[centre])[:, None]
    queries = np.concatenate([near, rng.uniform(-box, box, size=(n_uniform, 3))])
    return (queries, *plane_distance_targets(queries, points, normals, spacing, tree, k, width))
