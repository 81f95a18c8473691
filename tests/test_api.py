"""The Python API: the documented examples run, in-memory inputs of every kind, the same surface as the CLI,
signed distances in input units, save/load, and one-line errors for bad input."""

from __future__ import annotations

import doctest

import numpy as np
import open3d as o3d
import pytest
import trimesh
from click.testing import CliRunner

import levelrecon
from levelrecon import api
from levelrecon.cli.main import cli
from levelrecon.recon.data.io import write_points

FAST = {"iters": 30, "seed": 0, "device": "cpu"}


def _sphere(n: int = 6000, radius: float = 1.0, center=(0.0, 0.0, 0.0), seed: int = 0) -> np.ndarray:
    pts = np.random.default_rng(seed).normal(size=(n, 3))
    return radius * pts / np.linalg.norm(pts, axis=1, keepdims=True) + np.asarray(center)


def test_docstring_examples_run():
    result = doctest.testmod(api, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0


def test_cli_and_api_give_the_same_mesh(tmp_path, monkeypatch):
    """The CLI is a thin caller of the API: same cloud, options and seed -> the same vertices."""
    monkeypatch.chdir(tmp_path)
    write_points(_sphere(), "ball.ply")
    runner = CliRunner()
    r = runner.invoke(cli, ["fit", "ball.ply", "--iters", "30", "--seed", "0", "--device", "cpu", "-o", "run", "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["mesh", "run", "--resolution", "64", "-q"])
    assert r.exit_code == 0, r.output
    from_cli = trimesh.load(tmp_path / "run" / "mesh.ply", process=False)
    from_api = levelrecon.reconstruct(tmp_path / "ball.ply", resolution=64, **FAST)
    assert from_api.vertices.shape == from_cli.vertices.shape
    np.testing.assert_allclose(from_api.vertices, from_cli.vertices, atol=1e-5)


def test_open3d_and_trimesh_inputs_match_the_array(tmp_path):
    pts = _sphere(2000)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    meshes = [levelrecon.reconstruct(x, method="igr", resolution=48, iters=10, seed=0, device="cpu")
              for x in (pts, pcd, trimesh.PointCloud(pts))]
    for other in meshes[1:]:
        np.testing.assert_allclose(other.vertices, meshes[0].vertices, atol=1e-6)


def test_sdf_is_in_input_units_and_model_round_trips(tmp_path):
    """A sphere of radius 10 around (100, 0, 0): the field learned in the unit cube is scaled back."""
    model = levelrecon.fit(_sphere(radius=10.0, center=(100, 0, 0)), method="igr", iters=80, seed=0,
                           device="cpu")
    d = model.sdf([[100, 9, 0], [100, 10, 0], [100, 0, 11], [100, 0, 0], [130, 0, 0]])
    assert -1.3 < d[0] < -0.7 and abs(d[1]) < 0.2 and 0.7 < d[2] < 1.3  # one unit in, on, one unit out
    assert d[3] < -1 and d[4] > 1  # the sign holds far from the surface
    saved = model.save(tmp_path / "sphere")
    again = levelrecon.load(saved)
    assert again.method == "igr" and again.info["n_points"] == 6000
    np.testing.assert_allclose(again.sdf([[100, 9, 0]]), d[:1], rtol=1e-6)
    with pytest.raises(levelrecon.InputError, match="exists and is not empty"):
        model.save(tmp_path / "sphere")
    mesh = again.mesh(48)
    assert mesh.is_watertight
    assert np.allclose(mesh.bounding_box.centroid, [100, 0, 0], atol=0.5)


def test_poisson_model_has_a_signed_distance(tmp_path):
    model = levelrecon.fit(_sphere(), method="poisson", run_dir=tmp_path / "p")
    d = model.sdf([[0, 0, 0], [2, 0, 0]])
    assert d[0] < -0.8 and 0.8 < d[1] < 1.2
    assert (tmp_path / "p" / "surface.ply").is_file()


@pytest.mark.parametrize(("data", "message"), [
    (np.zeros((5, 3)), "points: only 5 points"),
    (np.zeros((20, 2)), r"expected an \(n, 3\) array"),
    (np.ones((50, 3)), "all points are identical"),
    ({"a": 1}, "cannot read points from a dict"),
])
def test_bad_input_raises_a_one_line_input_error(data, message):
    with pytest.raises(levelrecon.InputError, match=message) as info:
        levelrecon.fit(data, iters=1)
    assert "\n" not in str(info.value)


def test_load_refuses_what_is_not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(levelrecon.InputError, match="not a readable run directory"):
        levelrecon.load(tmp_path / "empty")
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(levelrecon.InputError, match="not a readable levelrecon checkpoint"):
        levelrecon.load(tmp_path / "x.pt")


def test_mesh_trims_the_cap_of_an_open_cloud_by_default():
    """A hemisphere of samples: the field closes it, the default trim="auto" removes that cap."""
    pts = _sphere(12000)
    pts = pts[pts[:, 2] > 0]
    model = levelrecon.fit(pts, iters=60, seed=0, device="cpu")
    kept, trimmed = model.mesh(64, trim=0), model.mesh(64)
    assert len(trimmed.faces) < 0.75 * len(kept.faces)
    assert kept.vertices[:, 2].min() < -0.2 and trimmed.vertices[:, 2].min() > -0.1  # the cap below z=0 is gone
    result = CliRunner().invoke(cli, ["mesh", str(model.run_dir), "--trim", "x"])
    assert result.exit_code == 2 and "neither 'auto' nor a number" in result.output


@pytest.mark.parametrize("method", ["igr", "poisson"])
def test_a_fitted_model_meshes_from_memory(tmp_path, method):
    """The model `fit` returns holds its network (or surface), normalization and input: meshing and sdf
    read no file, so they work after its run directory is deleted, and match the saved run's mesh."""
    import shutil

    options = {"iters": 20} if method == "igr" else {}
    model = levelrecon.fit(_sphere(2000), method=method, seed=0, device="cpu", run_dir=tmp_path / "run", **options)
    from_files = levelrecon.load(tmp_path / "run").mesh(32)
    shutil.rmtree(tmp_path / "run")
    mesh = model.mesh(32)
    np.testing.assert_allclose(mesh.vertices, from_files.vertices, atol=1e-6)
    d = model.sdf([[0, 0, 0], [2, 0, 0]])
    assert d[0] < 0 < d[1]
