"""Surface comparison metrics on point samples (conventions stated in every result).

Chamfer-L1 = ½(mean_a min_b ‖a−b‖ + mean_b min_a ‖a−b‖)   (ONet / ConvONet / IGR "dC" convention)
Chamfer-L2 = ½(mean_a min_b ‖a−b‖² + mean_b min_a ‖a−b‖²)
Chamfer-L2-sum = mean_a min_b ‖a−b‖² + mean_b min_a ‖a−b‖²   (SAL / DeepSDF variant)
Hausdorff = max of the two directed maxima.  F-score@τ = 2PR/(P+R), P = share of reconstruction samples
within τ of the reference, R = share of reference samples within τ of the reconstruction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from levelrecon.recon.sampling import sample_surface


def directed_distances(a: np.ndarray, b: np.ndarray, tree_b: cKDTree | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """For every point of a, distance to its nearest point of b and that point's index."""
    tree_b = tree_b if tree_b is not None else cKDTree(b)
    d, idx = tree_b.query(a, k=1, workers=-1)
    return d, idx


@dataclass
class SurfaceSamples:
    """Points standing for a surface: area-uniform samples of a mesh, or a cloud as given."""

    points: np.ndarray
    normals: np.ndarray | None
    kind: str  # "mesh samples" | "points"

    @classmethod
    def from_mesh(cls, mesh: trimesh.Trimesh, n: int, seed: int = 0) -> SurfaceSamples:
        pts, nrm = sample_surface(mesh, n, seed=seed)
        return cls(pts, nrm, "mesh samples")


def compare(recon: SurfaceSamples, ref: SurfaceSamples, tau: float | None = None,
            tau_fraction: float = 0.01) -> dict[str, float | int | str]:
    """All metrics between a reconstruction and a reference, in the reference's units.

    τ for the F-score defaults to `tau_fraction` × the reference's bounding-box diagonal. Values divided
    by that diagonal are included with a `_rel` suffix.
    """
    d_rg, i_rg = directed_distances(recon.points, ref.points)
    d_gr, i_gr = directed_distances(ref.points, recon.points)
    diag = float(np.linalg.norm(np.ptp(ref.points, axis=0)))
    tau_abs = float(tau) if tau is not None else tau_fraction * diag
    precision = float((d_rg < tau_abs).mean())
    recall = float((d_gr < tau_abs).mean())
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
        "n_recon": int(len(recon.points)),
        "n_ref": int(len(ref.points)),
        "recon_kind": recon.kind,
        "ref_kind": ref.kind,
    }
    if recon.normals is not None and ref.normals is not None:
        c1 = np.abs((recon.normals * ref.normals[i_rg]).sum(axis=1)).mean()
        c2 = np.abs((ref.normals * recon.normals[i_gr]).sum(axis=1)).mean()
        out["normal_consistency"] = 0.5 * float(c1 + c2)
    for key in ("chamfer_l1", "hausdorff", "recon_to_ref_mean", "ref_to_recon_mean", "ref_to_recon_max",
                "tau"):
        out[f"{key}_rel"] = float(out[key]) / diag if diag > 0 else float("nan")
    return out
