"""PNG of 2-D classifiers: decision regions, the boundary {F_j = 0} and the ±1 level sets (paper 1, Fig. 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from levelrecon.classify.data import ClassData
from levelrecon.errors import InputError


@torch.no_grad()
def _margins_on_grid(model: nn.Module, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """F_j = f_j − max_{i≠j} f_i for every class j on the grid: (k, H, W)."""
    pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32))
    device = next(model.parameters()).device
    logits = model(pts.to(device)).cpu().numpy()
    out = []
    for j in range(logits.shape[1]):
        others = np.delete(logits, j, axis=1).max(axis=1)
        out.append((logits[:, j] - others).reshape(gx.shape))
    return np.stack(out)


def plot_level_sets(panels: list[tuple[str, nn.Module]], data: ClassData, path: str | Path,
                    resolution: int = 300) -> None:
    """One panel per (title, model): regions by predicted class, F_j = 0 solid, F_j = ±1 dashed."""
    if data.x.shape[1] != 2:
        raise InputError(f"{data.name}: plotting level sets needs 2-D data, this data has {data.x.shape[1]} "
                         f"features")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = data.x.cpu().numpy(), data.y.cpu().numpy()
    pad = 0.15 * np.ptp(x, axis=0).max()
    lo, hi = x.min(axis=0) - pad, x.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution),
                         indexing="xy")
    cmap = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.6), dpi=110, squeeze=False)
    for ax, (title, model) in zip(axes[0], panels, strict=True):
        margins = _margins_on_grid(model, gx, gy)
        region = margins.argmax(axis=0)
        ax.contourf(gx, gy, region, levels=np.arange(data.n_classes + 1) - 0.5, colors=[
            cmap(j) for j in range(data.n_classes)], alpha=0.15)
        for j in range(data.n_classes):
            ax.contour(gx, gy, margins[j], levels=[0.0], colors="k", linewidths=1.6)
            ax.contour(gx, gy, margins[j], levels=[-1.0, 1.0], colors=[cmap(j)], linewidths=1.0,
                       linestyles="--")
        ax.scatter(x[:, 0], x[:, 1], c=[cmap(int(c)) for c in y], s=9, edgecolors="k", linewidths=0.3)
        ax.set_title(title, fontsize=10)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal")
    fig.suptitle(f"{data.name}: decision boundary (solid) and ±1 level sets (dashed)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
