"""`levelrecon render`: headless PNG renders of meshes and runs, error colouring, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from conftest import one_line_error, run
from PIL import Image

from levelrecon.recon.data.io import write_mesh


@pytest.fixture
def sphere_mesh(tmp_path):
    path = tmp_path / "sphere.ply"
    write_mesh(trimesh.creation.icosphere(3, radius=0.5), path)
    return path


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def saturated_share(img: np.ndarray) -> float:
    """Share of pixels with a clear hue (the plain shading is near grey-blue, the error colours are not)."""
    return float(((img.max(axis=2) - img.min(axis=2)) > 60).mean())


def test_three_views_of_a_mesh(sphere_mesh, tmp_path):
    out = tmp_path / "view.png"
    r = run("render", sphere_mesh, "-o", out)
    assert r.exit_code == 0, r.output
    img = pixels(out)
    h, w, _ = img.shape
    assert 2.5 < w / h < 3.5  # three square panels in a row
    assert img.std() > 10 and len(np.unique(img.reshape(-1, 3), axis=0)) > 50  # shaded, not blank
    assert not list(tmp_path.glob(".view-*"))  # the temporary file was moved into place
    r = run("render", sphere_mesh, "-o", tmp_path / "one.png", "--views", "1")
    assert r.exit_code == 0, r.output
    h1, w1, _ = pixels(tmp_path / "one.png").shape
    assert 0.7 < w1 / h1 < 1.4


def test_error_colouring_against_ground_truth(sphere_mesh, tmp_path):
    truth = tmp_path / "truth.ply"
    write_mesh(trimesh.creation.icosphere(3, radius=0.5).apply_translation([0.1, 0, 0]), truth)
    assert run("render", sphere_mesh, "-o", tmp_path / "plain.png", "--views", "1").exit_code == 0
    r = run("render", sphere_mesh, "-o", tmp_path / "err.png", "--views", "1", "--gt", truth)
    assert r.exit_code == 0, r.output
    plain, err = pixels(tmp_path / "plain.png"), pixels(tmp_path / "err.png")
    assert saturated_share(plain) < 0.01
    assert saturated_share(err) > 0.1  # viridis faces and the colour bar
    assert err.shape[1] > plain.shape[1]  # the colour bar widens the figure


def test_run_directory_needs_a_mesh(tmp_path, sphere_cloud):
    from levelrecon.recon.data.io import write_points

    write_points(sphere_cloud, tmp_path / "ball.ply")
    r = run("fit", tmp_path / "ball.ply", "--iters", "3", "--width", "16", "--depth", "2", "-o", tmp_path / "r",
            "-q")
    assert r.exit_code == 0, r.output
    out = tmp_path / "r.png"
    one_line_error(run("render", tmp_path / "r", "-o", out), "levelrecon mesh")
    assert not out.exists()
    assert run("mesh", tmp_path / "r", "--resolution", "24", "-q").exit_code == 0
    r = run("render", tmp_path / "r", "-o", out, "--views", "2")
    assert r.exit_code == 0, r.output
    assert out.is_file()


def test_bad_input_one_line_and_no_output(sphere_mesh, tmp_path):
    out = tmp_path / "x.png"
    one_line_error(run("render", tmp_path / "missing.ply", "-o", out), "missing.ply", "does not exist")
    broken = tmp_path / "broken.ply"
    broken.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 100\nproperty float x\nend_header\n\x00")
    one_line_error(run("render", broken, "-o", out), "broken.ply")
    cloud = tmp_path / "cloud.xyz"
    np.savetxt(cloud, np.random.default_rng(0).normal(size=(50, 3)))
    one_line_error(run("render", cloud, "-o", out), "not a mesh")
    one_line_error(run("render", sphere_mesh, "-o", tmp_path / "x.jpg"), ".png")
    one_line_error(run("render", sphere_mesh, "-o", out, "--gt", tmp_path / "nope.ply"), "nope.ply")
    assert not out.exists() and not list(tmp_path.glob(".x-*"))


def test_no_overwrite_without_force(sphere_mesh, tmp_path):
    out = tmp_path / "view.png"
    out.write_bytes(b"keep")
    one_line_error(run("render", sphere_mesh, "-o", out, "--views", "1"), "--force")
    assert out.read_bytes() == b"keep"
    assert run("render", sphere_mesh, "-o", out, "--views", "1", "--force").exit_code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_curve_polyline_renders_as_lines(tmp_path):
    """A curve run's mesh.ply is a polyline (PLY edge element): drawn as lines, not refused as 'no triangles'."""
    from levelrecon.recon.data.io import write_polyline
    from levelrecon.viz.scene import load_scene

    t = np.linspace(0, 4 * np.pi, 400)
    verts = np.column_stack([np.cos(t), np.sin(t), 0.1 * t])
    edges = np.column_stack([np.arange(399), np.arange(1, 400)])
    write_polyline(verts, edges, tmp_path / "helix.ply")
    item = load_scene([tmp_path / "helix.ply"])[0]
    assert item.mesh is None and item.curve is not None and len(item.curve[1]) == 399
    r = run("render", tmp_path / "helix.ply", "-o", tmp_path / "helix.png", "--up", "z")
    assert r.exit_code == 0, r.output
    img = pixels(tmp_path / "helix.png")
    blue = (img[..., 2] - img[..., 0]) > 60  # the line colour
    assert 0.001 < blue.mean() < 0.2  # thin lines drawn in every panel, not a filled surface
