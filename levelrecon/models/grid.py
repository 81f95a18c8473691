"""Multi-resolution dense feature grids with a small decoder: a field that reaches detail in seconds.

A plain MLP spends most of a CPU budget learning where things are; feature grids store it directly, so
a few hundred steps reach what an MLP needs thousands for. Design choices, each measured on 2 cores:
- dense levels sampled with `grid_sample` (trilinear; 5× faster than gather-based interpolation here),
  features concatenated with xyz and decoded by a 2-layer softplus MLP with the geometric initialisation
  on the xyz path, so training starts from a sphere like the MLP fields;
- levels switched on coarse to fine (`set_progress`), so the coarse levels settle the global shape
  before the fine ones can fit noise;
- `grid_sample` has no double backward, so input gradients that must stay differentiable (Eikonal and
  normal terms) use finite differences: `fd_step` tells `models.levelset.field_gradient` the step,
  half a cell of the finest active level (a mild smoothing at the resolution of the field).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class FeatureGridField(nn.Module):
    """x (n, 3) in [-bound, bound]³ -> F (n, out_dim).

    Parameters
    ----------
    levels : resolutions (nodes per axis) of the dense grids, coarse to fine
    features : feature channels per level
    hidden : width of the two decoder layers
    bound : half side of the cube the grids cover (points outside read the border)
    radius : initial sphere radius of the geometric initialisation
    coarse_to_fine : fraction of training over which the levels are switched on one by one
    """

    def __init__(self, levels: tuple[int, ...] = (16, 32, 64), features: int = 4, hidden: int = 64,
                 out_dim: int = 1, bound: float = 1.2, radius: float = 0.5, coarse_to_fine: float = 0.5,
                 geometric_init: bool = True) -> None:
        super().__init__()
        if not levels or min(levels) < 2:
            raise ValueError(f"grid levels need at least 2 nodes per axis, got {levels}")
        self.levels, self.bound, self.coarse_to_fine = tuple(int(r) for r in levels), float(bound), coarse_to_fine
        self.grids = nn.ParameterList(
            [nn.Parameter(torch.randn(1, features, r, r, r) * 1e-4) for r in self.levels])
        self.register_buffer("level_mask", torch.ones(len(self.levels)))
        dim = 3 + features * len(self.levels)
        self.hidden1, self.hidden2 = nn.Linear(dim, hidden), nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, out_dim)
        self.act = nn.Softplus(beta=100.0)
        if geometric_init:
            for lin in (self.hidden1, self.hidden2):
                nn.init.normal_(lin.weight, 0.0, math.sqrt(2.0) / math.sqrt(hidden))
                nn.init.zeros_(lin.bias)
            with torch.no_grad():  # features start switched off so F ≈ ‖x‖ − r
                self.hidden1.weight[:, 3:] = 0.0
            nn.init.normal_(self.out.weight, math.sqrt(math.pi) / math.sqrt(hidden), 1e-4)
            nn.init.constant_(self.out.bias, -radius)

    def set_progress(self, fraction: float) -> None:
        """Switch on level l once `fraction` of training reaches coarse_to_fine × l / L."""
        n = len(self.levels)
        active = n if self.coarse_to_fine <= 0 else sum(
            1 for i in range(n) if fraction >= self.coarse_to_fine * i / n)
        self.level_mask.copy_(torch.tensor([1.0 if i < active else 0.0 for i in range(n)]))

    @property
    def fd_step(self) -> float:
        """Finite-difference step: half a cell of the finest active level."""
        finest = self.levels[max(0, int(self.level_mask.sum().item()) - 1)]
        return self.bound / (finest - 1)

    def param_groups(self, lr: float, grid_lr: float) -> list[dict]:
        """Adam groups: the grids learn at `grid_lr`, the decoder at `lr`."""
        decoder = [p for name, p in self.named_parameters() if not name.startswith("grids.")]
        return [{"params": list(self.grids.parameters()), "lr": grid_lr}, {"params": decoder, "lr": lr}]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coords = (x / self.bound).reshape(1, 1, 1, -1, 3)
        feats = [x]
        for grid, on in zip(self.grids, self.level_mask, strict=True):
            sampled = F.grid_sample(grid, coords, mode="bilinear", padding_mode="border", align_corners=True)
            feats.append(sampled.reshape(grid.shape[1], -1).t() * on)
        h = self.act(self.hidden1(torch.cat(feats, dim=1)))
        return self.out(self.act(self.hidden2(h)))
