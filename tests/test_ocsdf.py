"""OCSDF: 1-Lipschitz networks, the HKR loss, negative sampling, reconstruction and certified adaptive meshing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import trimesh
from click.testing import CliRunner
from conftest import sphere_points
from torch import nn

from levelrecon.cli.main import cli
from levelrecon.models.lipschitz import lipschitz_bound, lipschitz_mlp, refresh_weights
from levelrecon.models.losses import hkr_loss
from levelrecon.models.ocsdf import NegativeSampler, ocsdf_step_loss
from levelrecon.recon.checkpoint import load_checkpoint
from levelrecon.recon.data.io import write_points
from levelrecon.recon.meshing.adaptive import extract_adaptive
from levelrecon.recon.meshing.marching import clean, evaluate_grid, extract_mesh, torch_field

TINY = ["--iters", "60", "--batch", "512", "--width", "32", "--depth", "2"]


def empirical_lipschitz(model: nn.Module, dim: int, steps: int = 150, n: int = 128, seed: int = 0) -> float:
    """Lower bound on the Lipschitz constant by gradient ascent on |F(x) − F(y)| / ‖x − y‖ over pairs,
    together with the largest ‖∇F‖ met on the way (‖∇F‖ itself is piecewise constant for sorting
    activations, so the pair quotient is what the ascent climbs)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g).requires_grad_(True)
    y = (x.detach() + 0.3 * torch.randn(n, dim, generator=g)).requires_grad_(True)
    opt = torch.optim.Adam([x, y], lr=0.02)
    best = 0.0
    for _ in range(steps):
        fx, fy = model(x)[:, 0], model(y)[:, 0]
        quotient = (fx - fy).abs() / (x - y).norm(dim=1).clamp_min(1e-6)
        grad = torch.autograd.grad(fx.sum(), x, retain_graph=True)[0]
        best = max(best, float(quotient.detach().max()), float(grad.norm(dim=1).max()))
        opt.zero_grad()
        (-quotient.sum()).backward()
        opt.step()
    return best


