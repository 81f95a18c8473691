"""SAL — Sign Agnostic Learning (Atzmon & Lipman 2020).

Loss: mean | |F(x)| − h(x) | over samples x near the cloud, h = unsigned distance from x to the cloud.
Samples: for each chosen input point one from N(x_i, σ_i²) with σ_i its distance to the k-th neighbour,
and one from N(x_i, σ_g²). The geometric initialisation (F ≈ ‖x‖ − r) makes the sign consistent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn

from levelrecon.models.losses import sal_loss
from levelrecon.recon.data.sampling import gaussian_around, knn_scale
from levelrecon.recon.methods.fields import build_field
from levelrecon.recon.methods.registry import Method, NeuralConfig


@dataclass
class SALConfig(NeuralConfig):
    sigma_k: int = 50
    sigma_global: float = 0.3

    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {},
        "paper": {"iters": 10000, "batch": 16384, "width": 512, "depth": 8, "lr": 5e-4,
                  "activation": "softplus"},
    }


class SAL(Method):
    Config = SALConfig

    def build_model(self) -> nn.Module:
        return build_field(self.cfg)

    def setup(self, points: np.ndarray, normals: np.ndarray | None, device: torch.device,
              generator: torch.Generator) -> None:
        self.tree = cKDTree(points)
        self.points = torch.as_tensor(points, dtype=torch.float32, device=device)
        self.sigma = torch.as_tensor(knn_scale(points, self.cfg.sigma_k, self.tree), dtype=torch.float32,
                                     device=device)
        self.generator = generator
        self.device = device

    def samples(self) -> tuple[torch.Tensor, torch.Tensor]:
        """2·(batch/2) samples and their unsigned distances to the cloud."""
        half = max(1, self.cfg.batch // 2)
        idx = torch.randint(len(self.points), (half,), generator=self.generator,
                            device=self.generator.device).to(self.device)
        centers = self.points[idx]
        x = torch.cat([gaussian_around(centers, self.sigma[idx], self.generator),
                       gaussian_around(centers, self.cfg.sigma_global, self.generator)])
        dist, _ = self.tree.query(x.cpu().numpy(), k=1, workers=-1)
        return x, torch.as_tensor(dist, dtype=torch.float32, device=self.device)

    def loss(self, model: nn.Module, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        x, h = self.samples()
        loss = sal_loss(model(x)[:, 0], h)
        return loss, {"loss": float(loss.detach())}
