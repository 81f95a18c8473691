"""Newton projection and the sample network (paper 1, §2) on analytic and tiny networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from levelrecon.models.levelset import (
    newton_direction,
    newton_steps,
    project_to_level,
    sample_network,
    sample_network_at_own_level,
    value_and_jacobian,
)
from levelrecon.models.losses import distance_to_level_loss, orthonormal_frame_loss, smooth_abs, tangent_fairness_loss
from levelrecon.models.mlp import ImplicitMLP
from levelrecon.recon.data.normals import local_plane_fit, local_surface_variation
from levelrecon.recon.methods.levelset import LevelSet, LevelSetConfig


@pytest.fixture(autouse=True)
def _float64():
    """Exact-arithmetic checks run in float64; the default is restored for the other test modules."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def test_affine_projection_is_exact_and_orthogonal():
    """Lemma 1: for F(x) = a·x + b one Newton step lands on {F = c} along the normal a."""
    a, b, c = torch.tensor([1.0, -2.0, 0.5]), 0.3, 0.7
    field = lambda x: x @ a + b  # noqa: E731
    x = torch.randn(100, 3)
    p, level, converged = project_to_level(field, x, c, max_iter=1)
    torch.testing.assert_close(field(p), torch.full((100,), c))
    assert converged.all() and torch.allclose(level[:, 0], torch.full((100,), c))
    moved = p - x
    cos = (moved @ a).abs() / (moved.norm(dim=1) * a.norm())
    torch.testing.assert_close(cos, torch.ones(100))  # displacement parallel to the normal
    # it is the closest point of the plane: distance = |F(x) - c| / |a|
    torch.testing.assert_close(moved.norm(dim=1), (field(x) - c).abs() / a.norm())


def test_sphere_sdf_converges_in_one_step():
    field = lambda x: x.norm(dim=1) - 0.5  # noqa: E731
    x = torch.randn(200, 3) * 2
    p, _, converged = project_to_level(field, x, 0.0, max_iter=1)
    torch.testing.assert_close(p.norm(dim=1), torch.full((200,), 0.5))
    assert converged.all()
    torch.testing.assert_close(p / p.norm(dim=1, keepdim=True), x / x.norm(dim=1, keepdim=True))


def test_projection_onto_intersection_of_two_planes():
    """Two outputs: the pseudo-inverse step lands on the line {F1 = 0} ∩ {F2 = 0}, at its closest point."""
    A = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    b = torch.tensor([0.2, -0.4])
    field = lambda x: x @ A.T + b  # noqa: E731
    x = torch.randn(50, 3)
    p, level, converged = project_to_level(field, x, 0.0, max_iter=1)
    torch.testing.assert_close(field(p), torch.zeros(50, 2), atol=1e-5, rtol=0)
    assert converged.all()
    direction = torch.linalg.cross(A[0], A[1])
    # the displacement is orthogonal to the line's direction (closest point)
    torch.testing.assert_close((p - x) @ direction, torch.zeros(50), atol=1e-5, rtol=0)


def test_orthonormal_frame_loss_is_zero_only_for_unit_orthogonal_gradients():
    """Unit normals at right angles score 0; unit normals at angle cos score 2 cos²; one gradient of length 2, 9."""
    _, jac = value_and_jacobian(lambda x: x[:, :2] * torch.tensor([1.0, 1.0]), torch.randn(20, 3))
    assert orthonormal_frame_loss(jac).item() == pytest.approx(0.0, abs=1e-10)
    a, cos = torch.tensor([1.0, 0.0, 0.0]), 0.9
    b = torch.tensor([cos, (1 - cos**2) ** 0.5, 0.0])  # unit, but nearly parallel to a
    jac = torch.stack([a, b])[None].expand(5, 2, 3)
    assert orthonormal_frame_loss(jac).item() == pytest.approx(2 * cos**2)  # the two off-diagonal entries
    assert orthonormal_frame_loss(2 * torch.eye(3)[None, :1]).item() == pytest.approx(9.0)  # (‖∇F‖² − 1)²


def test_smooth_abs_is_quadratic_inside_the_band_and_l1_beyond():
    """Below β a residual r costs r²/2β (its pull shrinks with it); beyond, |r| − β/2 (the L1 slope, joined
    with a continuous value and slope at β); β = 0 is the paper's L1."""
    r = torch.tensor([-0.3, -0.004, 0.0, 0.002, 0.01, 0.5])
    torch.testing.assert_close(smooth_abs(r, 0.0), r.abs())
    beta = 0.01
    expected = torch.where(r.abs() < beta, r**2 / (2 * beta), r.abs() - beta / 2)
    torch.testing.assert_close(smooth_abs(r, beta), expected)
    r.requires_grad_(True)
    smooth_abs(r, beta).sum().backward()
    torch.testing.assert_close(r.grad, torch.clamp(r.detach() / beta, -1.0, 1.0))


