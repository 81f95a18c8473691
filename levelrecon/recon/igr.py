"""IGR — Implicit Geometric Regularization (Gropp et al. 2020).

Loss: mean_X |F(x)| + λ·mean_D (‖∇F‖ − 1)² + τ·mean_X ‖∇F(x) − n(x)‖ (τ = 0 without normals).
D = local samples N(x_i, σ_i²) (σ_i: distance to the k-th neighbour) plus 1/8 as many uniform samples in
an enlarged box. The Eikonal term makes F a signed distance; the geometric initialisation and the
implicit regularisation of the gradient descent pick the smooth, plausible zero level set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from levelrecon.models.levelset import input_gradient
from levelrecon.models.losses import eikonal_loss, normal_loss
from levelrecon.models.mlp import ImplicitMLP
from levelrecon.recon.methods import Method, NeuralConfig
from levelrecon.recon.normals import estimate_normals
from levelrecon.recon.sampling import gaussian_around, knn_scale, uniform_box


@dataclass
class IGRConfig(NeuralConfig):
    iters: int = 1200
    batch: int = 4096
    lr: float = 2e-3
    lr_schedule: str = "cosine"
    eikonal_weight: float = 0.1
    normal_weight: float = 1.0  # used only when the cloud has normals (or they are estimated)
    estimate_normals: bool = False  # estimate and orient normals (as the Poisson baseline does) if absent
    sigma_k: int = 50
    box: float = 1.5  # uniform samples in [-box, box]³ of the normalized cloud
    radius: float = 0.5
    skip: bool = True  # re-inject the input at the middle layer

    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {},
        "paper": {"iters": 20000, "batch": 16384, "width": 512, "depth": 8, "lr": 5e-3, "lr_schedule": "step"},
    }


class IGR(Method):
    Config = IGRConfig

    def build_model(self) -> nn.Module:
        c = self.cfg
        skip = (c.depth // 2,) if c.skip and c.depth >= 2 else ()
        return ImplicitMLP(width=c.width, depth=c.depth, activation=c.activation, radius=c.radius, skip=skip)

    def setup(self, points: np.ndarray, normals: np.ndarray | None, device: torch.device,
              generator: torch.Generator) -> None:
        self.points = torch.as_tensor(points, dtype=torch.float32, device=device)
        if normals is None and self.cfg.estimate_normals:
            normals = estimate_normals(points)
        self.normals = None if normals is None else torch.as_tensor(normals, dtype=torch.float32, device=device)
        self.sigma = torch.as_tensor(knn_scale(points, self.cfg.sigma_k), dtype=torch.float32, device=device)
        self.generator, self.device = generator, device

    def loss(self, model: nn.Module, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.cfg
        idx = torch.randint(len(self.points), (c.batch,), generator=self.generator,
                            device=self.generator.device).to(self.device)
        x = self.points[idx].requires_grad_(True)
        local = gaussian_around(self.points[idx], self.sigma[idx], self.generator)
        far = uniform_box(max(1, c.batch // 8), -c.box, c.box, self.generator, self.device)
        d = torch.cat([local, far]).requires_grad_(True)
        f_x = model(x)[:, 0]
        f_d = model(d)
        grad_d = input_gradient(f_d, d)
        surface = f_x.abs().mean()
        eik = eikonal_loss(grad_d)
        loss = surface + c.eikonal_weight * eik
        logs = {"surface": float(surface.detach()), "eikonal": float(eik.detach())}
        if self.normals is not None and c.normal_weight > 0:
            nrm = normal_loss(input_gradient(f_x, x), self.normals[idx])
            loss = loss + c.normal_weight * nrm
            logs["normal"] = float(nrm.detach())
        return loss, {"loss": float(loss.detach()), **logs}
