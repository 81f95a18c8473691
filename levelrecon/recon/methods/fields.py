"""The `field` option: which network represents F for a neural method (one factory for all of them)."""

from __future__ import annotations

import numpy as np
from torch import nn

from levelrecon.errors import InputError
from levelrecon.models.grid import FeatureGridField
from levelrecon.models.mlp import ImplicitMLP
from levelrecon.recon.data.sampling import knn_scale
from levelrecon.recon.methods.registry import NeuralConfig

FIELDS = ("mlp", "grid")


def parse_levels(text: str) -> tuple[int, ...]:
    """"16,32,64" -> (16, 32, 64), checked; "auto" must have been resolved by `Method.configure`."""
    try:
        levels = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise InputError(f"grid_levels must be comma-separated integers, got {text!r}") from None
    if not levels or min(levels) < 2 or list(levels) != sorted(levels):
        raise InputError(f"grid_levels must increase and each be ≥ 2, got {text!r}")
    return levels


def auto_levels(points: np.ndarray, bound: float = 1.2, cell_per_spacing: float = 0.8) -> str:
    """Grid levels 16, 32, … doubling until the finest cell is at most `cell_per_spacing` × the cloud's
    median sample spacing (distance to the 6th neighbour), at most 128: finer cells than the sampling
    supports fit noise and leave holes between sparse points (128 on 20k-point clouds of the shared
    meshes, 64 on 2k).
    """
    spacing = float(np.median(knn_scale(points, 6)))
    levels = [16]
    while levels[-1] < 128 and 2 * bound / (levels[-1] - 1) > cell_per_spacing * spacing:
        levels.append(2 * levels[-1])
    return ",".join(str(r) for r in levels)


def build_field(cfg: NeuralConfig, out_dim: int = 1, skip: tuple[int, ...] = (), geometric_init: bool = True
                ) -> nn.Module:
    """An ImplicitMLP (`field=mlp`, the papers' networks) or a FeatureGridField (`field=grid`).

    `skip` (input re-injection layers) applies to the MLP only.
    """
    if cfg.field == "mlp":
        return ImplicitMLP(out_dim=out_dim, width=cfg.width, depth=cfg.depth, activation=cfg.activation,
                           radius=cfg.radius, skip=skip, geometric_init=geometric_init)
    if cfg.field == "grid":
        return FeatureGridField(parse_levels(cfg.grid_levels), cfg.grid_features, cfg.grid_hidden, out_dim=out_dim,
                                radius=cfg.radius, coarse_to_fine=cfg.coarse_to_fine,
                                geometric_init=geometric_init)
    raise InputError(f"unknown field {cfg.field!r}; choose from {', '.join(FIELDS)}")
