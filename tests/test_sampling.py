"""Harder benchmark clouds: outliers and non-uniform density, as functions and through `levelrecon sample`."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from conftest import one_line_error, run

from levelrecon.recon.data.io import load_points
from levelrecon.recon.data.sampling import (
    positive_area,
    replace_with_outliers,
    sample_surface,
    sample_surface_nonuniform,
    split_plane,
)

HALF = np.array([1.0, 0.5, 0.5])  # the 2 × 1 × 1 test box, centred at the origin: longest axis x, mid-plane x = 0


def box_distance(p: np.ndarray) -> np.ndarray:
    """Exact unsigned distance to the surface of the test box."""
    q = np.abs(p) - HALF
    return np.abs(np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0))


@pytest.fixture
def box() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=2 * HALF)


def cone_half_areas(cone: trimesh.Trimesh) -> tuple[float, float]:
    """(area above, area below) the cone's mid-height plane, from similar triangles: the lateral part above
    it is the apex cone of half the slant, 1/4 of the lateral area; the base is below."""
    base = cone.area_faces[cone.face_normals[:, 2] < -0.999].sum()
    lateral = cone.area - base
    return lateral / 4, 3 * lateral / 4 + base


def test_outliers_replace_an_exact_count_inside_the_enlarged_box(box):
    pts, nrm = sample_surface(box, 5000, seed=0)
    assert box_distance(pts).max() < 1e-9
    out, out_nrm, idx = replace_with_outliers(pts, 0.1, box.bounds, seed=1, normals=nrm)
    assert out.shape == pts.shape and len(idx) == 500 == len(np.unique(idx))
    kept = np.setdiff1d(np.arange(len(pts)), idx)
    np.testing.assert_array_equal(out[kept], pts[kept])
    np.testing.assert_array_equal(out_nrm[kept], nrm[kept])
    np.testing.assert_allclose(np.linalg.norm(out_nrm[idx], axis=1), 1.0)
    lim = HALF * 1.05
    assert np.all(np.abs(out[idx]) <= lim + 1e-12)
    assert np.abs(out[idx]).max(axis=0) @ np.ones(3) > HALF.sum()  # some use the 5 % margin
    diag = np.linalg.norm(2 * HALF)
    assert np.mean(box_distance(out[idx]) > 0.005 * diag) > 0.9  # most are far from the surface
    assert replace_with_outliers(pts, 0.0, box.bounds)[2].size == 0
    assert len(replace_with_outliers(pts[:7], 0.25, box.bounds)[2]) == 2  # round(1.75)
    again = replace_with_outliers(pts, 0.1, box.bounds, seed=1)
    np.testing.assert_array_equal(again[0], out)
    assert not np.array_equal(replace_with_outliers(pts, 0.1, box.bounds, seed=2)[0], out)
    with pytest.raises(ValueError, match="fraction"):
        replace_with_outliers(pts, -0.1, box.bounds)


def test_exact_half_areas(box):
    assert positive_area(box, *split_plane(box)) == pytest.approx(box.area / 2)
    cone = trimesh.creation.cone(radius=1.0, height=3.0)
    origin, normal = split_plane(cone)
    np.testing.assert_allclose(normal, [0, 0, 1])
    assert positive_area(cone, origin, normal) == pytest.approx(cone_half_areas(cone)[0], rel=1e-9)


@pytest.mark.parametrize("ratio", [1.0, 4.0, 10.0])
def test_nonuniform_density_ratio_between_halves(ratio):
    cone = trimesh.creation.cone(radius=1.0, height=3.0)  # halves of unequal area: 2.5 vs 10.6
    n = 20000
    pts, nrm = sample_surface_nonuniform(cone, n, ratio, seed=3)
    assert pts.shape == (n, 3) and nrm.shape == (n, 3)
    origin, normal = split_plane(cone)
    upper = (pts - origin) @ normal > 0
    a_pos, a_neg = cone_half_areas(cone)
    density_ratio = ((~upper).sum() / a_neg) / (upper.sum() / a_pos)
    assert density_ratio == pytest.approx(ratio, rel=0.03)
    # halves interleaved (not one after the other), reproducible
    assert upper[: n // 2].sum() > 0 and upper[n // 2:].sum() > 0
    np.testing.assert_array_equal(sample_surface_nonuniform(cone, n, ratio, seed=3)[0], pts)
    assert not np.array_equal(sample_surface_nonuniform(cone, n, ratio, seed=4)[0], pts)


def test_nonuniform_samples_lie_on_the_surface(box):
    pts, nrm = sample_surface_nonuniform(box, 3000, 10.0, seed=0)
    assert box_distance(pts).max() < 1e-9
    # each normal is the box face normal at its point: the axis where the point touches the box
    axis = np.argmax(np.abs(pts) / HALF, axis=1)
    np.testing.assert_allclose(nrm[np.arange(len(pts)), axis], np.sign(pts[np.arange(len(pts)), axis]))
    with pytest.raises(ValueError, match="ratio"):
        sample_surface_nonuniform(box, 100, 0.5)


def test_sample_cli_outliers_and_nonuniform(in_tmp, box):
    box.export(in_tmp / "box.off")
    r = run("sample", "box.off", "-n", "2000", "--outliers", "0.1", "--seed", "2", "-o", "o.npy")
    assert r.exit_code == 0, r.output
    pts = load_points(in_tmp / "o.npy").points
    assert len(pts) == 2000
    far = box_distance(pts) > 1e-6
    assert 0.9 * 200 <= far.sum() <= 200  # the 200 outliers (a few may fall on the surface's vicinity)
    assert np.all(np.abs(pts) <= HALF * 1.05 + 1e-9)
    r2 = run("sample", "box.off", "-n", "2000", "--outliers", "0.1", "--seed", "2", "-o", "o2.npy")
    assert r2.exit_code == 0
    np.testing.assert_array_equal(load_points(in_tmp / "o2.npy").points, pts)

    r = run("sample", "box.off", "-n", "2000", "--nonuniform", "4", "--noise", "0.001", "--normals",
            "-o", "d.ply")
    assert r.exit_code == 0, r.output
    cloud = load_points(in_tmp / "d.ply")
    assert len(cloud.points) == 2000 and cloud.normals is not None
    assert (cloud.points[:, 0] > 0).sum() == 400  # equal halves: 1/(1 + 4) of the points on the sparse side

    r = run("sample", "box.off", "-n", "1000", "--nonuniform", "10", "--outliers", "0.02", "-o", "b.xyz")
    assert r.exit_code == 0, r.output
    assert len(load_points(in_tmp / "b.xyz").points) == 1000


def test_sample_cli_bad_values(in_tmp, box):
    box.export(in_tmp / "box.off")
    one_line_error(run("sample", "box.off", "-n", "10", "--outliers", "-0.1", "-o", "x.ply"), "--outliers")
    one_line_error(run("sample", "box.off", "-n", "10", "--outliers", "1.5", "-o", "x.ply"), "--outliers")
    one_line_error(run("sample", "box.off", "-n", "10", "--nonuniform", "0.5", "-o", "x.ply"), "--nonuniform")
    one_line_error(run("sample", "--curve", "-n", "10", "--outliers", "0.1", "-o", "x.ply"), "--curve")
    assert not (in_tmp / "x.ply").exists()
