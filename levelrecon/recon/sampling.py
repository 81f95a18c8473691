"""Sample generation: per-point scales from the cloud, Gaussian perturbations, surface samples."""

from __future__ import annotations

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from levelrecon.errors import InputError
from levelrecon.recon.io import PointCloud


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
