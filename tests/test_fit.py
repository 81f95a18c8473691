"""Training end to end on analytic shapes: accuracy, reproducibility, clean interruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import sphere_points

from levelrecon.recon import runs
from levelrecon.recon.checkpoint import load_checkpoint
from levelrecon.recon.data.io import PointCloud
from levelrecon.recon.fit import fit_cloud
from levelrecon.recon.meshing.extract import mesh_from_source
from levelrecon.recon.metrics import SurfaceSamples, compare

SMALL = {"iters": 300, "batch": 2048, "width": 64, "depth": 3, "lr": 2e-3}


def test_sal_recovers_a_sphere(tmp_path):
    """SAL on 2,000 points of a sphere (r = 0.8): the mesh is closed and within 1 % of the diagonal."""
    center, r = np.array([0.2, -0.1, 0.3]), 0.8
    pts = sphere_points(2000, r, seed=1, center=center)
    result = fit_cloud(PointCloud(pts), Path("sphere.xyz"), "sal", tmp_path / "run", overrides=SMALL,
                       device="cpu")
    assert result.steps == 300 and not result.interrupted
    mesh = mesh_from_source(tmp_path / "run", resolution=64, device="cpu").mesh
    assert mesh.is_watertight and mesh.volume > 0
    truth = SurfaceSamples(sphere_points(30000, r, seed=2, center=center), None, "points")
    metrics = compare(SurfaceSamples.from_mesh(mesh, 30000), truth)
    assert metrics["chamfer_l1_rel"] < 0.01, metrics
    radii = np.linalg.norm(mesh.vertices - center, axis=1)
    assert abs(np.median(radii) - r) < 0.02


def test_same_seed_same_weights(tmp_path, sphere_cloud):
    cfg = {**SMALL, "iters": 15}
    for name in ("a", "b"):
        fit_cloud(PointCloud(sphere_cloud), Path("s.xyz"), "sal", tmp_path / name, overrides=cfg, device="cpu")
    a = load_checkpoint(tmp_path / "a" / runs.CHECKPOINT).state_dict
    b = load_checkpoint(tmp_path / "b" / runs.CHECKPOINT).state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)
    fit_cloud(PointCloud(sphere_cloud), Path("s.xyz"), "sal", tmp_path / "c", overrides={**cfg, "seed": 1},
              device="cpu")
    c = load_checkpoint(tmp_path / "c" / runs.CHECKPOINT).state_dict
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_stop_request_keeps_a_valid_checkpoint(tmp_path, sphere_cloud):
    """What Ctrl-C does: stop between steps, save that step, mark the run interrupted."""
    seen = []
    result = fit_cloud(PointCloud(sphere_cloud), Path("s.xyz"), "sal", tmp_path / "r",
                       overrides={**SMALL, "iters": 200}, device="cpu",
                       on_step=lambda step, total, logs: seen.append(step), should_stop=lambda: len(seen) >= 7)
    assert result.interrupted and result.steps == 7
    ckpt = load_checkpoint(tmp_path / "r" / runs.CHECKPOINT)
    assert ckpt.step == 7
    assert runs.read_run_info(tmp_path / "r")["status"] == "interrupted"
    method, model = ckpt.build()
    assert torch.isfinite(model(torch.zeros(4, 3))).all()


def test_cuda_request_without_cuda_is_a_clear_error(tmp_path, sphere_cloud):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    from levelrecon.errors import InputError

    with pytest.raises(InputError, match="no CUDA device"):
        fit_cloud(PointCloud(sphere_cloud), Path("s.xyz"), "sal", tmp_path / "r", device="cuda")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("method", ["sal", "igr", "levelset", "ocsdf", "poisson"])
def test_presets_resolve_and_options_override(method):
    from levelrecon.errors import InputError
    from levelrecon.recon.methods.registry import get_method

    cfg_cls = get_method(method).Config
    cpu, paper = cfg_cls.from_preset("cpu"), cfg_cls.from_preset("paper")
    assert cpu != paper  # the paper preset changes something for every method
    if method != "poisson":
        assert paper.width * paper.depth > cpu.width * cpu.depth  # GPU-sized networks
        assert cfg_cls.from_preset("paper", iters=7).iters == 7
        assert cfg_cls.from_preset("cpu", iters=None).iters == cpu.iters  # unset CLI options keep the preset
    with pytest.raises(InputError, match="unknown preset"):
        cfg_cls.from_preset("huge")
