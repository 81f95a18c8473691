"""Surface comparison metrics (the distance convention and the sample counts are stated in every result).

d(a, B) = distance from a point a to the surface B, in one of two forms (DESIGN §3):
  point-to-surface   B is a triangle mesh: exact distance to its triangles (Open3D RaycastingScene).
                     Used when both sides are meshes: a mesh against itself gives 0.
  sample-to-sample   B is a point set (a cloud, or area-uniform samples of a mesh or curve): nearest
                     neighbour. Samples miss the surface between them, so the same mesh sampled twice is
                     ~0.003 × diagonal away from itself at 30k samples (a floor under every value).
With A the reconstruction's samples and B the reference's (each side sampled n times, or a cloud as is):
Chamfer-L1 = ½(mean_a d(a, B) + mean_b d(b, A))   (ONet / ConvONet / IGR "dC" convention)
Chamfer-L2 = ½(mean_a d(a, B)² + mean_b d(b, A)²)
Chamfer-L2-sum = mean_a d(a, B)² + mean_b d(b, A)²   (SAL / DeepSDF variant)
Hausdorff = max of the two directed maxima.  F-score@τ = 2PR/(P+R), P = share of reconstruction samples
within τ of the reference, R = share of reference samples within τ of the reconstruction.

Data fidelity (`fidelity`), for scans that have no true surface: scan → surface is the exact distance of
every scan point to the reconstruction's triangles (point-to-surface, no sampling floor), surface → scan
the distance of the reconstruction's samples to their nearest scan point (floored by the scan's spacing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from levelrecon.errors import InputError
from levelrecon.recon.data.sampling import sample_surface

Distance = Literal["auto", "point-to-surface", "sample-to-sample"]
DISTANCES: tuple[str, ...] = ("auto", "point-to-surface", "sample-to-sample")


def directed_distances(a: np.ndarray, b: np.ndarray, tree_b: cKDTree | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """For every point of a, distance to its nearest point of b and that point's index."""
    tree_b = tree_b if tree_b is not None else cKDTree(b)
    d, idx = tree_b.query(a, k=1, workers=-1)
    return d, idx


def _scene(mesh: trimesh.Trimesh, centre: np.ndarray, scale: float):  # noqa: ANN202 (open3d type)
    """An Open3D ray-casting scene of `mesh` moved by `centre` and divided by `scale`: it computes in
    float32, so the rounding is then relative to the shape's size, not to its offset from the origin."""
    import open3d as o3d  # heavy import, only for mesh distances

    scene = o3d.t.geometry.RaycastingScene()
    verts = ((np.asarray(mesh.vertices) - centre) / scale).astype(np.float32)
    scene.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(np.asarray(mesh.faces, dtype=np.uint32)))
    return scene


