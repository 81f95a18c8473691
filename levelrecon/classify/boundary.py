"""Decision boundaries of a classifier as level sets, sampled with the shared Newton projection.

The decision boundary of class j is {F_j = 0} with F_j = f_j − max_{i≠j} f_i (paper 1, Eq. 1); F_j > 0
exactly where the network predicts j. Projections use :func:`levelrecon.models.levelset.project_to_level`
on a per-example field, so each example moves toward the boundary of its own (true) class.
"""

from __future__ import annotations

import torch
from torch import nn

from levelrecon.models.levelset import Field, project_to_level


def class_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """F_y = f_y − max_{i≠y} f_i for each row: (n, k) logits, (n,) labels -> (n,)."""
    true = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], float("-inf"))
    return true - others.amax(dim=1)


def margin_field(model: nn.Module, y: torch.Tensor) -> Field:
    """x ↦ F_{y_i}(x_i) row by row: the scalar field whose zero set is example i's class boundary."""
    return lambda z: class_margin(model(z), y)


def project_to_boundary(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                        level: torch.Tensor | float = 0.0, max_iter: int = 20, tol: float = 1e-4
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Newton-project each x_i onto {F_{y_i} = level} (level 0: the decision boundary).

    Returns points (n, d), reached levels (n,) and the converged mask (n,), all detached.
    """
    p, reached, ok = project_to_level(margin_field(model, y), x, level, max_iter=max_iter, tol=tol)
    return p, reached[:, 0], ok


def project_on_segment(model: nn.Module, x: torch.Tensor, x_end: torch.Tensor, y: torch.Tensor,
                       max_iter: int = 10, tol: float = 1e-4
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The boundary point between x and x_end, where F_y changes sign along the segment.

    The paper finds it by false position; here the first false-position (secant) estimate starts a
    one-dimensional Newton projection of the segment parameter t ∈ [0, 1], with the shared projection.
    Returns points (n, d), reached levels (n,) and the converged mask (n,).
    """
    x, direction = x.detach(), (x_end - x).detach()
    with torch.no_grad():
        f0 = class_margin(model(x), y)
        f1 = class_margin(model(x_end), y)
    t0 = (f0 / (f0 - f1).where((f0 - f1).abs() > 1e-12, torch.ones_like(f0))).clamp(0, 1)

    def along(t: torch.Tensor) -> torch.Tensor:
        return class_margin(model(x + t * direction), y)

    t, reached, ok = project_to_level(along, t0[:, None], 0.0, max_iter=max_iter, tol=tol, bounds=(0.0, 1.0))
    return x + t * direction, reached[:, 0], ok
