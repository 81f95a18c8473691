"""Feature-grid fields: initialisation, finite-difference gradients, coarse-to-fine, target pool, fitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import one_line_error, run, sphere_points
from scipy.spatial import cKDTree

from levelrecon.errors import InputError
from levelrecon.models.grid import FeatureGridField
from levelrecon.models.levelset import field_gradient
from levelrecon.models.mlp import ImplicitMLP
from levelrecon.recon.checkpoint import load_checkpoint
from levelrecon.recon.data.io import PointCloud
from levelrecon.recon.data.normalize import Normalization
from levelrecon.recon.data.targets import TargetPool
from levelrecon.recon.fit import fit_cloud
from levelrecon.recon.meshing.extract import mesh_from_source
from levelrecon.recon.methods.fields import auto_levels, build_field
from levelrecon.recon.methods.igr import IGR, IGRConfig


def test_grid_field_starts_as_a_sphere():
    torch.manual_seed(0)
    field = FeatureGridField(radius=0.5)
    x = torch.randn(500, 3) * 0.5
    f = field(x)[:, 0]
    # geometric initialisation: F ≈ ‖x‖ − r roughly: two random 64-wide layers
    corr = np.corrcoef(f.detach().numpy(), (x.norm(dim=1) - 0.5).numpy())[0, 1]
    assert corr > 0.8
    inside, outside = field(torch.zeros(1, 3)), field(torch.tensor([[1.0, 0.0, 0.0]]))
    assert inside.item() < 0 < outside.item()


def test_finite_difference_gradient_matches_autograd_on_a_grid_field():
    torch.manual_seed(0)
    field = FeatureGridField(levels=(8, 16), features=2)
    with torch.no_grad():
        for g in field.grids:
            g.normal_(0, 0.05)
        field.hidden1.weight.normal_(0, 0.3)
    x = (torch.rand(300, 3) - 0.5) * 1.6
    fd = field_gradient(field, x)
    xr = x.clone().requires_grad_(True)
    exact = torch.autograd.grad(field(xr).sum(), xr)[0]
    cos = torch.nn.functional.cosine_similarity(fd, exact, dim=1)
    assert cos.median() > 0.98
    # and the FD gradient carries parameter gradients (what the Eikonal and normal terms need)
    fd.norm(dim=1).sum().backward()
    assert all(g.grad is not None and g.grad.abs().sum() > 0 for g in field.grids)


def test_mlp_gradient_is_exact_autograd():
    torch.manual_seed(0)
    mlp = ImplicitMLP(width=32, depth=2, radius=0.5)
    x = torch.randn(50, 3)
    g = field_gradient(mlp, x)
    xr = x.clone().requires_grad_(True)
    assert torch.allclose(g, torch.autograd.grad(mlp(xr).sum(), xr)[0], atol=1e-6)


def test_coarse_to_fine_switches_levels_on_in_order():
    field = FeatureGridField(levels=(8, 16, 32, 64), coarse_to_fine=0.5)
    field.set_progress(0.0)
    assert field.level_mask.tolist() == [1, 0, 0, 0]
    assert field.fd_step == pytest.approx(1.2 / 7)
    field.set_progress(0.26)
    assert field.level_mask.tolist() == [1, 1, 1, 0]
    field.set_progress(1.0)
    assert field.level_mask.tolist() == [1, 1, 1, 1]
    assert field.fd_step == pytest.approx(1.2 / 63)


def test_plane_targets_signed_in_front_unsigned_past_the_boundary():
    g = np.linspace(-1, 1, 41)
    pts = np.stack(np.meshgrid(g, g, [0.0], indexing="ij"), -1).reshape(-1, 3)  # the square z = 0, spacing 0.05
    nrm = np.tile([0.0, 0.0, 1.0], (len(pts), 1))
    spacing = np.full(len(pts), 0.05)
    q = np.array([[0.01, 0.02, 0.03], [0.0, 0.0, -0.04], [1.3, 0.0, 0.0]])
    target, signed = TargetPool(pts, q, k=10, spacing=spacing, tree=cKDTree(pts)).targets(nrm, width=2.0)
    assert signed.tolist() == [True, True, False]
    assert target[0] == pytest.approx(0.03, abs=1e-9) and target[1] == pytest.approx(-0.04, abs=1e-9)
    assert target[2] == pytest.approx(0.3)  # beyond the edge: unsigned distance to the nearest point


def test_sphere_targets_are_exact_on_a_sphere_and_on_a_plane_where_planes_are_biased():
    rng = np.random.default_rng(0)
    pts = sphere_points(20000, seed=3)
    pool = TargetPool.around(pts, 20000, rng, box=1.5, k=30)
    true = np.linalg.norm(pool.queries, axis=1) - 1.0
    sphere, signed = pool.targets(pts, width=3.0, fit="sphere")
    plane, _ = pool.targets(pts, width=3.0, fit="plane")
    assert signed.mean() > 0.8
    assert np.abs(sphere[signed] - true[signed]).max() < 1e-9
    assert np.abs(plane[signed] - true[signed]).mean() > 1e-4  # tangent planes lie outside a convex surface
    g = np.linspace(-1, 1, 41)
    flat = np.stack(np.meshgrid(g, g, [0.0], indexing="ij"), -1).reshape(-1, 3)
    q = np.array([[0.01, 0.02, 0.03], [0.1, -0.2, -0.04]])
    target, _ = TargetPool(flat, q, k=30, spacing=np.full(len(flat), 0.05)).targets(
        np.tile([0.0, 0.0, 1.0], (len(flat), 1)), width=3.0, fit="sphere")
    assert target == pytest.approx([0.03, -0.04], abs=1e-9)


def test_auto_levels_follow_the_sample_spacing():
    """Finer levels only where the sampling supports them: a 10× denser cloud of the same sphere gets
    one more level (cells halve as the spacing shrinks by √10), never beyond 128."""
    sparse, dense = auto_levels(sphere_points(2000, 0.9, seed=0)), auto_levels(sphere_points(20000, 0.9, seed=0))
    assert sparse.startswith("16,32") and dense == sparse + "," + str(2 * int(sparse.split(",")[-1]))
    assert auto_levels(sphere_points(2_000_00, 0.9, seed=0)).endswith(",128")


def test_bad_field_options_are_input_errors():
    with pytest.raises(InputError, match="unknown field"):
        build_field(IGRConfig(field="voxels"))
    with pytest.raises(InputError, match="grid_levels"):
        build_field(IGRConfig(field="grid", grid_levels="64,32"))
    with pytest.raises(InputError, match="grid_levels"):
        build_field(IGRConfig(field="grid", grid_levels="16,x"))
    with pytest.raises(InputError, match="unknown pool_fit"):
        IGR(IGRConfig(pool_fit="quadric")).configure(sphere_points(200))


def test_igr_grid_field_fits_a_sphere_and_reloads(tmp_path):
    """IGR on a grid field with the target pool: 2,000 points with normals of a sphere (r = 0.8), 200
    steps: the mesh is closed and its radius within 1 % of the truth; the checkpoint reloads."""
    center, r = np.array([0.2, -0.1, 0.3]), 0.8
    pts = sphere_points(2000, r, seed=1, center=center)
    normals = (pts - center) / r
    over = {"field": "grid", "iters": 200, "batch": 1024, "pool_weight": 1.0, "pool_batch": 4096}
    result = fit_cloud(PointCloud(pts, normals), Path("sphere.xyz"), "igr", tmp_path / "run", overrides=over,
                       device="cpu")
    assert result.steps == 200
    mesh = mesh_from_source(tmp_path / "run", resolution=64, device="cpu").mesh
    assert mesh.is_watertight and mesh.volume > 0
    radii = np.linalg.norm(mesh.vertices - center, axis=1)
    assert abs(np.median(radii) - r) < 0.01 * r and radii.std() < 0.01
    ckpt = load_checkpoint(tmp_path / "run" / "model.pt")
    _, model = ckpt.build("cpu")
    assert isinstance(model, FeatureGridField) and model.level_mask.min() == 1  # every level on at the end
    assert ckpt.config["grid_levels"] == auto_levels(Normalization.fit(pts).apply(pts))
    assert ckpt.config["pool_fit"] == "sphere"
    # a checkpoint written before `pool_fit` existed trained on tangent-plane targets, and resumes with them
    del ckpt.config["pool_fit"]
    method, _ = ckpt.build("cpu")
    assert method.cfg.pool_fit == "plane"


def test_fit_cli_field_option(in_tmp):
    pts = sphere_points(300, 1.0, seed=3)
    np.savetxt(in_tmp / "s.xyz", pts)
    ok = run("fit", in_tmp / "s.xyz", "--field", "grid", "--iters", "3", "-o", in_tmp / "r", "-q")
    assert ok.exit_code == 0, ok.output
    assert load_checkpoint(in_tmp / "r" / "model.pt").config["field"] == "grid"
    bad = run("fit", in_tmp / "s.xyz", "--method", "poisson", "--field", "grid", "-o", in_tmp / "p", "-q")
    one_line_error(bad, "field")
    assert not (in_tmp / "p" / "surface.ply").exists()
    curve = run("fit", in_tmp / "s.xyz", "--curve", "--field", "grid", "-o", in_tmp / "c", "-q")
    one_line_error(curve, "field=mlp")


def test_reorientation_flips_normals_against_the_field_and_rebuilds_the_pool():
    """A patch of flipped normals (orientation failing on a thin tip) is turned back by the field's
    gradient; here the field is the freshly initialised sphere, whose gradient points outward."""
    pts = sphere_points(3000, 0.6, seed=2)
    normals = pts / 0.6
    cap = pts[:, 2] > 0.5
    normals[cap] *= -1
    method = IGR(IGRConfig(field="grid", pool_weight=1.0, pool_size=5))
    method.configure(pts)
    torch.manual_seed(0)
    model = method.build_model()
    method.setup(pts, normals, torch.device("cpu"), torch.Generator().manual_seed(0))
    before = method.pool[1].clone()
    method._reorient(model)
    assert method.flipped == cap.sum() > 0
    assert ((method.normals.numpy() * pts).sum(axis=1) > 0).all()
    assert not torch.equal(before, method.pool[1])


def test_auto_surface_weight_lets_nearly_noise_free_data_outweigh_the_targets():
    """A cloud without noise at its spacing gets a heavier data term (so the surface keeps the scanner's
    detail), one with 0.25 % noise keeps weight 1 (so it does not follow the noise); stored resolved."""
    from levelrecon.recon.data.normals import surface_variation
    from levelrecon.recon.methods.igr import auto_surface_weight

    rng = np.random.default_rng(0)
    clean = sphere_points(20000, 0.8, seed=4)
    diag = 0.8 * 2 * np.sqrt(3)
    assert auto_surface_weight(surface_variation(clean)) > 5
    noisy = clean + rng.normal(0, 0.0025 * diag, clean.shape)
    assert auto_surface_weight(surface_variation(noisy)) == 1.0
    method = IGR(IGRConfig())
    method.configure(noisy)
    assert method.cfg.surface_weight == 1.0
    method = IGR(IGRConfig.from_preset("mlp"))
    method.configure(clean)
    assert method.cfg.surface_weight == 1.0  # no fitted-sphere targets to outweigh


def test_auto_normal_weight_trusts_the_normals_more_on_noisier_clouds():
    """Noise of 0.25 % of the diagonal keeps the normal term light; 1 % makes it (nearly) full, and the choice is
    stored in the resolved config (what the checkpoint records)."""
    from levelrecon.recon.data.normals import surface_variation
    from levelrecon.recon.methods.igr import auto_normal_weight

    rng = np.random.default_rng(0)
    clean = sphere_points(20000, 0.8, seed=4)
    diag = 0.8 * 2 * np.sqrt(3)
    light = auto_normal_weight(surface_variation(clean + rng.normal(0, 0.0025 * diag, clean.shape)))
    full = auto_normal_weight(surface_variation(clean + rng.normal(0, 0.01 * diag, clean.shape)))
    assert light == pytest.approx(0.1) and full > 0.85
    method = IGR(IGRConfig())
    method.configure(clean)
    assert method.cfg.normal_weight == pytest.approx(0.1) and method.cfg.grid_levels != "auto"
