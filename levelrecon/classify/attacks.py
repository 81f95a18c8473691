"""L∞ projected gradient descent (Madry et al.) and robust accuracy under it.

PGD maximizes a per-example objective; the cross-entropy objective is the usual attack and the margin
objective −F_y = max_{i≠y} f_i − f_y aims straight at the decision boundary (paper 1, §5.2). Scoring
a model against both is more honest than either alone: gradient masking fools one more than the other.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from levelrecon.classify.boundary import class_margin
from levelrecon.classify.data import ClassData

AttackLoss = Callable[[torch.Tensor], torch.Tensor]
ATTACK_LOSSES = ("xent", "margin")


def xent_objective(model: nn.Module, y: torch.Tensor) -> AttackLoss:
    return lambda z: F.cross_entropy(model(z), y, reduction="none")


def margin_objective(model: nn.Module, y: torch.Tensor) -> AttackLoss:
    return lambda z: -class_margin(model(z), y)


def pgd(objective: AttackLoss, x: torch.Tensor, eps: torch.Tensor | float, steps: int,
        step_size: torch.Tensor | float | None = None, bounds: tuple[float, float] | None = None,
        rand_init: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """Maximize `objective` (per example, (n,)) over the L∞ ball of radius eps around x.

    Parameters
    ----------
    x : (n, d) clean inputs (inside `bounds` when given)
    eps : radius, scalar or (n,) per example
    step_size : signed-gradient step; default 2.5·eps/steps (Madry et al.)
    bounds : clip to the valid input range after each step (pixels: (0, 1))
    rand_init : start from a uniform point of the ball

    Returns
    -------
    (n, d) adversarial inputs with ‖x_adv − x‖∞ ≤ eps, detached.
    """
    x = x.detach()
    eps_t = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    eps_t = eps_t[:, None] if eps_t.dim() == 1 else eps_t
    step = 2.5 * eps_t / max(steps, 1) if step_size is None else torch.as_tensor(step_size, dtype=x.dtype,
                                                                                   device=x.device)
    step = step[:, None] if step.dim() == 1 else step
    lo, hi = x - eps_t, x + eps_t
    if bounds is not None:  # the ball intersected with the valid range: one clamp keeps both
        lo, hi = lo.clamp_min(bounds[0]), hi.clamp_max(bounds[1])
    z = x
    if rand_init:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        z = torch.minimum(torch.maximum(x + (2 * noise - 1) * eps_t, lo), hi)
    for _ in range(steps):
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            grad, = torch.autograd.grad(objective(z).sum(), z)
        z = torch.minimum(torch.maximum(z.detach() + step * grad.sign(), lo), hi)
    return z.detach()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    return torch.cat([model(x[i:i + batch]).argmax(dim=1) for i in range(0, len(x), batch)])


def accuracy(model: nn.Module, data: ClassData, batch: int = 1000) -> float:
    return float((predict(model, data.x, batch) == data.y).float().mean())


def robust_accuracy(model: nn.Module, data: ClassData, eps: float, steps: int,
                    step_size: float | None = None, batch: int = 500, seed: int = 0,
                    losses: tuple[str, ...] = ATTACK_LOSSES) -> dict[str, float]:
    """Clean accuracy and accuracy under PGD with each loss in `losses`, and under the worst of them.

    `worst` counts an example only if it is classified correctly clean and under every attack (the
    per-example minimum), so it is never above any single score.
    """
    generator = torch.Generator(device=data.x.device).manual_seed(seed)
    objectives = {"xent": xent_objective, "margin": margin_objective}
    clean = torch.zeros(len(data), dtype=torch.bool, device=data.x.device)
    survived = {name: torch.zeros_like(clean) for name in losses}
    for i in range(0, len(data), batch):
        x, y = data.x[i:i + batch], data.y[i:i + batch]
        clean[i:i + batch] = predict(model, x) == y
        for name in losses:
            x_adv = pgd(objectives[name](model, y), x, eps, steps, step_size, data.bounds, True, generator)
            survived[name][i:i + batch] = predict(model, x_adv) == y
    out = {"clean": float(clean.float().mean())}
    worst = clean.clone()
    for name in losses:
        out[f"{name}_pgd"] = float(survived[name].float().mean())
        worst &= survived[name]
    out["worst"] = float(worst.float().mean())
    return out
