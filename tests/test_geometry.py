"""Normalization, metrics against analytic values, and marching cubes on analytic SDFs."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from conftest import sphere_points

from levelrecon.errors import InputError
from levelrecon.recon.data.normalize import Normalization
from levelrecon.recon.meshing.marching import clean, evaluate_grid, extract_mesh, largest_component
from levelrecon.recon.metrics import SurfaceSamples, compare


@pytest.mark.parametrize("mode", ["bbox", "mean"])
def test_normalization_inverse_and_range(mode):
    pts = np.random.default_rng(0).normal(size=(500, 3)) * [3, 1, 0.5] + [10, -4, 2]
    norm = Normalization.fit(pts, mode)
    x = norm.apply(pts)
    assert np.abs(x).max() == pytest.approx(1.0)
    np.testing.assert_allclose(norm.invert(x), pts, atol=1e-12)
    assert Normalization.from_dict(norm.to_dict()) == norm
    if mode == "bbox":
        np.testing.assert_allclose(x.min(axis=0) + x.max(axis=0), 0, atol=1e-12)


def test_chamfer_of_concentric_spheres():
    """Dense samples of spheres r=1 and r=1.1: every nearest distance is ≈ 0.1."""
    a = SurfaceSamples(sphere_points(60000, 1.0, seed=1), None, "points")
    b = SurfaceSamples(sphere_points(60000, 1.1, seed=2), None, "points")
    m = compare(a, b)
    assert m["chamfer_l1"] == pytest.approx(0.1, rel=0.05)
    assert m["chamfer_l2"] == pytest.approx(0.01, rel=0.1)
    assert m["chamfer_l2_sum"] == pytest.approx(2 * m["chamfer_l2"])
    assert 0.1 <= m["hausdorff"] < 0.13
    assert m["diagonal"] == pytest.approx(2.2 * np.sqrt(3), rel=0.01)
    assert m["chamfer_l1_rel"] == pytest.approx(m["chamfer_l1"] / m["diagonal"])


def test_shifted_plane_exact_values():
    """Identical grids 0.03 apart along the normal: all distances are exactly 0.03."""
    g = np.stack(np.meshgrid(np.linspace(0, 1, 50), np.linspace(0, 1, 50), indexing="ij"), -1).reshape(-1, 2)
    a = np.column_stack([g, np.zeros(len(g))])
    b = a + [0, 0, 0.03]
    up = np.tile([0.0, 0.0, 1.0], (len(a), 1))
    m = compare(SurfaceSamples(a, up, "points"), SurfaceSamples(b, -up, "points"), tau=0.05)
    assert m["chamfer_l1"] == pytest.approx(0.03, abs=1e-12)
    assert m["hausdorff"] == pytest.approx(0.03, abs=1e-12)
    assert m["fscore"] == 1.0
    assert m["normal_consistency"] == pytest.approx(1.0)  # unsigned: flipped normals still agree
    assert compare(SurfaceSamples(a, None, "points"), SurfaceSamples(b, None, "points"), tau=0.02)["fscore"] == 0.0


def test_marching_cubes_on_sphere_sdf():
    r, res, bounds = 0.6, 64, (-1.0, 1.0)
    vol = evaluate_grid(lambda p: np.linalg.norm(p, axis=1) - r, res, bounds)
    mesh = clean(extract_mesh(vol, 0.0, bounds, inside="negative"))
    h = (bounds[1] - bounds[0]) / (res - 1)
    assert mesh.is_watertight
    assert mesh.volume > 0, "faces must point outward"
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * r**3, rel=0.02)
    assert np.abs(np.linalg.norm(mesh.vertices, axis=1) - r).max() < h / 2


def test_grid_is_ij_indexed_and_chunking_is_invisible():
    """An ellipsoid long in x must come out long in x (meshgrid 'xy' would swap x and y)."""
    f = lambda p: np.sqrt((p[:, 0] / 0.9) ** 2 + (p[:, 1] / 0.3) ** 2 + (p[:, 2] / 0.5) ** 2) - 1  # noqa: E731
    vol = evaluate_grid(f, 40, chunk=40**3)
    np.testing.assert_array_equal(vol, evaluate_grid(f, 40, chunk=1000))
    ext = np.ptp(extract_mesh(vol, 0.0).vertices, axis=0)
    assert ext[0] > ext[2] > ext[1]
    np.testing.assert_allclose(ext, [1.8, 0.6, 1.0], atol=0.12)


def test_positive_inside_orientation():
    vol = evaluate_grid(lambda p: 0.5 - np.linalg.norm(p, axis=1), 32)
    assert clean(extract_mesh(vol, 0.0, inside="positive")).volume > 0


def test_level_outside_field_range_is_an_error():
    vol = evaluate_grid(lambda p: np.linalg.norm(p, axis=1) + 1, 16)
    with pytest.raises(InputError, match="never crosses level 0"):
        extract_mesh(vol, 0.0)


def test_largest_component_drops_small_blob():
    big = trimesh.creation.icosphere(radius=1.0)
    small = trimesh.creation.icosphere(radius=0.1)
    small.apply_translation([3, 0, 0])
    kept = largest_component(trimesh.util.concatenate([big, small]))
    assert len(kept.faces) == len(big.faces)


def test_estimated_normals_are_radial_and_outward():
    from levelrecon.recon.data.normals import estimate_normals

    pts = sphere_points(3000, 0.7, seed=5) + [0.1, 0.2, -0.3]
    n = estimate_normals(pts)
    radial = pts - [0.1, 0.2, -0.3]
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    cos = (n * radial).sum(axis=1)
    assert np.mean(cos > 0.95) > 0.99  # outward, not merely ± radial
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-9)
