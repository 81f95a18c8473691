"""Point-to-surface vs sample-to-sample distances: zero floor, analytic sphere gaps, and the `eval` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from conftest import DATA, one_line_error, run

from levelrecon.recon.data.io import load_mesh, write_mesh, write_points
from levelrecon.recon.metrics import SurfaceSamples, compare, fidelity


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


# --- data fidelity: scan → surface (exact, to the triangles) and surface → scan ---------------------------

def _plane(n: int = 11, half: float = 1.0) -> trimesh.Trimesh:
    """The square [-half, half]² at z = 0 as an n × n grid of vertices (2 triangles per cell)."""
    u = np.linspace(-half, half, n)
    x, y = np.meshgrid(u, u, indexing="ij")
    verts = np.column_stack([x.ravel(), y.ravel(), np.zeros(n * n)])
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    a = (i * n + j).ravel()
    faces = np.concatenate([np.column_stack([a, a + n, a + 1]), np.column_stack([a + 1, a + n, a + n + 1])])
    return trimesh.Trimesh(verts, faces, process=False)


def _scan_at(heights: np.ndarray, seed: int = 0) -> np.ndarray:
    """Scan points above and below the plane's interior at the given |z| (their distance to the plane)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-0.8, 0.8, size=(len(heights), 2))
    return np.column_stack([xy, heights * rng.choice([-1.0, 1.0], size=len(heights))])


def test_scan_to_surface_is_the_exact_offset_and_within_counts_the_tolerance():
    """Points 0.01, 0.03 and 0.05 from a plane (50 / 30 / 20 %): the mean, median and max are those
    offsets exactly, and the share within a tolerance steps at each offset."""
    heights = np.repeat([0.01, 0.03, 0.05], [500, 300, 200])
    recon = SurfaceSamples.from_mesh(_plane(), 20000, seed=0)
    m = fidelity(recon, _scan_at(heights), tolerance=0.02)
    assert m["n_scan"] == 1000
    assert m["scan_to_surface_mean"] == pytest.approx(heights.mean(), rel=1e-5)  # 0.024
    assert m["scan_to_surface_median"] == pytest.approx(0.02, rel=1e-5)  # between the 500th and 501st
    assert m["scan_to_surface_max"] == pytest.approx(0.05, rel=1e-5)
    assert m["scan_to_surface_within"] == 0.5
    assert fidelity(recon, _scan_at(heights), tolerance=0.04)["scan_to_surface_within"] == 0.8
    assert fidelity(recon, _scan_at(heights), tolerance=0.06)["scan_to_surface_within"] == 1.0
    diag = float(np.linalg.norm(np.ptp(_scan_at(heights), axis=0)))
    assert m["scan_to_surface_mean_rel"] == pytest.approx(m["scan_to_surface_mean"] / diag, rel=1e-9)
    default = fidelity(recon, _scan_at(heights))  # tolerance: 1 % of the scan's diagonal (~0.023)
    assert default["tolerance"] == pytest.approx(0.01 * diag, rel=1e-9)
    assert default["scan_to_surface_within"] == 0.5


def test_surface_to_scan_is_bounded_by_the_scan_spacing():
    """A scan on a 0.02-spaced grid 0.01 above the plane: every surface sample inside the grid is between
    0.01 and √(0.01² + 2·0.01²) from its nearest scan point; scan → surface stays 0.01 exactly."""
    u = np.arange(-1.0, 1.0 + 1e-9, 0.02)
    x, y = np.meshgrid(u, u, indexing="ij")
    scan = np.column_stack([x.ravel(), y.ravel(), np.full(x.size, 0.01)])
    m = fidelity(SurfaceSamples.from_mesh(_plane(), 20000, seed=3), scan)
    assert m["scan_to_surface_max"] == pytest.approx(0.01, rel=1e-5)
    assert m["scan_to_surface_mean"] == pytest.approx(0.01, rel=1e-5)
    assert 0.01 - 1e-9 <= m["surface_to_scan_mean"] <= m["surface_to_scan_max"] <= np.sqrt(3e-4) + 1e-9
    assert m["surface_to_scan_mean"] > 0.011  # the spacing floor is there, unlike the other way


def test_fidelity_needs_triangles():
    curve = SurfaceSamples(np.random.default_rng(0).normal(size=(100, 3)), None, "curve samples")
    with pytest.raises(ValueError, match="triangles"):
        fidelity(curve, np.zeros((10, 3)))


