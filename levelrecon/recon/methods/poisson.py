"""Screened Poisson reconstruction through Open3D: the classical baseline users would pick instead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import trimesh

from levelrecon.recon.data.normals import estimate_normals
from levelrecon.recon.methods.registry import Method, MethodConfig


@dataclass
class PoissonConfig(MethodConfig):
    poisson_depth: int = 8
    normal_k: int = 30
    orient_k: int = 15
    density_trim: float = 0.0  # drop vertices whose Poisson density is below this quantile

    presets: ClassVar[dict[str, dict[str, Any]]] = {"cpu": {}, "paper": {"poisson_depth": 9}}


class Poisson(Method):
    Config = PoissonConfig
    neural = False

    def reconstruct(self, points: np.ndarray, normals: np.ndarray | None) -> trimesh.Trimesh:
        """Mesh of the normalized cloud; normals are estimated (k-NN PCA) and oriented when absent."""
        import open3d as o3d  # heavy import, only when the baseline runs

        c = self.cfg
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, dtype=np.float64)))
        if normals is None:
            normals = estimate_normals(points, c.normal_k, c.orient_k)
        pcd.normals = o3d.utility.Vector3dVector(np.asarray(normals, dtype=np.float64))
        mesh, density = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(pcd, depth=c.poisson_depth)
        if c.density_trim > 0:
            density = np.asarray(density)
            mesh.remove_vertices_by_mask(density < np.quantile(density, c.density_trim))
        out = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.triangles), process=False)
        if out.is_watertight and out.volume < 0:  # orientation can come out globally flipped
            out.invert()
        return out
