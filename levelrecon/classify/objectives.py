"""Training objectives: geometric SVM (paper 1, Eq. 11), robust margin (Eq. 12) and their baselines.

Each objective is a small dataclass (its fields are its options, stored in checkpoints) called as
``objective(model, x, y, progress) -> (loss, logs)`` with `progress` ∈ [0, 1) the fraction of training
done. The training loop knows nothing else about them; adding one is a class and a row in OBJECTIVES.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from levelrecon.classify.attacks import pgd, xent_objective
from levelrecon.classify.boundary import class_margin, margin_field, project_on_segment, project_to_boundary
from levelrecon.errors import InputError
from levelrecon.models.levelset import sample_network, value_and_jacobian

Logs = dict[str, float]


@dataclass
class Objective:
    name: ClassVar[str] = ""

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: float
                 ) -> tuple[torch.Tensor, Logs]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}


@dataclass
class CrossEntropy(Objective):
    """Softmax cross-entropy: the standard baseline."""

    name: ClassVar[str] = "xent"

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: float
                 ) -> tuple[torch.Tensor, Logs]:
        loss = F.cross_entropy(model(x), y)
        return loss, {"loss": loss.item()}


@dataclass
class Hinge(Objective):
    """Multi-class hinge mean max(0, 1 − F_y(x)) on the logits: the SVM loss without geometry."""

    name: ClassVar[str] = "hinge"

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: float
                 ) -> tuple[torch.Tensor, Logs]:
        loss = F.relu(1 - class_margin(model(x), y)).mean()
        return loss, {"loss": loss.item()}


def _linf(v: torch.Tensor) -> torch.Tensor:
    return v.abs().amax(dim=1)


@dataclass
class GeometricSVM(Objective):
    """Geometric soft-margin loss (paper 1, Eq. 11) measured in input space.

    For each example x with label y: p = projection of x onto its class boundary {F_y = 0}, and Δ =
    min(d(p, S₁), d(p, S₋₁)) from projections of p onto {F_y = ±1}; all three points enter through sample
    networks, so the loss moves the boundary and the ±1 level sets themselves:

        loss = mean max(0, 1 − sign(F_y(x))·d(x, p)/Δ) + λ(t)·mean Δ^α,   d = L∞ distance.

    For an affine F = w·x + b this is exactly the linear soft-margin SVM (d/Δ = |F(x)|, and with L∞
    distances Δ⁻¹ = ‖w‖₂²/‖w‖∞, a norm of w), so an example whose projections fail to converge falls
    back to that linearization, max(0, 1 − F_y(x)).
    λ(t) ramps linearly from 0 to `lam` over the first `ramp` fraction of training, so the boundary
    forms before the margin term pushes the ±1 level sets apart.
    """

    name: ClassVar[str] = "geosvm"
    lam: float = 0.05
    alpha: float = -1.0
    ramp: float = 0.5
    max_iter: int = 10
    tol: float = 1e-4
    min_margin: float = 1e-4

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: float
                 ) -> tuple[torch.Tensor, Logs]:
        n = len(x)
        p, c0, ok0 = project_to_boundary(model, x, y, 0.0, self.max_iter, self.tol)
        y2 = torch.cat([y, y])
        levels = torch.cat([torch.ones(n), -torch.ones(n)]).to(x)
        q, cq, okq = project_to_boundary(model, torch.cat([p, p]), y2, levels, self.max_iter, self.tol)
        ok = ok0 & okq[:n] & okq[n:]
        fx = class_margin(model(x), y)
        # sample networks p(θ), q±(θ): equal to p, q± in value (each keeps its reached level), carry d/dθ
        p_t = sample_network(margin_field(model, y), p, c0)
        q_t = sample_network(margin_field(model, y2), q, cq)
        dist = _linf(x - p_t)
        delta = torch.minimum(_linf(p_t - q_t[:n]), _linf(p_t - q_t[n:])).clamp_min(self.min_margin)
        geometric = F.relu(1 - torch.sign(fx.detach()) * dist / delta)
        per_example = torch.where(ok, geometric, F.relu(1 - fx))
        reg = (delta[ok] ** self.alpha).mean() if ok.any() else fx.sum() * 0
        lam = _ramped(self.lam, self.ramp, progress)
        loss = per_example.mean() + lam * reg
        return loss, {"loss": loss.item(), "hinge": per_example.mean().item(), "margin": _mean(delta, ok),
                      "converged": ok.float().mean().item()}


def _mean(v: torch.Tensor, mask: torch.Tensor) -> float:
    return v[mask].mean().item() if mask.any() else float("nan")


@dataclass
class PGDTraining(Objective):
    """Madry et al. adversarial training: cross-entropy on L∞ PGD examples (random start).

    The radius ramps linearly from 0 to `eps` over the first `ramp` fraction of training: short (CPU)
    budgets at ε = 0.3 otherwise stall at chance level.
    """

    name: ClassVar[str] = "pgd"
    eps: float = 0.3
    steps: int = 10
    ramp: float = 0.3
    bounds: tuple[float, float] | None = None

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: float
                 ) -> tuple[torch.Tensor, Logs]:
        eps = _ramped(self.eps, self.ramp, progress)
        x_adv = pgd(xent_objective(model, y), x, eps, self.steps, bounds=self.bounds)
        loss = F.cross_entropy(model(x_adv), y)
        return loss, {"loss": loss.item(), "eps": eps}


def _ramped(value: float, ramp: float, progress: float) -> float:
    """value·min(1, progress/ramp): a linear warm-up over the first `ramp` fraction of training."""
    return value * min(1.0, progress / ramp) if ramp > 0 else value


@dataclass
class RobustMargin(Objective):
    """Margin loss for L∞ robustness (paper 1, Eq. 12), with decision-boundary samples of the true class.

    Seeds: PGD on F_y within the ε-ball pushes each example across its class boundary (correct ones
    toward misclassification, wrong ones, within `eps_wrong`, toward the right class), as the reference
    code does. Where the sign flipped, the boundary point p on the segment is found by the shared Newton
    projection (see :func:`project_on_segment`; the paper used false position). With k the axis of the
    largest component of ∇F_y(p) and ρ(x, p) = |x_k − p(θ)_k| through the sample network:

        loss = (1/n)·[λ Σ_correct max(0, ε − ρ) + Σ_wrong (ε_wrong + ρ)]

    pushes boundaries at least ε away from correct examples and pulls them across wrong ones.
    Examples whose boundary lies outside the ball (or whose projection fails) add nothing. ε ramps up
    as in :class:`PGDTraining`; ε_wrong (default 1.25 ε, the reference's 0.5 for 0.4) does not, so wrong
    examples pull the boundary from the first step.
    """

    name: ClassVar[str] = "margin"
    eps: float = 0.3
    eps_wrong: float | None = None
    lam: float = 3.0
    steps: int = 10
    ramp: float = 0.3
    max_iter: int = 10
    tol: float = 1e-4
    bounds: tuple[float, float] | None = None

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: float
                 ) -> tuple[torch.Tensor, Logs]:
        eps = _ramped(self.eps, self.ramp, progress)
        eps_wrong = self.eps_wrong if self.eps_wrong is not None else 1.25 * self.eps
        with torch.no_grad():
            f0 = class_margin(model(x), y)
        correct = f0 > 0
        side = torch.where(correct, 1.0, -1.0)
        radius = torch.where(correct, eps, eps_wrong).to(x)
        x_adv = pgd(lambda z: -side * class_margin(model(z), y), x, radius, self.steps, bounds=self.bounds)
        with torch.no_grad():
            flipped = (class_margin(model(x_adv), y) > 0) != correct
        logs = {"correct": correct.float().mean().item(), "flipped": flipped.float().mean().item()}
        if not flipped.any():  # every boundary is outside its ball: nothing to push
            return model(x[:1]).sum() * 0, {"loss": 0.0, **logs, "rho": float("nan")}
        xs, ys, cs = x[flipped], y[flipped], correct[flipped]
        p, reached, ok = project_on_segment(model, xs, x_adv[flipped], ys, self.max_iter, self.tol)
        if not ok.any():
            return model(x[:1]).sum() * 0, {"loss": 0.0, **logs, "rho": float("nan")}
        xs, ys, cs, p, reached = xs[ok], ys[ok], cs[ok], p[ok], reached[ok]
        field = margin_field(model, ys)
        _, jac = value_and_jacobian(field, p)
        axis = jac[:, 0, :].abs().argmax(dim=1, keepdim=True)
        p_t = sample_network(field, p, reached, jac)
        rho = (xs.gather(1, axis) - p_t.gather(1, axis)).abs()[:, 0]
        per = torch.where(cs, self.lam * F.relu(eps - rho), eps_wrong + rho)
        loss = per.sum() / len(x)
        return loss, {"loss": loss.item(), **logs, "rho": rho.mean().item()}


OBJECTIVES: dict[str, type[Objective]] = {
    cls.name: cls for cls in (CrossEntropy, Hinge, GeometricSVM, PGDTraining, RobustMargin)}


def make_objective(name: str, **options: Any) -> Objective:
    """The objective registered as `name`, with options (unknown ones are an input error)."""
    if name not in OBJECTIVES:
        raise InputError(f"unknown objective {name!r}; choose from {', '.join(OBJECTIVES)}")
    cls = OBJECTIVES[name]
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(f"{name}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**options)