def train_briefly(model: nn.Module, points: torch.Tensor, steps: int = 40, seed: int = 0) -> None:
    sampler = NegativeSampler((-1.2, 1.2), steps=2)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for step in range(steps):
        loss, _ = ocsdf_step_loss(model, points, sampler, gen, warm=step < 10, margin=0.05, lam=100.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    refresh_weights(model)
    model.eval()


@pytest.mark.parametrize("activation", ["groupsort2", "fullsort"])
def test_lipschitz_at_most_one_at_init_and_after_training(activation):
    torch.manual_seed(0)
    model = lipschitz_mlp(3, 16, 3, activation)
    refresh_weights(model)
    model.eval()
    assert lipschitz_bound(model) <= 1 + 1e-4
    assert empirical_lipschitz(model, 3) <= 1 + 1e-3
    train_briefly(model, torch.as_tensor(sphere_points(256, 0.6), dtype=torch.float32))
    bound = lipschitz_bound(model)
    assert 0.9 < bound <= 1 + 1e-4  # orthogonal layers: the bound is tight, not vacuous
    assert empirical_lipschitz(model, 3) <= bound + 1e-3


def test_bound_and_ascent_detect_a_non_lipschitz_network():
    """Control for the two checks above: on a network with known spectral norm 3 both report ≈ 3."""
    lin1, lin2 = nn.Linear(2, 2), nn.Linear(2, 1)
    with torch.no_grad():
        lin1.weight.copy_(torch.diag(torch.tensor([3.0, 0.5])))
        lin2.weight.copy_(torch.tensor([[1.0, 0.0]]))
    model = nn.Sequential(lin1, nn.ReLU(), lin2)
    assert lipschitz_bound(model) == pytest.approx(3.0)
    assert empirical_lipschitz(model, 2) == pytest.approx(3.0, rel=1e-3)
    with pytest.raises(ValueError, match="cannot bound"):
        lipschitz_bound(nn.Sequential(nn.Linear(2, 2), nn.Tanh()))


def test_hkr_loss_matches_its_formula():
    f_pos, f_neg = torch.tensor([0.0, 0.1]), torch.tensor([0.2])
    m, lam = 0.05, 100.0
    ell = [max(0.0, m - y) - y / lam for y in (0.0, 0.1)]
    expected = np.mean(ell) + (max(0.0, m + 0.2) + 0.2 / lam)
    assert float(hkr_loss(f_pos, f_neg, m, lam)) == pytest.approx(expected)
    with pytest.raises(ValueError):
        hkr_loss(f_pos[:, None], f_neg)


def test_hkr_on_separable_1d_data_puts_the_boundary_between_the_classes():
    torch.manual_seed(0)
    pos = torch.linspace(0.5, 1.0, 64)[:, None]
    neg = torch.linspace(-1.0, -0.5, 64)[:, None]
    model = lipschitz_mlp(1, 16, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        loss = hkr_loss(model(pos)[:, 0], model(neg)[:, 0], margin=0.05, lam=100.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    refresh_weights(model)
    model.eval()
    with torch.no_grad():
        assert (model(pos) > 0).all() and (model(neg) < 0).all()
        xs = torch.linspace(-1, 1, 401)[:, None]
        f = model(xs)[:, 0]
    crossings = xs[1:, 0][torch.sign(f[1:]) != torch.sign(f[:-1])]
    assert len(crossings) == 1 and -0.5 < float(crossings[0]) < 0.5


def test_negatives_move_toward_the_level_set_and_stay_in_the_box():
    torch.manual_seed(1)
    model = lipschitz_mlp(3, 16, 2)
    train_briefly(model, torch.as_tensor(sphere_points(256, 0.5), dtype=torch.float32))
    level, box = 0.0, (-1.0, 1.0)
    sampler = NegativeSampler(box, steps=4, level=level)
    start = sampler(model, 2000, torch.Generator().manual_seed(3), steps=0)  # same draws, no Newton steps
    moved = sampler(model, 2000, torch.Generator().manual_seed(3))
    assert moved.min() >= box[0] and moved.max() <= box[1]
    with torch.no_grad():
        d0 = (model(start)[:, 0] - level).abs()
        d1 = (model(moved)[:, 0] - level).abs()
    assert float(d1.mean()) < 0.8 * float(d0.mean())
    assert float((d1 <= d0 + 1e-4).float().mean()) > 0.95
    assert not moved.requires_grad and not model.training  # handed back in the mode it came in


def test_certified_adaptive_meshing_gives_the_dense_mesh():
    torch.manual_seed(0)
    model = lipschitz_mlp(3, 16, 2)
    train_briefly(model, torch.as_tensor(sphere_points(512, 0.6), dtype=torch.float32), steps=60)
    field = torch_field(model)
    bound = lipschitz_bound(model)
    for resolution in (9, 24, 41):  # 9: a single level of 2-cell blocks
        dense = evaluate_grid(field, resolution)
        level = float(np.quantile(dense, 0.9))
        mesh, stats = extract_adaptive(field, resolution, level, inside="positive", lipschitz=bound, coarse=4)
        assert stats.evaluations < resolution**3 or resolution == 9  # tiny grids: nearly every node is needed
        a = clean(extract_mesh(dense, level, inside="positive"))
        b = clean(mesh)
        assert len(a.faces) == len(b.faces)
        np.testing.assert_allclose(np.sort(a.vertices, axis=0), np.sort(b.vertices, axis=0), atol=1e-6)


def test_fit_and_mesh_through_the_cli(in_tmp):
    write_points(sphere_points(1500, 0.7, seed=2), "ball.ply")
    runner = CliRunner()
    r = runner.invoke(cli, ["fit", "ball.ply", "--method", "ocsdf", *TINY, "-o", "run", "--json", "-"])
    assert r.exit_code == 0, r.output
    info = json.loads((in_tmp / "run" / "run.json").read_text())
    level = info["extra"]["level"]
    assert info["extra"]["lipschitz"] <= 1 + 1e-4
    # the stored level is the configured quantile of F over the (normalized) input points
    ckpt = load_checkpoint(in_tmp / "run" / "model.pt")
    method, model = ckpt.build()
    pts = torch.as_tensor(ckpt.normalization.apply(np.load(in_tmp / "run" / "input.npy")), dtype=torch.float32)
    with torch.no_grad():
        f = model(pts)[:, 0]
    assert level == pytest.approx(float(torch.quantile(f, method.cfg.level_quantile)), abs=1e-5)
    r = runner.invoke(cli, ["mesh", "run", "--resolution", "32", "-o", "shell.ply"])
    assert r.exit_code == 0, r.output
    assert f"at level {level:g}" in r.stderr
    shell = trimesh.load(in_tmp / "shell.ply", process=False)
    dense = clean(extract_mesh(evaluate_grid(torch_field(model), 32), level, inside="positive"))
    dense.vertices = ckpt.normalization.invert(dense.vertices)
    assert len(shell.faces) == len(dense.faces)
    np.testing.assert_allclose(np.sort(shell.vertices, axis=0), np.sort(dense.vertices, axis=0), atol=1e-5)
