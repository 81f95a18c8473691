"""Every reconstruction method through the same fit -> mesh -> eval flow, and the curve pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import one_line_error, run, sphere_points

from levelrecon.recon.curves import curve_cloud, extract_curve, farthest_point_sampling, sample_polyline
from levelrecon.recon.io import load_polyline, write_points, write_polyline

TINY = ["--iters", "30", "--batch", "1024", "--width", "32", "--depth", "2"]



@pytest.mark.parametrize("method", ["sal", "igr", "levelset"])
def test_each_neural_method_runs_the_same_flow(in_tmp, method):
    write_points(sphere_points(1500, 0.7, seed=4), "ball.ply")
    r = run("fit", "ball.ply", "--method", method, *TINY, "-q")
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
    assert run("fit", "ball.ply", "--method", "igr", *TINY, "-q").exit_code == 0
    log = (in_tmp / "runs" / "ball_igr_1" / "train_log.csv").read_text().splitlines()[0]
    assert "normal" in log.split(",")


def test_curve_extraction_of_two_planes():
    """F = (z, y): the curve is the x axis inside the box."""
    verts, edges = extract_curve(lambda x: x[:, [2, 1]] + [0.013, -0.021], 24, (-1.0, 1.0))
    assert len(edges) > 10
    np.testing.assert_allclose(verts[:, 2], -0.013, atol=1e-6)
    np.testing.assert_allclose(verts[:, 1], 0.021, atol=1e-6)
    samples = sample_polyline(verts, edges, 500)
    assert samples[:, 0].min() < -0.8 and samples[:, 0].max() > 0.8


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
    r = run("fit", "c.xyz", "--curve", *TINY, "-q")
    assert r.exit_code == 0, r.output
    r = run("mesh", "-o", "curve.ply", "--resolution", "32")
    assert r.exit_code == 0, r.output
    assert "curve with" in r.stderr
    assert load_polyline(in_tmp / "curve.ply") is not None
    r = run("eval", "curve.ply", "--gt", "gt.obj", "--json", "-", "--samples", "2000")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["recon_kind"] == "curve samples"
