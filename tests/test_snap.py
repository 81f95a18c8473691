"""Snapping a field's mesh onto a nearly noise-free cloud (recon/meshing/snap.py)."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from conftest import one_line_error, run, sphere_points

import levelrecon
from levelrecon.errors import InputError
from levelrecon.recon.meshing.snap import auto_snap, snap_to_points


def radial_error(mesh: trimesh.Trimesh, radius: float = 1.0) -> float:
    return float(np.abs(np.linalg.norm(mesh.vertices, axis=1) - radius).mean())


def test_an_offset_sphere_lands_on_its_samples_and_stays_closed():
    points = sphere_points(8000, seed=3)
    mesh = trimesh.creation.icosphere(4, radius=1.02)
    snapped, moved = snap_to_points(mesh, points)
    # vertices in front of a sample (within half a spacing along the surface) move: most of them
    changed = np.linalg.norm(snapped.vertices - mesh.vertices, axis=1) > 0
    assert moved == changed.sum() > 0.75 * len(mesh.vertices)
    assert radial_error(mesh) == pytest.approx(0.02, rel=1e-3)
    on_sphere = np.abs(np.linalg.norm(snapped.vertices[changed], axis=1) - 1.0)
    assert on_sphere.mean() < 0.001  # APSS of exact samples: the sphere itself
    assert np.array_equal(snapped.faces, mesh.faces) and snapped.is_watertight


def test_moves_stop_at_the_sample_spacing():
    """A vertex the samples put far off is moved at most one median spacing (no spikes toward outliers)."""
    points = sphere_points(8000, seed=3)
    mesh = trimesh.creation.icosphere(4, radius=1.0)
    sparse_cap = points[:, 2] < 0.9  # thin the samples near the pole: their spacing grows there
    points = np.concatenate([points[sparse_cap], points[~sparse_cap][::20]])
    spacing = np.median(np.sort(np.linalg.norm(points[:200, None] - points[None], axis=2), axis=1)[:, 6])
    snapped, _ = snap_to_points(mesh, points)
    assert np.linalg.norm(snapped.vertices - mesh.vertices, axis=1).max() <= spacing * 1.001


def test_auto_snap_wants_dense_noise_free_clouds():
    clean = sphere_points(8000, seed=1)
    noisy = clean + np.random.default_rng(0).normal(0, 0.005 * 2 * 3**0.5, clean.shape)  # 0.5 % of the diagonal
    assert auto_snap(clean)
    assert not auto_snap(noisy)
    assert not auto_snap(clean[:3000])  # sparse: the levelset default meshes those


def test_default_mesh_snaps_a_noise_free_cloud_closer_to_the_truth(tmp_path):
    model = levelrecon.fit(sphere_points(8000, seed=2), iters=60, seed=0, run_dir=tmp_path / "run")
    plain, snapped = model.extract(64, snap="off"), model.extract(64)
    assert plain.snapped == 0 and snapped.snapped > 0.75 * len(snapped.mesh.vertices)
    assert radial_error(snapped.mesh) < 0.5 * radial_error(plain.mesh)
    assert snapped.mesh.is_watertight
    with pytest.raises(InputError, match="unknown snap"):
        model.extract(64, snap="yes")
    result = run("mesh", tmp_path / "run", "--snap", "yes")
    assert result.exit_code == 2 and "--snap" in result.stderr
    one_line_error(run("mesh", tmp_path / "missing", "--snap", "on"), "missing")
