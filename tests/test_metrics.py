"""Point-to-surface vs sample-to-sample distances: zero floor, analytic sphere gaps, and the `eval` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from conftest import DATA, one_line_error, run

from levelrecon.recon.data.io import load_mesh, write_mesh, write_points
from levelrecon.recon.metrics import SurfaceSamples, compare


def _inradius(mesh: trimesh.Trimesh) -> float:
    """Radius of the largest centred ball inside a convex, origin-centred mesh (its closest face plane)."""
    return float(np.abs((mesh.face_normals * mesh.triangles[:, 0]).sum(axis=1)).min())


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_mesh_against_itself_is_zero_only_point_to_surface(offset):
    """Same mesh, two sample sets: 0 to float precision against the triangles (even far from the origin,
    float32 RaycastingScene), the sampling floor of ~0.003 × diagonal nearest-neighbour to nearest-neighbour."""
    mesh = load_mesh(DATA / "bunny_closed_3k.off")
    mesh = trimesh.Trimesh(mesh.vertices + offset, mesh.faces, process=False)
    a, b = SurfaceSamples.from_mesh(mesh, 30000, seed=0), SurfaceSamples.from_mesh(mesh, 30000, seed=1)
    p2s = compare(a, b)
    diag = float(np.linalg.norm(np.ptp(mesh.vertices, axis=0)))
    assert p2s["distance"] == "point-to-surface"
    assert p2s["diagonal"] == pytest.approx(diag, rel=1e-12)  # from the vertices, not the samples
    assert p2s["chamfer_l1"] < 1e-6 * diag and p2s["hausdorff"] < 1e-6 * diag
    assert p2s["fscore"] == 1.0 and p2s["normal_consistency"] == pytest.approx(1.0)
    s2s = compare(a, b, distance="sample-to-sample")
    assert s2s["distance"] == "sample-to-sample"
    assert 0.001 < s2s["chamfer_l1_rel"] < 0.005


def test_concentric_icospheres_give_the_analytic_gap():
    """Radii 1.0 and 1.2: every distance is 0.2 up to the tessellation, bracketed exactly per sample."""
    inner, outer = trimesh.creation.icosphere(5, 1.0), trimesh.creation.icosphere(5, 1.2)
    recon, ref = SurfaceSamples.from_mesh(inner, 30000, seed=0), SurfaceSamples.from_mesh(outer, 30000, seed=1)
    m = compare(recon, ref)
    assert m["distance"] == "point-to-surface"
    # convex shapes between a ball of their inradius and one of their circumradius (1.0, 1.2)
    r_in, r_out = np.linalg.norm(recon.points, axis=1), np.linalg.norm(ref.points, axis=1)
    lo = 0.5 * ((_inradius(outer) - r_in).mean() + (r_out - 1.0).mean())
    hi = 0.5 * ((1.2 - r_in).mean() + (r_out - _inradius(inner)).mean())
    assert lo - 1e-6 <= m["chamfer_l1"] <= hi + 1e-6
    assert m["chamfer_l1"] == pytest.approx(0.2, rel=0.01)
    assert m["chamfer_l2"] == pytest.approx(0.04, rel=0.02)
    assert m["hausdorff"] == pytest.approx(0.2, rel=0.01)
    assert m["normal_consistency"] == pytest.approx(1.0, abs=1e-3)
    assert compare(recon, ref, tau=0.1)["fscore"] == 0.0
    assert compare(recon, ref, tau=0.3)["fscore"] == 1.0


def test_point_to_surface_needs_two_meshes():
    mesh = trimesh.creation.icosphere(3)
    cloud = SurfaceSamples(np.asarray(mesh.vertices), None, "points")
    assert compare(SurfaceSamples.from_mesh(mesh, 1000), cloud)["distance"] == "sample-to-sample"
    with pytest.raises(ValueError, match="point-to-surface"):
        compare(SurfaceSamples.from_mesh(mesh, 1000), cloud, distance="point-to-surface")


def test_eval_cli_names_the_distance_convention(in_tmp):
    write_mesh(trimesh.creation.icosphere(5, 1.0), "inner.ply")
    write_mesh(trimesh.creation.icosphere(5, 1.2), "outer.off")
    write_points(np.asarray(trimesh.creation.icosphere(5, 1.2).vertices), "outer.xyz")

    r = run("eval", "inner.ply", "--gt", "outer.off", "--json", "-")
    assert r.exit_code == 0, r.output
    mesh_vs_mesh = json.loads(r.stdout)
    assert mesh_vs_mesh["distance"] == "point-to-surface"
    assert mesh_vs_mesh["chamfer_l1"] == pytest.approx(0.2, rel=0.01)
    cloud = json.loads(run("eval", "inner.ply", "--gt", "outer.xyz", "--json", "-").stdout)
    assert cloud["distance"] == "sample-to-sample" and cloud["ref_kind"] == "points"
    forced = json.loads(run("eval", "inner.ply", "--gt", "outer.off", "--distance", "sample-to-sample",
                            "--json", "-").stdout)
    assert forced["distance"] == "sample-to-sample"
    assert forced["chamfer_l1"] > mesh_vs_mesh["chamfer_l1"]  # nearest samples are never nearer than the surface

    r = run("eval", "inner.ply", "--gt", "outer.off", "--samples", "5000")
    assert r.exit_code == 0, r.output
    assert "point-to-surface" in r.stdout and "5,000" in r.stdout
    assert "sample-to-sample" in run("eval", "inner.ply", "--gt", "outer.xyz").stdout
    one_line_error(run("eval", "inner.ply", "--gt", "outer.xyz", "--distance", "point-to-surface"),
                   "point-to-surface", "reference is points")
    one_line_error(run("eval", "inner.ply", "--gt", "outer.off", "--distance", "exact"), "--distance")


def test_cli_choices_match_the_library():
    from levelrecon.cli.evaluate import DISTANCES as CLI_DISTANCES
    from levelrecon.recon.metrics import DISTANCES

    assert CLI_DISTANCES == DISTANCES
