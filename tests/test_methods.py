"""Every reconstruction method through the same fit -> mesh -> eval flow, and the curve pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import one_line_error, run, sphere_points

from levelrecon.errors import InputError
from levelrecon.recon.data.io import load_polyline, write_points, write_polyline
from levelrecon.recon.meshing.curves import (
    curve_cloud,
    extract_curve,
    farthest_point_sampling,
    sample_polyline,
    trim_open,
    trim_to_data,
)

TINY = ["--iters", "30", "--batch", "1024", "--width", "32", "--depth", "2"]


@pytest.mark.parametrize("method,field", [("sal", "mlp"), ("igr", "mlp"), ("levelset", "mlp"), ("sal", "grid"),
                                          ("igr", "grid"), ("levelset", "grid")])
def test_each_neural_method_runs_the_same_flow(in_tmp, method, field):
    """Every method with both field representations (the levelset Newton projection differentiates the
    grid field through grid_sample; IGR's terms use its finite differences)."""
    write_points(sphere_points(1500, 0.7, seed=4), "ball.ply")
    r = run("fit", "ball.ply", "--method", method, "--field", field, *TINY, "-q")
    assert r.exit_code == 0, r.output
    assert run("mesh", "--resolution", "24", "-q").exit_code == 0
    r = run("eval", "--json", "-")
    assert r.exit_code == 0, r.output
    assert np.isfinite(json.loads(r.stdout)["chamfer_l1"])
    r = run("plot-slice", "--resolution", "32")
    assert r.exit_code == 0, r.output
    assert (in_tmp / "runs" / f"ball_{method}_1" / "slice_z.png").stat().st_size > 1000


def test_igr_uses_normals_when_present(in_tmp):
    pts = sphere_points(1500, 0.7, seed=4)
    write_points(pts, "ball.ply", normals=pts / np.linalg.norm(pts, axis=1, keepdims=True))
    assert run("fit", "ball.ply", "--method", "igr", "--set", "estimate_normals=false", *TINY, "-q").exit_code == 0
    log = (in_tmp / "runs" / "ball_igr_1" / "train_log.csv").read_text().splitlines()[0]
    assert "normal" in log.split(",")


def test_auto_default_igr_grid_on_dense_levelset_on_sparse(in_tmp):
    """A dense cloud without normals: the default is IGR on a grid, which estimates and orients normals
    and adds the pool term; a sparse one (< 5,000 points) gets the levelset method."""
    write_points(sphere_points(6000, 0.7, seed=4), "ball.ply")
    assert run("fit", "ball.ply", "--iters", "30", "-q").exit_code == 0
    write_points(sphere_points(1500, 0.7, seed=4), "few.ply")
    assert run("fit", "few.ply", "--iters", "3", "-q").exit_code == 0
    assert (in_tmp / "runs" / "few_levelset_1" / "model.pt").is_file()
    header = (in_tmp / "runs" / "ball_igr_1" / "train_log.csv").read_text().splitlines()[0].split(",")
    assert {"normal", "pool", "eikonal"} <= set(header)
    info = json.loads((in_tmp / "runs" / "ball_igr_1" / "run.json").read_text())
    assert info["config"]["field"] == "grid" and info["config"]["grid_levels"].startswith("16,32")


def test_curve_extraction_of_two_planes():
    """F = (z, y): the curve is the x axis inside the box."""
    verts, edges = extract_curve(lambda x: x[:, [2, 1]] + [0.013, -0.021], 24, (-1.0, 1.0))
    assert len(edges) > 10
    np.testing.assert_allclose(verts[:, 2], -0.013, atol=1e-6)
    np.testing.assert_allclose(verts[:, 1], 0.021, atol=1e-6)
    samples = sample_polyline(verts, edges, 500)
    assert samples[:, 0].min() < -0.8 and samples[:, 0].max() > 0.8


def test_trim_drops_the_closing_side_the_data_does_not_support():
    """A closed square polyline; data on three sides only: the fourth side goes, the rest stays connected."""
    t = np.linspace(0, 1, 41)[:-1]
    corners = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=float)
    verts = np.concatenate([a + t[:, None] * (b - a) for a, b in zip(corners[:-1], corners[1:], strict=True)])
    edges = np.column_stack([np.arange(160), (np.arange(160) + 1) % 160])
    data = verts[:121:4] + np.random.default_rng(0).normal(0, 0.002, (31, 3))  # sides 1-3, spacing 0.1
    v, e, dropped = trim_to_data(verts, edges, data, factor=3.0)
    assert 15 <= dropped <= 20  # side 4 (40 edges) minus 3 spacings (0.3) kept at each end: ~16 edges
    assert np.abs(v[:, 0]).max() <= 1.0 and v[:, 1].min() >= 0
    assert not ((v[:, 0] < 0.05) & (v[:, 1] > 0.35) & (v[:, 1] < 0.65)).any()  # the middle of side 4 is gone
    np.testing.assert_allclose(np.linalg.norm(v[e[:, 1]] - v[e[:, 0]], axis=1), 0.025)  # edges kept intact
    assert e.max() == len(v) - 1 and len(np.unique(e)) == len(v)  # reindexed, no orphan vertices
    with pytest.raises(InputError, match="farther than"):
        trim_to_data(verts + 5.0, edges, data)


