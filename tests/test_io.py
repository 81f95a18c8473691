"""Round trips for every format, real files with extra PLY elements, and every bad-input case."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import trimesh
from conftest import DATA, sphere_points

from levelrecon.errors import InputError, LevelreconWarning, OutputExistsError
from levelrecon.recon.data.io import (
    atomic_output,
    load_mesh,
    load_points,
    write_mesh,
    write_points,
)


@pytest.mark.parametrize("ext", [".ply", ".xyz", ".txt", ".pts", ".npy", ".npz", ".obj"])
@pytest.mark.parametrize("with_normals", [False, True])
def test_point_round_trip(tmp_path, ext, with_normals):
    pts = sphere_points(500, seed=3)
    nrm = pts / np.linalg.norm(pts, axis=1, keepdims=True) if with_normals else None
    path = write_points(pts, tmp_path / f"c{ext}", normals=nrm)
    cloud = load_points(path)
    tol = 1e-6  # PLY stores float32, text keeps 8 significant digits
    np.testing.assert_allclose(cloud.points, pts, atol=tol)
    if with_normals:
        np.testing.assert_allclose(cloud.normals, nrm, atol=tol)
    else:
        assert cloud.normals is None
    assert not cloud.is_mesh


@pytest.mark.parametrize("ext", [".ply", ".obj", ".off", ".stl", ".glb"])
def test_mesh_round_trip(tmp_path, ext):
    mesh = trimesh.creation.icosphere(subdivisions=2)
    write_mesh(mesh, tmp_path / f"m{ext}")
    back = load_mesh(tmp_path / f"m{ext}")
    back.merge_vertices()  # STL stores triangle soup
    assert len(back.faces) == len(mesh.faces)
    assert back.is_watertight
    assert back.volume == pytest.approx(mesh.volume, rel=1e-5)


def test_ascii_ply_and_polygons(tmp_path):
    text = ("ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
            "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
            "0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n")
    (tmp_path / "quad.ply").write_text(text)
    cloud = load_points(tmp_path / "quad.ply", min_points=4)
    assert cloud.faces.tolist() == [[0, 1, 2], [0, 2, 3]]


def test_real_range_scan_with_extra_element():
    """A Stanford range scan (subset): ASCII PLY with obj_info lines and a `range_grid` element."""
    cloud = load_points(DATA / "dragon_rangescan_2k.ply")
    assert cloud.points.shape == (2000, 3)
    assert cloud.normals is None and not cloud.is_mesh
    assert np.isfinite(cloud.points).all()


def test_real_obj_and_off_meshes():
    bunny = load_points(DATA / "bunny_closed_3k.off")
    assert bunny.is_mesh and bunny.points.shape == (3485, 3)


def test_xyz_with_comma_and_pts_header(tmp_path):
    pts = sphere_points(20, seed=1)
    (tmp_path / "a.txt").write_text("# comment\n" + "\n".join(f"{x},{y},{z}" for x, y, z in pts))
    (tmp_path / "b.pts").write_text("20\n" + "\n".join(f"{x} {y} {z} 7 1 2 3" for x, y, z in pts))
    np.testing.assert_allclose(load_points(tmp_path / "a.txt").points, pts, atol=1e-12)
    b = load_points(tmp_path / "b.pts")
    np.testing.assert_allclose(b.points, pts, atol=1e-12)
    assert b.normals is None  # 7 columns: intensity and colour, not normals


# ------------------------------------------------------------------------------------------- bad input
def _err(path, match):
    with pytest.raises(InputError, match=match) as info:
        load_points(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    _err(tmp_path / "nope.ply", "does not exist")


def test_empty_file(tmp_path):
    (tmp_path / "e.ply").write_bytes(b"")
    _err(tmp_path / "e.ply", "empty")


def test_unknown_format(tmp_path):
    (tmp_path / "c.abc").write_text("1 2 3\n")
    _err(tmp_path / "c.abc", "unknown format '.abc'")


def test_truncated_binary_ply(tmp_path):
    path = write_points(sphere_points(1000), tmp_path / "full.ply")
    data = path.read_bytes()
    (tmp_path / "cut.ply").write_bytes(data[: len(data) // 2])
    _err(tmp_path / "cut.ply", "not a readable PLY")


def test_garbage_ply(tmp_path):
    (tmp_path / "g.ply").write_bytes(b"this is not a ply file\n\x00\x01")
    _err(tmp_path / "g.ply", "not a readable PLY")


def test_no_vertices(tmp_path):
    (tmp_path / "z.ply").write_text("ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\n"
                                    "property float y\nproperty float z\nend_header\n")
    _err(tmp_path / "z.ply", "no points")
    (tmp_path / "f.obj").write_text("# only a comment\n")
    _err(tmp_path / "f.obj", "no points|no vertices|cannot parse")


def test_too_few_points(tmp_path):
    write_points(sphere_points(5), tmp_path / "few.xyz")
    _err(tmp_path / "few.xyz", "only 5 points")


def test_some_nan_dropped_with_warning(tmp_path):
    pts = sphere_points(100)
    pts[[3, 7]] = np.nan
    pts[9, 1] = np.inf
    np.save(tmp_path / "n.npy", pts)
    with pytest.warns(LevelreconWarning, match="dropped 3 of 100"):
        cloud = load_points(tmp_path / "n.npy")
    assert len(cloud.points) == 97


def test_all_nan(tmp_path):
    np.save(tmp_path / "n.npy", np.full((50, 3), np.nan))
    _err(tmp_path / "n.npy", "no point has finite")


def test_identical_points(tmp_path):
    np.save(tmp_path / "same.npy", np.ones((50, 3)))
    _err(tmp_path / "same.npy", "identical")


def test_collinear_points(tmp_path):
    t = np.linspace(0, 1, 50)[:, None]
    np.save(tmp_path / "line.npy", np.hstack([t, 2 * t, -t]))
    _err(tmp_path / "line.npy", "collinear")


def test_obj_vertex_with_two_coordinates(tmp_path):
    (tmp_path / "flat.obj").write_text("v 1 2\nv 3 4\n")
    _err(tmp_path / "flat.obj", "3 coordinates|cannot parse")


def test_wrong_array_shape(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((10, 4)))
    _err(tmp_path / "bad.npy", r"expected an \(n, 3\)")


def test_zero_normals_are_ignored(tmp_path):
    pts = sphere_points(50)
    np.save(tmp_path / "z.npy", np.hstack([pts, np.zeros_like(pts)]))
    with pytest.warns(LevelreconWarning, match="ignoring normals"):
        assert load_points(tmp_path / "z.npy").normals is None


# -------------------------------------------------------------------------------------------- writing
def test_no_overwrite_without_force(tmp_path):
    path = write_points(sphere_points(20), tmp_path / "c.xyz")
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        write_points(sphere_points(30), path)
    assert path.read_bytes() == before
    write_points(sphere_points(30), path, force=True)
    assert len(load_points(path).points) == 30


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.ply"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_warnings_do_not_leak_from_valid_files(tmp_path):
    path = write_points(sphere_points(100), tmp_path / "ok.ply")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_points(path)
