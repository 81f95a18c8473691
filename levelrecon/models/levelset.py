"""Generalized Newton projection onto a level set, and the sample network.

One implementation serves both papers: "Controlling Neural Level Sets" projects seeds onto {F = c}
(closed form for one output, Moore–Penrose pseudo-inverse of the l×3 Jacobian for l outputs), and
OCSDF's negative sampling (Algorithm 1) takes the same step with a random per-sample step size, a fixed
number of steps and a clip to the domain.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Field = Callable[[torch.Tensor], torch.Tensor]
GRAD_EPS = 1e-6


def input_gradient(f: torch.Tensor, x: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """∇ₓF for a scalar field f = F(x) (n,) or (n, 1) computed from x (n, 3) with requires_grad.

    create_graph=True keeps it differentiable with respect to the parameters (IGR's Eikonal term).
    """
    f = f.reshape(len(x), -1)[:, 0]
    return torch.autograd.grad(f.sum(), x, create_graph=create_graph)[0]


# Vertices of a regular tetrahedron: 4 evaluations give a central-difference-accurate gradient.
_TETRA = ((1.0, -1.0, -1.0), (-1.0, -1.0, 1.0), (-1.0, 1.0, -1.0), (1.0, 1.0, 1.0))


def field_gradient(field: Field, x: torch.Tensor, f: torch.Tensor | None = None, create_graph: bool = True
                   ) -> torch.Tensor:
    """∇ₓF (n, 3) of a scalar field, differentiable with respect to the parameters.

    Fields that declare an `fd_step` (feature grids: `grid_sample` has no double backward) get the
    tetrahedral finite difference Σₖ vₖ F(x + h vₖ) / 4h; others get the exact autograd gradient, from
    `f` = F(x) when the caller already computed it with x requiring grad.
    """
    step = getattr(field, "fd_step", None)
    if step is not None:
        v = torch.tensor(_TETRA, dtype=x.dtype, device=x.device)
        vals = field((x.detach()[None] + step * v[:, None, :]).reshape(-1, 3))[:, 0].reshape(4, len(x))
        return (vals[:, :, None] * v[:, None, :]).sum(dim=0) / (4.0 * step)
    if f is None:
        x = x.detach().requires_grad_(True)
        f = field(x)
    return input_gradient(f, x, create_graph=create_graph)


def input_jacobian(f: torch.Tensor, x: torch.Tensor, create_graph: bool = True, keep_graph: bool = False
                   ) -> torch.Tensor:
    """DₓF (n, l, 3) for f = F(x) (n, l) computed from x (n, 3) with requires_grad, one backward per output.

    create_graph=True keeps it differentiable with respect to the parameters (the curve frame term);
    keep_graph=True leaves f's graph in place for a later backward through f itself.
    """
    rows = [torch.autograd.grad(f[:, k].sum(), x, create_graph=create_graph,
                                retain_graph=create_graph or keep_graph or k < f.shape[1] - 1)[0]
            for k in range(f.shape[1])]
    return torch.stack(rows, dim=1)


def value_and_jacobian(field: Field, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """F(x) as (n, l) and its input Jacobian (n, l, 3), both detached."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        f = field(x)
        if f.dim() == 1:
            f = f[:, None]
        jac = input_jacobian(f, x, create_graph=False)
    return f.detach(), jac.detach()


def newton_direction(f: torch.Tensor, jac: torch.Tensor, level: torch.Tensor | float) -> torch.Tensor:
    """The generalized Newton step -J⁺(F - c) for each point: (n, 3).

    f : (n, l), jac : (n, l, 3), level : scalar, (n,) or (n, l).
    """
    level = torch.as_tensor(level, dtype=f.dtype, device=f.device)
    if level.dim() == 1:
        level = level[:, None]
    r = f - level
    if f.shape[1] == 1:
        g = jac[:, 0, :]
        return -r * g / (g * g).sum(dim=1, keepdim=True).clamp_min(GRAD_EPS)
    # J⁺ = Jᵀ (J Jᵀ)⁻¹ for a full-row-rank J; a small ridge keeps near-singular rows finite.
    jjt = jac @ jac.transpose(1, 2)
    jjt = jjt + GRAD_EPS * torch.eye(f.shape[1], dtype=f.dtype, device=f.device)
    return -(jac.transpose(1, 2) @ torch.linalg.solve(jjt, r[:, :, None]))[:, :, 0]


def newton_steps(field: Field, x: torch.Tensor, level: torch.Tensor | float = 0.0, max_iter: int = 10,
                 tol: float | None = 1e-5, step_scale: torch.Tensor | float = 1.0,
                 bounds: tuple[float, float] | None = None) -> torch.Tensor:
    """Move points toward {F = level} by up to `max_iter` generalized Newton steps; the points (n, 3), detached.

    The field is not evaluated at the points reached: a caller that evaluates them anyway (the sample
    network does, with gradients) saves that pass. Parameters as in `project_to_level`.
    """
    p = x.detach().clone()
    scale = torch.as_tensor(step_scale, dtype=p.dtype, device=p.device)
    if scale.dim() == 1:
        scale = scale[:, None]
    active = torch.ones(len(p), dtype=torch.bool, device=p.device)
    level_t = torch.as_tensor(level, dtype=p.dtype, device=p.device)
    for _ in range(max_iter):
        f, jac = value_and_jacobian(field, p)
        if tol is not None:
            active = (f - _expand(level_t, f)).abs().amax(dim=1) >= tol
            if not active.any():
                break
        step = newton_direction(f, jac, level_t) * scale
        p = torch.where(active[:, None], p + step, p)
        if bounds is not None:
            p = p.clamp(bounds[0], bounds[1])
    return p


def project_to_level(field: Field, x: torch.Tensor, level: torch.Tensor | float = 0.0, max_iter: int = 10,
                     tol: float | None = 1e-5, step_scale: torch.Tensor | float = 1.0,
                     bounds: tuple[float, float] | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Move points toward {F = level} by generalized Newton steps (`newton_steps`), then evaluate them.

    Parameters
    ----------
    x : (n, 3) start points
    max_iter : number of steps (OCSDF's T)
    tol : stop a point once max |F - level| < tol; None takes all `max_iter` steps (OCSDF)
    step_scale : scalar or (n,) factor on each step (OCSDF: η/T with η ~ U[0, 1])
    bounds : clip to the box [lo, hi]³ after each step (OCSDF's Π_B)

    Returns
    -------
    points (n, 3), reached levels F(points) (n, l), converged mask (n,) — all detached.
    """
    p = newton_steps(field, x, level, max_iter, tol, step_scale, bounds)
    level_t = torch.as_tensor(level, dtype=p.dtype, device=p.device)
    with torch.no_grad():
        f = field(p)
        f = f[:, None] if f.dim() == 1 else f
    converged = (f - _expand(level_t, f)).abs().amax(dim=1) < (tol if tol is not None else float("inf"))
    return p, f.detach(), converged


def _expand(level: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return level[:, None] if level.dim() == 1 else level


def sample_network(field: Field, p: torch.Tensor, level: torch.Tensor | float = 0.0,
                   jac: torch.Tensor | None = None) -> torch.Tensor:
    """p(θ) = p − J⁺(p; θ₀)(F(p; θ) − c) (paper 1, Eq. 9): equals p in value, carries dp/dθ.

    p, c and J are detached; only F(p; θ) carries gradient, so the derivative with respect to θ is
    −J⁺ ∂F/∂θ (Eq. 8). `level` is the level each point belongs to (scalar, (n,) or (n, l)).
    """
    p = p.detach()
    if jac is None:
        _, jac = value_and_jacobian(field, p)
    f = field(p)
    f = f[:, None] if f.dim() == 1 else f
    level_t = torch.as_tensor(level, dtype=f.dtype, device=f.device).detach()
    return p + newton_direction(f, jac.detach(), level_t)


def sample_network_at_own_level(field: Field, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`sample_network` for points that each belong to the level they sit on (c = F(p; θ₀)), from one pass.

    The forward pass that carries ∂F/∂θ also gives the levels and, by an input backward that keeps its
    graph, the Jacobians: three evaluations of the points (levels, Jacobians, p(θ)) become one.
    Returns p(θ) (n, 3), the levels (n, l) and the Jacobians (n, l, 3), the last two detached.
    """
    with torch.enable_grad():
        x = p.detach().requires_grad_(True)
        f = field(x)
        f = f[:, None] if f.dim() == 1 else f
        jac = input_jacobian(f, x, create_graph=False, keep_graph=True)
    level = f.detach()
    return x.detach() + newton_direction(f, jac, level), level, jac
