"""Reconstruction losses as plain functions of tensors."""

from __future__ import annotations

import torch


def sal_loss(f: torch.Tensor, unsigned_dist: torch.Tensor) -> torch.Tensor:
    """SAL: mean | |F(x)| − h(x) |, f and unsigned_dist (n,)."""
    if f.shape != unsigned_dist.shape:
        raise ValueError(f"shape mismatch: F {tuple(f.shape)} vs h {tuple(unsigned_dist.shape)}")
    return (f.abs() - unsigned_dist).abs().mean()
