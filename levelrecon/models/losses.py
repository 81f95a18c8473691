"""Reconstruction losses as plain functions of tensors (and, for the fairness term, of the field)."""

from __future__ import annotations

from collections.abc import Callable

import torch


def sal_loss(f: torch.Tensor, unsigned_dist: torch.Tensor) -> torch.Tensor:
    """SAL: mean | |F(x)| − h(x) |, f and unsigned_dist (n,)."""
    if f.shape != unsigned_dist.shape:
        raise ValueError(f"shape mismatch: F {tuple(f.shape)} vs h {tuple(unsigned_dist.shape)}")
    return (f.abs() - unsigned_dist).abs().mean()


def hkr_loss(f_pos: torch.Tensor, f_neg: torch.Tensor, margin: float = 0.05, lam: float = 100.0) -> torch.Tensor:
    """Hinge-Kantorovich-Rubinstein loss of OCSDF, F > 0 on the positives (the data).

    ℓ(y) = relu(m − y) − y/λ; loss = mean ℓ(F(P)) + mean ℓ(−F(Q)). The hinge asks for a margin m on both
    sides; the KR term (weight 1/λ) pushes F up on P and down on Q, which with a 1-Lipschitz F makes F
    approach the signed distance to the boundary of the data support.
    """
    if f_pos.dim() != 1 or f_neg.dim() != 1:
        raise ValueError(f"expected 1-D tensors, got F(P) {tuple(f_pos.shape)} and F(Q) {tuple(f_neg.shape)}")
    if margin <= 0 or lam <= 0:
        raise ValueError(f"margin and lam must be positive, got margin={margin}, lam={lam}")

    def ell(y: torch.Tensor) -> torch.Tensor:
        return torch.relu(margin - y) - y / lam

    return ell(f_pos).mean() + ell(-f_neg).mean()


def eikonal_loss(grad: torch.Tensor) -> torch.Tensor:
    """IGR: mean (‖∇F‖ − 1)², grad (n, 3)."""
    return ((grad.norm(dim=-1) - 1.0) ** 2).mean()


def normal_loss(grad: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    """IGR: mean ‖∇F(x) − n(x)‖ on the data points, both (n, 3)."""
    return (grad - normals).norm(dim=-1).mean()


def smooth_abs(r: torch.Tensor, beta: float = 0.0) -> torch.Tensor:
    """|r|, or with β > 0 the smooth-L1 (Huber) form: r²/2β inside the band |r| < β, |r| − β/2 beyond.

    Inside the band a residual pulls in proportion to its size instead of with the full L1 force, so a
    surface fitted to noisy points averages them instead of threading each one.
    """
    return torch.nn.functional.smooth_l1_loss(r, torch.zeros_like(r), beta=max(beta, 0.0), reduction="none")


def distance_to_level_loss(dist: torch.Tensor, level: torch.Tensor | float = 0.0, beta: float = 0.0) -> torch.Tensor:
    """Paper 1, Eq. 13: mean | d(p(θ), X) − |t| | for samples p of the level set t (smoothed by `smooth_abs`)."""
    return smooth_abs(dist - torch.as_tensor(level, dtype=dist.dtype, device=dist.device).abs(), beta).mean()


def tangent_fairness_loss(field: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor,
                          normals: torch.Tensor, step: float, generator: torch.Generator,
                          weights: torch.Tensor | None = None) -> torch.Tensor:
    """mean w·|Δ³F| along one random tangent line per zero-set point p: F(p + s t) at s = ±h/2, ±3h/2.

    The third difference vanishes on every profile even in s, so planes, spheres and cylinders keep their
    shape, while wiggles a few sample spacings wide — the form a fit of noisy points takes — pay for it.
    Across a crease it would round the corner: `weights` (n,) exempt such points (0) or keep them (1).
    points and normals (n, 3), normals of unit length and detached; step h in the field's units.
    """
    r = torch.randn(points.shape, generator=generator, device=generator.device).to(points.device)
    t = r - (r * normals).sum(-1, keepdim=True) * normals
    t = t / t.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    offsets = torch.tensor([-1.5, -0.5, 0.5, 1.5], dtype=points.dtype, device=points.device)
    f = field((points[None] + step * offsets[:, None, None] * t[None]).reshape(-1, 3))[:, 0].reshape(4, -1)
    third = (f[0] - 3 * f[1] + 3 * f[2] - f[3]).abs()
    return (third if weights is None else weights * third).mean()


def orthonormal_frame_loss(jac: torch.Tensor) -> torch.Tensor:
    """mean ‖J Jᵀ − I‖²_F for input Jacobians jac (n, l, 3): unit, mutually orthogonal gradients.

    For one output it is an Eikonal term; for a curve {F₁ = 0} ∩ {F₂ = 0} it keeps the two zero sets
    crossing at right angles, so the intersection stays transversal (marching cubes sees it and the
    pseudo-inverse Newton step stays well conditioned) instead of two nearly tangent sheets.
    """
    gram = jac @ jac.transpose(1, 2)
    eye = torch.eye(jac.shape[1], dtype=jac.dtype, device=jac.device)
    return ((gram - eye) ** 2).sum(dim=(1, 2)).mean()
