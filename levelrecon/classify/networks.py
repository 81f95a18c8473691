"""Small classifiers (MLP, ConvNet) that take flattened inputs, and their spec.

Inputs stay flat (n, d) so the shared Newton projection, the sample network and PGD see one layout
for vectors and images; the ConvNet reshapes to (n, C, H, W) itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from levelrecon.errors import InputError

ARCHS = ("mlp", "conv")


@dataclass
class NetworkSpec:
    """Everything needed to rebuild a network: stored in checkpoints as a plain dict.

    shape : per-example input shape ((d,) or (C, H, W)); width : hidden width (MLP layers, ConvNet
    fully connected layer); depth : MLP hidden layers; channels : ConvNet channels of its two 5×5
    stride-2 convolutions.
    """

    arch: str
    shape: tuple[int, ...]
    n_classes: int
    width: int = 128
    depth: int = 2
    channels: tuple[int, int] = field(default=(16, 32))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["shape"], out["channels"] = list(self.shape), list(self.channels)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkSpec:
        data = dict(data)
        data["shape"] = tuple(data["shape"])
        data["channels"] = tuple(data.get("channels", (16, 32)))
        return cls(**data)


class MLP(nn.Module):
    """depth × width ReLU layers, then one linear layer to the logits."""

    def __init__(self, in_dim: int, n_classes: int, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(depth):
            layers += [nn.Linear(dim, width), nn.ReLU()]
            dim = width
        layers.append(nn.Linear(dim, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvNet(nn.Module):
    """Two 5×5 stride-2 convolutions, one hidden linear layer: small enough for PGD training on CPU."""

    def __init__(self, shape: tuple[int, int, int], n_classes: int, channels: tuple[int, int], width: int
                 ) -> None:
        super().__init__()
        self.shape = tuple(shape)
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(shape[0], c1, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(c1, c2, 5, stride=2, padding=2), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            n_feat = self.features(torch.zeros(1, *shape)).shape[1]
        self.head = nn.Sequential(nn.Linear(n_feat, width), nn.ReLU(), nn.Linear(width, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.reshape(-1, *self.shape)))


def build_network(spec: NetworkSpec) -> nn.Module:
    """The network described by `spec` (fresh weights from torch's current random state)."""
    if spec.arch == "mlp":
        in_dim = 1
        for s in spec.shape:
            in_dim *= s
        return MLP(in_dim, spec.n_classes, spec.width, spec.depth)
    if spec.arch == "conv":
        if len(spec.shape) != 3:
            raise InputError(f"--arch conv needs image data (C, H, W); this data has shape {spec.shape}")
        return ConvNet(spec.shape, spec.n_classes, spec.channels, spec.width)
    raise InputError(f"unknown architecture {spec.arch!r}; choose from {', '.join(ARCHS)}")