def surface_distances(points: np.ndarray, mesh: trimesh.Trimesh, centre: np.ndarray, scale: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """For every point, distance to the triangles of `mesh` and the index of the closest triangle
    (`centre`, `scale`: the reference's bounding box, see `_scene`)."""
    import open3d as o3d

    query = ((points - centre) / scale).astype(np.float32)
    hit = _scene(mesh, centre, scale).compute_closest_points(o3d.core.Tensor(query))
    gap = query.astype(np.float64) - hit["points"].numpy().astype(np.float64)
    return np.linalg.norm(gap, axis=1) * scale, hit["primitive_ids"].numpy().astype(np.int64)


def signed_surface_distances(points: np.ndarray, mesh: trimesh.Trimesh) -> np.ndarray:
    """Distance of every point to a closed mesh, negative inside (Open3D's ray-parity inside test)."""
    import open3d as o3d

    lo, hi = mesh.bounds
    centre, scale = 0.5 * (lo + hi), float(np.linalg.norm(hi - lo)) or 1.0
    query = ((np.asarray(points, dtype=np.float64) - centre) / scale).astype(np.float32)
    return _scene(mesh, centre, scale).compute_signed_distance(o3d.core.Tensor(query)).numpy() * scale


@dataclass
class SurfaceSamples:
    """Points standing for a surface: area-uniform samples of a mesh (kept for point-to-surface
    distances), samples of a curve, or a cloud as given."""

    points: np.ndarray
    normals: np.ndarray | None
    kind: str  # "mesh samples" | "curve samples" | "points" | "input points"
    mesh: trimesh.Trimesh | None = None

    @classmethod
    def from_mesh(cls, mesh: trimesh.Trimesh, n: int, seed: int = 0) -> SurfaceSamples:
        pts, nrm = sample_surface(mesh, n, seed=seed)
        return cls(pts, nrm, "mesh samples", mesh)

    def diagonal(self) -> float:
        """Bounding-box diagonal, of the mesh's vertices when there is a mesh (samples fall short of corners)."""
        pts = np.asarray(self.mesh.vertices) if self.mesh is not None else self.points
        return float(np.linalg.norm(np.ptp(pts, axis=0)))


def distance_form(recon: SurfaceSamples, ref: SurfaceSamples, distance: Distance = "auto") -> str:
    """The convention to use: point-to-surface needs a triangle mesh on both sides."""
    if distance not in DISTANCES:
        raise InputError(f"distance must be one of {', '.join(DISTANCES)}, got {distance!r}")
    both_meshes = recon.mesh is not None and ref.mesh is not None
    if distance == "point-to-surface" and not both_meshes:
        side, kind = ("reconstruction", recon.kind) if recon.mesh is None else ("reference", ref.kind)
        raise InputError(f"point-to-surface distances need triangle meshes on both sides; the {side} is "
                         f"{kind} (use --distance sample-to-sample or auto)")
    if distance == "auto":
        return "point-to-surface" if both_meshes else "sample-to-sample"
    return distance


def compare(recon: SurfaceSamples, ref: SurfaceSamples, tau: float | None = None,
            tau_fraction: float = 0.01, distance: Distance = "auto") -> dict[str, float | int | str]:
    """All metrics between a reconstruction and a reference, in the reference's units.

    `distance` picks the convention (auto: point-to-surface when both sides are meshes). τ for the F-score
    defaults to `tau_fraction` × the reference's bounding-box diagonal. Values divided by that diagonal are
    included with a `_rel` suffix.
    """
    form = distance_form(recon, ref, distance)
    diag = ref.diagonal()
    if form == "point-to-surface":
        assert recon.mesh is not None and ref.mesh is not None
        centre, scale = np.asarray(ref.mesh.bounds).mean(axis=0), diag if diag > 0 else 1.0
        d_rg, f_rg = surface_distances(recon.points, ref.mesh, centre, scale)
        d_gr, f_gr = surface_distances(ref.points, recon.mesh, centre, scale)
        ref_n, recon_n = ref.mesh.face_normals[f_rg], recon.mesh.face_normals[f_gr]
    else:
        d_rg, i_rg = directed_distances(recon.points, ref.points)
        d_gr, i_gr = directed_distances(ref.points, recon.points)
        ref_n = ref.normals[i_rg] if ref.normals is not None else None
        recon_n = recon.normals[i_gr] if recon.normals is not None else None
    out = _summary(d_rg, d_gr, diag, float(tau) if tau is not None else tau_fraction * diag)
    out.update({"distance": form, "n_recon": int(len(recon.points)), "n_ref": int(len(ref.points)),
                "recon_kind": recon.kind, "ref_kind": ref.kind})
    if recon.normals is not None and ref.normals is not None and ref_n is not None and recon_n is not None:
        c1 = np.abs((recon.normals * ref_n).sum(axis=1)).mean()
        c2 = np.abs((ref.normals * recon_n).sum(axis=1)).mean()
        out["normal_consistency"] = 0.5 * float(c1 + c2)  # unsigned: orientation is not compared
    return out


FIDELITY_DISTANCES: tuple[str, ...] = ("scan_to_surface_mean", "scan_to_surface_median", "scan_to_surface_max",
                                       "surface_to_scan_mean", "surface_to_scan_median", "surface_to_scan_max",
                                       "tolerance")


def fidelity(recon: SurfaceSamples, scan: np.ndarray, tolerance: float | None = None,
             tolerance_fraction: float = 0.01, diagonal: float | None = None) -> dict[str, float | int]:
    """How closely a reconstruction follows a scan, for real scans that have no true surface.

    scan → surface: every scan point against the reconstruction's triangles, exactly (a scan lying on the
    surface gives 0, whatever its density), so it says how much measured detail the surface explains.
    surface → scan: the reconstruction's samples to their nearest scan point; it flags surface the scan
    does not support (a cap over a hole, a blob), with a floor of the scan's own spacing.
    `diagonal` (default: the scan's bounding-box diagonal) divides the `_rel` values and scales the
    default tolerance (`tolerance_fraction` × diagonal); `*_within` is the share of points closer than it.
    """
    if recon.mesh is None:
        raise InputError(f"scan fidelity needs a reconstruction with triangles, not {recon.kind}")
    scan = np.asarray(scan, dtype=np.float64)
    if scan.ndim != 2 or scan.shape[1] != 3 or len(scan) == 0:
        raise InputError(f"scan fidelity needs an (n, 3) array of scan points, got shape {scan.shape}")
    lo, hi = scan.min(axis=0), scan.max(axis=0)
    diag = float(np.linalg.norm(hi - lo)) if diagonal is None else float(diagonal)
    tol = float(tolerance) if tolerance is not None else tolerance_fraction * diag
    d_scan, _ = surface_distances(scan, recon.mesh, 0.5 * (lo + hi), diag if diag > 0 else 1.0)
    d_surf, _ = directed_distances(recon.points, scan)
    out: dict[str, float | int] = {"n_scan": int(len(scan)), "tolerance": tol}
    for name, d in (("scan_to_surface", d_scan), ("surface_to_scan", d_surf)):
        out.update({f"{name}_mean": float(d.mean()), f"{name}_median": float(np.median(d)),
                    f"{name}_max": float(d.max()), f"{name}_within": float((d < tol).mean())})
    for key in FIDELITY_DISTANCES:
        out[f"{key}_rel"] = float(out[key]) / diag if diag > 0 else float("nan")
    return out


def _summary(d_rg: np.ndarray, d_gr: np.ndarray, diag: float, tau_abs: float) -> dict[str, float | int | str]:
    """Chamfer, Hausdorff and F-score from the two directed distance arrays, whichever form made them."""
    precision, recall = float((d_rg < tau_abs).mean()), float((d_gr < tau_abs).mean())
    out: dict[str, float | int | str] = {
        "chamfer_l1": 0.5 * float(d_rg.mean() + d_gr.mean()),
        "chamfer_l2": 0.5 * float((d_rg**2).mean() + (d_gr**2).mean()),
        "chamfer_l2_sum": float((d_rg**2).mean() + (d_gr**2).mean()),
        "hausdorff": float(max(d_rg.max(), d_gr.max())),
        "recon_to_ref_mean": float(d_rg.mean()),
        "recon_to_ref_max": float(d_rg.max()),
        "ref_to_recon_mean": float(d_gr.mean()),
        "ref_to_recon_max": float(d_gr.max()),
        "precision": precision,
        "recall": recall,
        "fscore": 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall),
        "tau": tau_abs,
        "diagonal": diag,
    }
    for key in ("chamfer_l1", "hausdorff", "recon_to_ref_mean", "ref_to_recon_mean", "ref_to_recon_max",
                "tau"):
        out[f"{key}_rel"] = float(out[key]) / diag if diag > 0 else float("nan")
    return out
