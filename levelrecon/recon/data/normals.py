"""Normals for unoriented clouds: k-NN PCA estimation and consistent orientation (Open3D)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.spatial import cKDTree


def estimate_normals(points: np.ndarray, k: int = 30, orient_k: int = 15) -> np.ndarray:
    """Unit normals (n, 3) estimated by PCA over k neighbours and oriented consistently.

    Open3D's consistent-tangent-plane orientation fixes the relative signs; the global sign is then
    chosen so that most normals point away from the centroid (outward for closed, star-like shapes),
    which is the convention of the SDF methods (F < 0 inside, ∇F outward).
    """
    import open3d as o3d  # heavy import, only when normals are needed

    points = np.asarray(points, dtype=np.float64)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(knn=k))
    try:
        with _c_stderr_captured():
            pcd.orient_normals_consistent_tangent_plane(orient_k)
    except RuntimeError:
        # Qhull's Delaunay step rejects degenerate input (e.g. exactly cospherical points): orient a copy
        # jittered by 1e-6 of the diagonal, as Qhull's own 'QJ' option would, and keep the original points.
        rng = np.random.default_rng(0)
        diag = float(np.linalg.norm(np.ptp(points, axis=0)))
        noise = rng.normal(0, 1e-6 * diag, points.shape)
        jittered = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points + noise))
        jittered.normals = pcd.normals
        try:
            with _c_stderr_captured():
                jittered.orient_normals_consistent_tangent_plane(orient_k)
        except RuntimeError as exc:
            raise RuntimeError(f"normal orientation failed ({str(exc).splitlines()[0][:100]})") from None
        pcd.normals = jittered.normals
    normals = np.asarray(pcd.normals)
    outward = ((points - points.mean(axis=0)) * normals).sum(axis=1)
    return -normals if (outward < 0).sum() > (outward > 0).sum() else normals


@contextlib.contextmanager
def _c_stderr_captured() -> Iterator[None]:
    """Send what C code writes to file descriptor 2 meanwhile to a discarded file: Qhull prints multi-line
    precision warnings there (bypassing Python and `-q`) for input that the retry above then handles."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def local_surface_variation(points: np.ndarray, k: int = 30, centres: np.ndarray | None = None,
                            tree: cKDTree | None = None) -> np.ndarray:
    """Surface variation λ₀ / (λ₀ + λ₁ + λ₂) of the k-neighbour covariance around each centre (default: every
    point): near 0 where the cloud is locally flat, large at creases, corners and where noise dominates.
    `tree`: a KD-tree of `points` the caller already has."""
    return local_plane_fit(points, k, centres, tree)[0]


def local_plane_fit(points: np.ndarray, k: int = 30, centres: np.ndarray | None = None,
                    tree: cKDTree | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`local_surface_variation` and the unoriented PCA normal (n, 3) of the same k-neighbour patches."""
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    k = min(k, len(points))
    tree = tree if tree is not None else cKDTree(points)
    _, idx = tree.query(points if centres is None else centres, k=k, workers=-1)
    nb = points[idx] - points[idx].mean(axis=1, keepdims=True)
    ev, vec = np.linalg.eigh(np.einsum("nki,nkj->nij", nb, nb))
    return ev[:, 0] / np.maximum(ev.sum(axis=1), 1e-30), vec[:, :, 0]


def surface_variation(points: np.ndarray, k: int = 30, sample: int = 20000, seed: int = 0) -> float:
    """Median `local_surface_variation`: how far the cloud is from locally flat, i.e. its noise relative to
    its sampling (0.02–0.05 on 20k-point clouds of the shared meshes with 0.25 % noise, 0.17 with 1 %).
    Taken over at most `sample` points."""
    points = np.asarray(points, dtype=np.float64)
    centres = points
    if len(points) > sample:
        centres = points[np.random.default_rng(seed).choice(len(points), sample, replace=False)]
    return float(np.median(local_surface_variation(points, k, centres)))