def test_distance_to_level_loss_compares_distance_with_the_level_magnitude():
    """A sample of level ±t at distance t from the cloud costs nothing, with or without the smooth band."""
    dist, level = torch.tensor([0.2, 0.2, 0.05]), torch.tensor([0.2, -0.2, 0.0])
    assert distance_to_level_loss(dist, level).item() == pytest.approx(0.05 / 3)
    assert distance_to_level_loss(dist, level, beta=0.01).item() == pytest.approx((0.05 - 0.005) / 3)
    assert distance_to_level_loss(dist[:2], level[:2], beta=0.01).item() == pytest.approx(0.0)


def test_tangent_fairness_spares_spheres_and_planes_and_charges_wiggles():
    """The third difference along a tangent line is zero for any profile even in s (a sphere's, a plane's)
    and of the order of a wiggle's amplitude for a surface rippling at the step's scale; weight 0 exempts."""
    gen = torch.Generator().manual_seed(0)
    p = torch.nn.functional.normalize(torch.randn(256, 3, generator=gen), dim=-1) * 0.5

    def sphere(x: torch.Tensor) -> torch.Tensor:
        return (x.norm(dim=-1) - 0.5)[:, None]

    assert tangent_fairness_loss(sphere, p, p / 0.5, 0.05, gen).item() < 1e-12
    amplitude, k = 0.01, 30.0

    def ripple(x: torch.Tensor) -> torch.Tensor:
        return (x[:, 2] - amplitude * torch.sin(k * x[:, 0]))[:, None]

    xy = torch.rand(256, 2, generator=gen) - 0.5
    q = torch.stack([xy[:, 0], xy[:, 1], amplitude * torch.sin(k * xy[:, 0])], dim=-1)
    up = torch.tensor([0.0, 0.0, 1.0]).expand(256, 3)
    plane = tangent_fairness_loss(lambda x: x[:, 2:], q, up, 0.05, gen)
    rippled = tangent_fairness_loss(ripple, q, up, 0.05, gen)
    assert plane.item() < 1e-12 and rippled.item() > 0.1 * amplitude
    assert tangent_fairness_loss(ripple, q, up, 0.05, gen, torch.zeros(256)).item() == 0.0


def test_local_surface_variation_marks_the_crease_of_two_planes():
    """Points on two perpendicular half-planes: flat far from the shared edge, high beside it (what the
    fairness gate of `levelset` leaves out)."""
    rng = np.random.default_rng(0)
    u = rng.uniform(0, 1, (2000, 2))
    points = np.concatenate([np.c_[u[:1000, 0], u[:1000, 1], np.zeros(1000)],
                             np.c_[np.zeros(1000), u[1000:, 1], u[1000:, 0]]])
    variation = local_surface_variation(points, k=10)
    to_edge = np.maximum(points[:, 0], points[:, 2])
    edge, far = to_edge < 0.01, to_edge > 0.3
    assert np.median(variation[far]) < 1e-6
    assert np.median(variation[edge]) > 0.01
    fitted, normals = local_plane_fit(points, k=10)
    np.testing.assert_array_equal(fitted, variation)
    own_axis = np.where(np.arange(2000) < 1000, 2, 0)  # each half-plane's normal: z, then x
    assert np.abs(normals[far, own_axis[far]]).min() > 0.999


def test_levelset_fairness_skips_a_zero_set_crossing_the_data_patches():
    """Samples of a zero set that crosses the cloud's patches (a rippled sheet x ≈ 0 over points of the flat
    plane z = 0, as a sheet bridging a pocket meets the pocket's walls) are left out by `fair_align`, and
    charged without it."""
    torch.set_default_dtype(torch.float32)
    rng = np.random.default_rng(0)
    points = np.c_[rng.uniform(-0.5, 0.5, (400, 2)), rng.normal(0, 1e-3, 400)]

    def ripple(x: torch.Tensor) -> torch.Tensor:
        return (x[:, 0] - 0.01 * torch.sin(30 * x[:, 1]))[:, None]

    y = torch.rand(256, generator=torch.Generator().manual_seed(1)) - 0.5
    q = torch.stack([0.01 * torch.sin(30 * y), y, torch.zeros(256)], dim=-1)
    _, jac = value_and_jacobian(ripple, q)
    charged = {}
    for align in (0.9, 0.0):
        method = LevelSet(LevelSetConfig.from_preset("cpu", fair_weight=1.0, fair_gate=0.0, fair_align=align))
        method.setup(points, None, torch.device("cpu"), torch.Generator().manual_seed(0))
        assert method.use_fair
        charged[align] = method._fairness(ripple, q, jac.detach()).item()
    assert charged[0.9] == 0.0 and charged[0.0] > 1e-4


