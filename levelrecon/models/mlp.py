"""Implicit-function MLPs with the geometric initialisation of SAL/IGR.

The initialisation makes F(x) ≈ ‖x‖ − r at step 0 (a sphere), which is what lets the sign-agnostic losses
pick a consistent inside/outside without oriented normals.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ImplicitMLP(nn.Module):
    """x (n, in_dim) -> F (n, out_dim).

    Parameters
    ----------
    width, depth : hidden width and number of hidden layers
    activation : 'softplus' (β = `beta`, smooth, the IGR/SALD variant) or 'relu' (faster on CPU)
    skip : hidden-layer indices that receive the input concatenated (IGR: depth // 2; the levelset
        reference concatenates it to every layer). Concatenation divides by √2 to keep the scale.
    radius : the initial sphere radius r of the geometric initialisation
    """

    def __init__(self, in_dim: int = 3, out_dim: int = 1, width: int = 256, depth: int = 4,
                 activation: str = "softplus", beta: float = 100.0, skip: tuple[int, ...] = (),
                 radius: float = 0.5, geometric_init: bool = True) -> None:
        super().__init__()
        if activation not in ("softplus", "relu"):
            raise ValueError(f"unknown activation {activation!r}")
        self.in_dim, self.out_dim, self.skip = in_dim, out_dim, tuple(skip)
        dims = [in_dim] + [width] * depth + [out_dim]
        layers = []
        for i in range(len(dims) - 1):
            in_features = dims[i] + (in_dim if i in self.skip and i > 0 else 0)
            lin = nn.Linear(in_features, dims[i + 1])
            if geometric_init:
                _geometric_init(lin, last=i == len(dims) - 2, radius=radius, skip_input=in_dim if (
                    i in self.skip and i > 0) else 0)
            layers.append(lin)
        self.layers = nn.ModuleList(layers)
        self.act = nn.Softplus(beta=beta) if activation == "softplus" else nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        last = len(self.layers) - 1
        for i, lin in enumerate(self.layers):
            if i in self.skip and i > 0:
                h = torch.cat([h, x], dim=-1) / math.sqrt(2)
            h = lin(h)
            if i < last:
                h = self.act(h)
        return h


def _geometric_init(lin: nn.Linear, last: bool, radius: float, skip_input: int) -> None:
    out_f, in_f = lin.weight.shape
    with torch.no_grad():
        if last:
            lin.weight.normal_(math.sqrt(math.pi) / math.sqrt(in_f), 1e-4)
            lin.bias.fill_(-radius)
        else:
            lin.weight.normal_(0.0, math.sqrt(2.0) / math.sqrt(out_f))
            lin.bias.zero_()
            if skip_input:  # the re-injected input starts switched off so F stays ≈ ‖x‖ − r
                lin.weight[:, -skip_input:] = 0.0
