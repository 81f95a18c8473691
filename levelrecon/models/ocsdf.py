"""OCSDF training pieces shared by reconstruction and one-class classification.

Negatives come from the paper's Algorithm 1: uniform points of the domain B moved by T Newton steps of
random length toward a level of the current network (the shared step of `models.levelset`). Training is
Algorithm 3's lazy alternation: fresh negatives from the current network, then one optimizer step on the
HKR loss; during a warm-up the negatives are the raw uniform points (T = 0).

One step computes the orthogonalized weights once (`torch.nn.utils.parametrize.cached`): the Newton steps
and the loss share them. Before, a training-mode refresh for the Newton steps and the training forward
each ran the Björck iterations, the bulk of a step's time at width 512.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from levelrecon.models.levelset import project_to_level
from levelrecon.models.lipschitz import input_dim, refresh_weights
from levelrecon.models.losses import hkr_loss

Bound = float | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class NegativeSampler:
    """Algorithm 1's parameters.

    bounds : the box B = [lo, hi]^d negatives start in and are clipped to; lo and hi are floats or
        per-feature arrays (d,)
    steps : T, the Newton steps per negative (0 = uniform negatives)
    level : the level the steps move toward (0 = the current boundary; −ε just outside it)
    seeds : "box" draws the starting points uniformly in B; "ball" uniformly in the ball inscribed in B
        (centre and radius from the box; what the authors' public code does for tabular data)
    one_sided : move only the points below `level` (outside the support); points already inside stay
        where they were drawn (the authors' code); False moves every point toward the level
    eta : the largest step size; each negative draws u ~ U[0, 1] and every one of its T steps is
        eta·u/T of a full Newton step. eta = 1 (the paper's text) moves a point at most 1 − e⁻¹ ≈ 63 % of
        the way to the level in T steps; the authors' MNIST code uses eta = 20 with T = 16 (1.25·u per
        step), which lands most negatives on the level: without that, negatives stay noise and an image
        network separates "noise" from "digit" by ink alone (docs/oneclass.md)
    """

    bounds: tuple[Bound, Bound]
    steps: int = 4
    level: float = 0.0
    seeds: str = "box"
    one_sided: bool = False
    eta: float = 1.0

    def __call__(self, model: nn.Module, n: int, generator: torch.Generator, steps: int | None = None,
                 refresh: bool = True) -> torch.Tensor:
        """n negatives (n, d), detached, inside B.

        refresh : recompute the eval-mode weights first; False when the caller holds them in a
            `parametrize.cached()` block (they are current there)
        """
        t = self.steps if steps is None else steps
        device = next(model.parameters()).device
        d = input_dim(model)
        lo = torch.as_tensor(self.bounds[0], dtype=torch.float32).expand(d).to(device)
        hi = torch.as_tensor(self.bounds[1], dtype=torch.float32).expand(d).to(device)
        if not bool((lo < hi).all()):
            raise ValueError(f"empty domain [{self.bounds[0]}, {self.bounds[1]}]")
        z = self._seeds(n, d, generator).to(device)
        z = (lo + hi) / 2 + z * (hi - lo) / 2
        if t <= 0:
            return z
        eta = self.eta * torch.rand(n, generator=generator, device=generator.device).to(device)
        if refresh:
            refresh_weights(model)  # eval mode below must see the current weights
        was_training = model.training
        model.eval()
        try:
            if not self.one_sided:
                z, _, _ = project_to_level(model, z, level=self.level, max_iter=t, tol=None, step_scale=eta / t,
                                           bounds=(lo, hi))
            else:  # one shared step at a time, frozen where F(z) >= level
                with torch.no_grad():
                    f = _column(model(z))
                for _ in range(t):
                    scale = eta / t * (f < self.level).to(eta.dtype)
                    z, f, _ = project_to_level(model, z, level=self.level, max_iter=1, tol=None, step_scale=scale,
                                               bounds=(lo, hi))
                    f = f[:, 0]
        finally:
            model.train(was_training)
        return z

    def _seeds(self, n: int, d: int, generator: torch.Generator) -> torch.Tensor:
        """n points of [-1, 1]^d (box) or of the unit ball (ball)."""
        if self.seeds == "box":
            return 2 * torch.rand((n, d), generator=generator, device=generator.device) - 1
        if self.seeds == "ball":
            g = torch.randn((n, d), generator=generator, device=generator.device)
            r = torch.rand((n, 1), generator=generator, device=generator.device) ** (1.0 / d)
            return g / g.norm(dim=1, keepdim=True).clamp_min(1e-12) * r
        raise ValueError(f"unknown seed distribution {self.seeds!r}; choose box or ball")


def _column(f: torch.Tensor) -> torch.Tensor:
    return f[:, 0] if f.dim() == 2 else f


def ocsdf_step_loss(model: nn.Module, positives: torch.Tensor, sampler: NegativeSampler, generator: torch.Generator,
                    warm: bool, margin: float, lam: float, n_negatives: int | None = None
                    ) -> tuple[torch.Tensor, dict[str, float]]:
    """The HKR loss of one lazy alternating step (Algorithm 3) with the model in training mode.

    warm : still in the warm-up phase, negatives are uniform in B (T = 0)
    Call `.backward()` on the loss before the next forward: the weights are computed once, in a cached
    block, and carry the graph of their orthogonalization.
    """
    n_neg = len(positives) if n_negatives is None else n_negatives
    model.train()
    with parametrize.cached():
        f_pos = _column(model(positives))  # first use: the orthogonal weights of this step, with their graph
        negatives = sampler(model, n_neg, generator, steps=0 if warm else None, refresh=False)
        model.train()
        f_neg = _column(model(negatives))
    loss = hkr_loss(f_pos, f_neg, margin, lam)
    return loss, {"loss": float(loss.detach()), "f_pos": float(f_pos.detach().mean()),
                  "f_neg": float(f_neg.detach().mean())}
