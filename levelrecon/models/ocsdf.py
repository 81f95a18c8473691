"""OCSDF training pieces shared by reconstruction and one-class classification.

Negatives come from the paper's Algorithm 1: uniform points of the domain B moved by T Newton steps of
random length toward a level of the current network (the shared step of `models.levelset`). Training is
Algorithm 3's lazy alternation: fresh negatives from the current network, then one optimizer step on the
HKR loss; during a warm-up the negatives are the raw uniform points (T = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from levelrecon.models.levelset import project_to_level
from levelrecon.models.lipschitz import input_dim, refresh_weights
from levelrecon.models.losses import hkr_loss


@dataclass(frozen=True)
class NegativeSampler:
    """Algorithm 1's parameters.

    bounds : the box B = [lo, hi]^d negatives start in and are clipped to
    steps : T, the Newton steps per negative (0 = uniform negatives)
    level : the level the steps move toward (0 = the current boundary; −ε just outside it)
    """

    bounds: tuple[float, float]
    steps: int = 4
    level: float = 0.0

    def __call__(self, model: nn.Module, n: int, generator: torch.Generator, steps: int | None = None
                 ) -> torch.Tensor:
        """n negatives (n, d), detached, inside B."""
        lo, hi = self.bounds
        if not lo < hi:
            raise ValueError(f"empty domain [{lo}, {hi}]")
        t = self.steps if steps is None else steps
        device = next(model.parameters()).device
        z = lo + (hi - lo) * torch.rand((n, input_dim(model)), generator=generator, device=generator.device)
        z = z.to(device)
        if t <= 0:
            return z
        eta = torch.rand(n, generator=generator, device=generator.device).to(device)
        refresh_weights(model)  # eval mode below must see the current weights
        was_training = model.training
        model.eval()
        try:
            z, _, _ = project_to_level(model, z, level=self.level, max_iter=t, tol=None, step_scale=eta / t,
                                       bounds=(lo, hi))
        finally:
            model.train(was_training)
        return z


def ocsdf_step_loss(model: nn.Module, positives: torch.Tensor, sampler: NegativeSampler, generator: torch.Generator,
                    warm: bool, margin: float, lam: float, n_negatives: int | None = None
                    ) -> tuple[torch.Tensor, dict[str, float]]:
    """The HKR loss of one lazy alternating step (Algorithm 3) with the model in training mode.

    warm : still in the warm-up phase, negatives are uniform in B (T = 0)
    """
    n_neg = len(positives) if n_negatives is None else n_negatives
    negatives = sampler(model, n_neg, generator, steps=0 if warm else None)
    model.train()
    f = model(torch.cat([positives, negatives]))[:, 0]
    f_pos, f_neg = f[: len(positives)], f[len(positives):]
    loss = hkr_loss(f_pos, f_neg, margin, lam)
    return loss, {"loss": float(loss.detach())}