def test_curve_generator_and_polyline_round_trip(tmp_path):
    pts, dense = curve_cloud(300, noise=0.0, seed=2)
    assert pts.shape == (300, 3)
    # farthest point sampling spreads points: the smallest gap is far above random sampling's
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(300) * 9
    assert d.min() > 0.2 * np.median(d.min(axis=1))
    edges = np.column_stack([np.arange(len(dense) - 1), np.arange(1, len(dense))])
    for ext in (".ply", ".obj"):
        write_polyline(dense, edges, tmp_path / f"c{ext}")
        v, e = load_polyline(tmp_path / f"c{ext}")
        np.testing.assert_allclose(v, dense, atol=1e-5)
        np.testing.assert_array_equal(e, edges)
    assert len(farthest_point_sampling(dense, 10)) == 10


def test_curve_cli_flow(in_tmp):
    assert run("sample", "--curve", "-n", "200", "--seed", "1", "-o", "c.xyz", "--curve-gt", "gt.obj").exit_code == 0
    one_line_error(run("fit", "c.xyz", "--curve", "--method", "igr"), "--curve needs --method levelset")
    # 100 steps: after 30 the tiny network's curve does not reach the data yet
    r = run("fit", "c.xyz", "--curve", "--iters", "100", *TINY[2:], "-q")
    assert r.exit_code == 0, r.output
    # curves keep the settings their benchmark measured; the user's --iters still wins
    config = json.loads((in_tmp / "runs" / "c_levelset_1" / "run.json").read_text())["config"]
    assert (config["iters"], config["newton_iters"], config["lambda_end"]) == (100, 5, 5.0)
    assert (config["lr"], config["smooth"]) == (1e-3, 0.0)  # curves keep the paper's L1 and their measured rate
    r = run("mesh", "-o", "curve.ply", "--resolution", "32")
    assert r.exit_code == 0, r.output
    assert "curve with" in r.stderr
    assert run("mesh", "-o", "raw.ply", "--resolution", "32", "--curve-trim", "0", "-q").exit_code == 0
    (v, e), (_, e_raw) = load_polyline(in_tmp / "curve.ply"), load_polyline(in_tmp / "raw.ply")
    assert 0 < len(e) <= len(e_raw)
    data = np.loadtxt(in_tmp / "c.xyz")
    spacing = np.median(np.sort(np.linalg.norm(data[:, None] - data[None], axis=-1), axis=1)[:, 1])
    d = np.linalg.norm(v[:, None] - data[None], axis=-1).min(axis=1)
    assert d.max() <= 3 * spacing + 1e-5  # the default trim: every kept vertex within 3 spacings of the input
    r = run("eval", "curve.ply", "--gt", "gt.obj", "--json", "-", "--samples", "2000")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["recon_kind"] == "curve samples"


def test_mesh_trim_cuts_surface_the_data_does_not_support(in_tmp):
    """An open scan (a hemisphere): the field closes it below the data; --trim 3 removes that part and
    leaves the part the points cover, which a plain mesh keeps whole."""
    pts = sphere_points(3000, 0.6, seed=2)
    pts = pts[pts[:, 2] > 0]  # the upper half only
    write_points(pts, "cap.ply")
    assert run("fit", "cap.ply", "--method", "igr", "--iters", "150", "-o", "r", "-q").exit_code == 0
    assert run("mesh", "r", "--resolution", "64", "--trim", "0", "-q").exit_code == 0
    assert run("mesh", "r", "--resolution", "64", "--trim", "3", "-o", "trimmed.ply", "-q").exit_code == 0
    from levelrecon.recon.data.io import load_mesh

    full, cut = load_mesh(in_tmp / "r" / "mesh.ply"), load_mesh(in_tmp / "trimmed.ply")
    assert full.vertices[:, 2].min() < -0.3  # closed below the data
    assert cut.vertices[:, 2].min() > -0.1 and len(cut.faces) < 0.8 * len(full.faces)
    assert cut.area > 0.8 * 2 * np.pi * 0.6**2  # the covered half stays (a hemisphere: 2πr²)


def test_auto_trim_drops_the_cap_of_an_open_cloud_and_keeps_closed_surfaces_watertight():
    """A closed sphere mesh: data on all of it, or all but a small sparse spot, keeps every face; data on the
    upper half only (an open scan) loses the lower cap, which is one large region far from the data."""
    import trimesh

    sphere = trimesh.creation.icosphere(5, radius=0.6)
    verts, faces = np.asarray(sphere.vertices), np.asarray(sphere.faces)
    pts = sphere_points(4000, 0.6, seed=3)
    v, f, dropped = trim_open(verts, faces, pts)
    assert dropped == 0 and len(f) == len(faces)
    holed = pts[np.linalg.norm(pts - [0, 0, 0.6], axis=1) > 0.12]  # a small spot (1 % of the area) without data
    v, f, dropped = trim_open(verts, faces, holed)
    assert dropped == 0 and trimesh.Trimesh(v, f).is_watertight
    assert trim_to_data(verts, faces, holed)[2] > 0  # the plain trim would have opened it
    upper = pts[pts[:, 2] > 0]
    v, f, dropped = trim_open(verts, faces, upper)
    assert dropped > 0.3 * len(faces) and v[:, 2].min() > -0.15  # the cap below the data went
    assert trimesh.Trimesh(v, f).area > 0.9 * 2 * np.pi * 0.6**2  # the covered half stays