def test_eval_against_a_cloud_reports_the_exact_scan_to_surface_distance(in_tmp):
    """A cloud 0.01 from a plane given as --gt: the fidelity rows and keys give 0.01 (point-to-surface),
    where the sample-to-sample ref → recon mean is floored above it."""
    heights = np.full(2000, 0.01)
    write_mesh(_plane(), "plane.ply")
    write_points(_scan_at(heights), "scan.xyz")
    r = run("eval", "plane.ply", "--gt", "scan.xyz", "--json", "-")
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["distance"] == "sample-to-sample" and m["scan"] == "scan.xyz" and m["n_scan"] == 2000
    assert m["scan_to_surface_mean"] == pytest.approx(0.01, rel=1e-5)
    assert m["scan_to_surface_max"] == pytest.approx(0.01, rel=1e-5)
    assert m["ref_to_recon_mean"] > 1.05 * m["scan_to_surface_mean"]  # the sampled form has a floor
    assert m["tolerance"] == pytest.approx(m["tau"]) and m["scan_to_surface_within"] == 1.0
    assert m["scan_to_surface_mean_rel"] == pytest.approx(0.01 / m["diagonal"], rel=1e-5)
    for key in ("surface_to_scan_mean", "surface_to_scan_median", "surface_to_scan_max",
                "surface_to_scan_within", "surface_to_scan_mean_rel", "tolerance_rel"):
        assert key in m
    assert json.loads(run("eval", "plane.ply", "--gt", "scan.xyz", "--tolerance", "0.005",
                          "--json", "-").stdout)["scan_to_surface_within"] == 0.0

    r = run("eval", "plane.ply", "--gt", "scan.xyz", "--fidelity")
    assert r.exit_code == 0, r.output
    for row in ("scan → surface (mean)", "scan → surface (max)", "scan → surface (median)",
                "surface → scan (mean)", "scan → surface within"):
        assert row in r.stdout
    assert "Chamfer-L1 " not in r.stdout.split("Chamfer-L1 =")[0]  # --fidelity alone: only its rows
    assert "Scan fidelity against scan.xyz (2,000 points)" in r.stdout.replace("\n", " ")


def test_eval_beside_a_truth_adds_the_scan_block(in_tmp):
    """A mesh against a true mesh has no scan unless --scan names one; then the truth metrics stay
    point-to-surface and the scan block is measured against that cloud."""
    write_mesh(_plane(), "plane.ply")
    write_mesh(_plane(21), "truth.off")
    write_points(_scan_at(np.full(500, 0.02), seed=1), "scan.xyz")
    plain = json.loads(run("eval", "plane.ply", "--gt", "truth.off", "--json", "-").stdout)
    assert plain["distance"] == "point-to-surface" and "scan" not in plain
    m = json.loads(run("eval", "plane.ply", "--gt", "truth.off", "--scan", "scan.xyz", "--json", "-").stdout)
    assert m["distance"] == "point-to-surface" and m["chamfer_l1"] < 1e-6
    assert m["scan"] == "scan.xyz" and m["scan_to_surface_mean"] == pytest.approx(0.02, rel=1e-5)
    assert m["tolerance"] == pytest.approx(0.01 * m["diagonal"])

    one_line_error(run("eval", "plane.ply", "--gt", "truth.off", "--fidelity"), "--fidelity", "--scan")
    one_line_error(run("eval", "plane.ply", "--gt", "truth.off", "--scan", "missing.xyz"), "missing.xyz")
    one_line_error(run("eval", "plane.ply", "--gt", "truth.off", "--scan", "scan.xyz", "--tolerance", "-1"),
                   "--tolerance")


def test_eval_of_a_run_against_a_truth_measures_its_input_as_the_scan(in_tmp):
    """`eval RUN --gt truth` also reports scan → surface from the run's input cloud, the same absolute
    numbers as `eval RUN` against that input."""
    from conftest import sphere_points

    truth = trimesh.creation.icosphere(4, 1.0)
    write_mesh(truth, "truth.off")
    write_points(sphere_points(3000, radius=1.0, seed=2), "cloud.xyz")
    assert run("fit", "cloud.xyz", "--method", "poisson", "-o", "r", "-q").exit_code == 0
    assert run("mesh", "r", "-q").exit_code == 0
    with_gt = json.loads(run("eval", "r", "--gt", "truth.off", "--json", "-").stdout)
    alone = json.loads(run("eval", "r", "--json", "-").stdout)
    assert with_gt["distance"] == "point-to-surface" and with_gt["scan"] == alone["scan"] == "input cloud of r"
    assert with_gt["n_scan"] == alone["n_scan"] == 3000
    # the same up to float32 rounding, which is relative to the diagonal (each call scales by its reference's)
    assert with_gt["scan_to_surface_mean"] == pytest.approx(alone["scan_to_surface_mean"],
                                                            abs=1e-6 * alone["diagonal"])
    assert with_gt["scan_to_surface_mean"] < 0.01  # the Poisson surface passes through its clean input