def _first_loss(points: np.ndarray, **options: float) -> tuple[LevelSet, torch.Tensor, dict[str, float]]:
    """The levelset loss of the first step on `points`, from a fixed initialization and generator."""
    torch.set_default_dtype(torch.float32)  # as in training; the module's fixture restores it afterwards
    method = LevelSet(LevelSetConfig.from_preset("cpu", batch=256, **options))
    torch.manual_seed(0)
    model = method.build_model()
    method.setup(points, None, torch.device("cpu"), torch.Generator().manual_seed(0))
    loss, logs = method.loss(model, 0)
    loss.backward()
    return method, loss, logs


def test_levelset_fairness_term_trains_and_its_gate_can_exempt_every_sample():
    """With fair_weight on, a step of the levelset loss logs a positive fairness value on a noisy sphere
    (flat 10-neighbour patches); a relative gate below every point's surface variation exempts all samples."""
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 3))
    points = 0.6 * points / np.linalg.norm(points, axis=1, keepdims=True) + rng.normal(0, 0.01, (500, 3))
    _, loss, logs = _first_loss(points, fair_start=0.0)
    assert torch.isfinite(loss) and logs["fair"] > 0
    method, _, logs = _first_loss(points, fair_start=0.0, fair_gate=1e-9)
    assert not method.use_fair and "fair" not in logs


def test_levelset_fairness_waits_for_fair_start():
    """Before `fair_start` × iters steps (by default half of them) the term is not evaluated: the first step's
    loss is exactly that of training without it (the same random draws), and the logged fairness is 0."""
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 3))
    points = 0.6 * points / np.linalg.norm(points, axis=1, keepdims=True) + rng.normal(0, 0.01, (500, 3))
    method, late, logs = _first_loss(points)
    assert method.use_fair and logs["fair"] == 0.0
    _, plain, _ = _first_loss(points, fair_weight=0.0)
    _, early, _ = _first_loss(points, fair_start=0.0)
    assert late.item() == plain.item() != early.item()


def test_levelset_fairness_stays_off_where_neighbourhoods_span_a_thin_wall():
    """500 points on a cup whose wall (0.08) is thinner than the sample spacing (0.11–0.13), like the real
    mug scan: no 10-neighbour patch is one sheet, so even with fair_weight=1 the term is off and the loss is
    exactly that of fair_weight=0 (the same training)."""
    angle, height = (g.ravel() for g in np.meshgrid(np.linspace(0, 2 * np.pi, 25, endpoint=False),
                                                    np.linspace(-0.5, 0.5, 10)))
    outer = np.c_[0.5 * np.cos(angle), 0.5 * np.sin(angle), height]
    shifted = angle + np.pi / 25  # the inner wall's samples sit between the outer ones
    points = np.r_[outer, np.c_[0.42 * np.cos(shifted), 0.42 * np.sin(shifted), height + 0.05]]
    assert local_surface_variation(points, k=10).min() > 0.05
    method, loss, logs = _first_loss(points, fair_start=0.0)
    assert not method.use_fair and "fair" not in logs
    _, plain, _ = _first_loss(points, fair_weight=0.0)
    assert loss.item() == plain.item()


def test_failed_points_keep_their_level():
    field = lambda x: x.norm(dim=1) ** 2 + 1.0  # noqa: E731  (never reaches 0)
    x = torch.randn(10, 3)
    p, level, converged = project_to_level(field, x, 0.0, max_iter=3)
    assert not converged.any()
    torch.testing.assert_close(level[:, 0], field(p))


def test_step_scale_and_bounds_for_ocsdf_style_steps():
    """Random per-sample step sizes and the clip to the domain (OCSDF Algorithm 1)."""
    field = lambda x: x[:, 0] - 5.0  # noqa: E731  level set outside the box
    x = torch.zeros(20, 3)
    eta = torch.linspace(0, 1, 20)
    p, _, _ = project_to_level(field, x, 0.0, max_iter=4, tol=None, step_scale=eta / 4, bounds=(-1.0, 1.0))
    assert p.abs().max() <= 1.0
    assert p[0, 0] == 0 and p[-1, 0] == 1.0  # η = 0 stays, η = 1 would leave the box and is clipped


def test_sample_network_value_and_theta_derivative():
    """p(θ) equals p in value, and dp/dθ = -∇F/‖∇F‖² · ∂F/∂θ (paper Eq. 8), checked by finite differences."""
    torch.manual_seed(0)
    model = ImplicitMLP(width=8, depth=2, activation="softplus", beta=10.0)
    x = torch.randn(5, 3) * 0.6
    p, level, _ = project_to_level(model, x, 0.0, max_iter=20, tol=1e-10)
    p_theta = sample_network(model, p, level[:, 0])
    torch.testing.assert_close(p_theta.detach(), p)
    w = model.layers[1].weight
    # analytic: d p_theta[k, :] / d w[0, 0] via autograd through the sample network
    grads = [torch.autograd.grad(p_theta[k, j], w, retain_graph=True)[0][0, 0]
             for k in range(5) for j in range(3)]
    analytic = torch.stack(grads).reshape(5, 3)
    # finite differences: perturb w, re-project the same points onto the zero level from p
    eps = 1e-6
    with torch.no_grad():
        w[0, 0] += eps
    p_plus, _, _ = project_to_level(model, p, 0.0, max_iter=30, tol=1e-13)
    with torch.no_grad():
        w[0, 0] -= 2 * eps
    p_minus, _, _ = project_to_level(model, p, 0.0, max_iter=30, tol=1e-13)
    with torch.no_grad():
        w[0, 0] += eps
    # Newton moves along the normal, so the finite difference measures the normal component of dp/dθ,
    # which is what Eq. 8 gives (the tangential part is not determined by the level set).
    _, jac = value_and_jacobian(model, p)
    n = jac[:, 0, :] / jac[:, 0, :].norm(dim=1, keepdim=True)
    fd_normal = (((p_plus - p_minus) / (2 * eps)) * n).sum(dim=1)
    an_normal = (analytic * n).sum(dim=1)
    torch.testing.assert_close(an_normal, fd_normal, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(analytic, an_normal[:, None] * n)  # Eq. 8: purely normal


def test_sample_network_at_own_level_is_the_three_pass_form_in_one():
    """Off the zero set (points that keep their own level c = F(p)), the one-pass form gives the levels and
    Jacobians of separate evaluations and a p(θ) with the same value and the same derivative in θ."""
    torch.manual_seed(1)
    model = ImplicitMLP(width=16, depth=3, activation="softplus", beta=10.0).double()
    p = newton_steps(model, torch.randn(40, 3, dtype=torch.float64) * 0.7, 0.0, max_iter=1)
    p_theta, level, jac = sample_network_at_own_level(model, p)
    f_ref, jac_ref = value_and_jacobian(model, p)
    torch.testing.assert_close(level, f_ref)
    torch.testing.assert_close(jac, jac_ref)
    assert level.abs().max() > 1e-3  # one Newton step: the points sit on levels of their own, not on 0
    ref = sample_network(model, p, f_ref[:, 0], jac_ref)
    torch.testing.assert_close(p_theta.detach(), p)
    w = model.layers[1].weight
    weights = torch.randn(40, 3, dtype=torch.float64)
    g_one = torch.autograd.grad((p_theta * weights).sum(), w)[0]
    g_ref = torch.autograd.grad((ref * weights).sum(), w)[0]
    torch.testing.assert_close(g_one, g_ref)
    assert g_one.abs().max() > 0


def test_project_to_level_is_newton_steps_then_an_evaluation():
    torch.manual_seed(2)
    model = ImplicitMLP(width=16, depth=3)
    x = torch.randn(30, 3)
    p, level, converged = project_to_level(model, x, 0.0, max_iter=3)
    torch.testing.assert_close(p, newton_steps(model, x, 0.0, max_iter=3))
    torch.testing.assert_close(level, model(p).detach())
    assert torch.equal(converged, level[:, 0].abs() < 1e-5)


def test_newton_direction_rejects_nothing_on_flat_gradient():
    """A vanishing gradient is clamped (‖∇F‖² ≥ 1e-6), so the step stays finite."""
    f = torch.ones(4, 1)
    jac = torch.zeros(4, 1, 3)
    assert torch.isfinite(newton_direction(f, jac, 0.0)).all()


def test_geometric_init_is_a_sphere():
    torch.manual_seed(0)
    model = ImplicitMLP(width=128, depth=4, radius=0.5).double()
    x = torch.randn(500, 3)
    x = x / x.norm(dim=1, keepdim=True) * torch.rand(500, 1) * 1.5
    with torch.no_grad():
        f = model(x)[:, 0]
    r = x.norm(dim=1)
    assert (f[r < 0.3] < 0).all() and (f[r > 0.8] > 0).all()  # inside negative, outside positive
    assert float((f - (r - 0.5)).abs().mean()) < 0.2  # ≈ ‖x‖ − r up to the random-feature noise


def test_skip_connection_keeps_init_and_changes_nothing_else():
    torch.manual_seed(0)
    model = ImplicitMLP(width=64, depth=4, skip=(2,))
    assert model.layers[2].in_features == 64 + 3
    assert isinstance(model.layers[0], nn.Linear)
    assert np.isfinite(model(torch.zeros(3, 3)).detach().numpy()).all()
