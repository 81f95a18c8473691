"""PNG figures for the one-class classifier: contours of F on 2-D data (like the OCSDF paper's Figure 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from levelrecon.classify.ocsdf import OCSDFClassifier
from levelrecon.errors import InputError


def plot_contours(clf: OCSDFClassifier, X: np.ndarray, y: np.ndarray | None, path: str | Path,
                  resolution: int = 200, title: str = "") -> None:
    """F over the data's bounding box (padded by 20 %) with level lines, the decision boundary
    F = offset_ in black, and the points (anomalies marked when labels are given)."""
    X = np.asarray(X, dtype=np.float64)
    if clf.n_features_in_ != 2 or X.ndim != 2 or X.shape[1] != 2:
        raise InputError(f"contour plots need 2-D data; the model has {clf.n_features_in_} features, "
                         f"the data {X.shape[1] if X.ndim == 2 else '?'}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.2 * np.maximum(hi - lo, 1e-9)
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution), indexing="xy")
    f = clf.score_samples(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    # white at the decision threshold, blue on the normal side, red on the anomalous side
    spread = 1e-3 * max(float(f.max() - f.min()), 1e-9)
    norm = TwoSlopeNorm(vcenter=clf.offset_, vmin=min(float(f.min()), clf.offset_ - spread),
                        vmax=max(float(f.max()), clf.offset_ + spread))
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    filled = ax.contourf(gx, gy, f, levels=30, cmap="RdBu", norm=norm)
    ax.contour(gx, gy, f, levels=15, colors="k", linewidths=0.3, alpha=0.5)
    if f.min() < clf.offset_ < f.max():
        ax.contour(gx, gy, f, levels=[clf.offset_], colors="k", linewidths=1.8)
    fig.colorbar(filled, ax=ax, label="F (positive = normal)")
    if y is None:
        ax.scatter(X[:, 0], X[:, 1], s=6, c="k", label="data")
    else:
        ax.scatter(X[y == 0, 0], X[y == 0, 1], s=6, c="k", label="normal")
        ax.scatter(X[y == 1, 0], X[y == 1, 1], s=25, c="gold", edgecolors="k", linewidths=0.5, marker="X",
                   label="anomaly")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or "OCSDF: F and its boundary (black)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def score_populations(clf: OCSDFClassifier, X: np.ndarray, y: np.ndarray, n_negatives: int = 2000,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """F on the normal rows, the anomalies, uniform points of the domain B and Algorithm 1's negatives.

    The paper's Fig. 7 diagnostic: a model that separates the uniform negatives from the data but ranks
    anomalies among normal rows has learnt the box, not the support.
    """
    import torch

    from levelrecon.models.ocsdf import NegativeSampler

    gen = torch.Generator().manual_seed(seed)
    sampler = NegativeSampler(clf.domain_, clf.newton_steps, clf.target_level, clf.seeds, clf.one_sided)
    model = clf.model_
    uniform = sampler(model, n_negatives, gen, steps=0).cpu().numpy().astype(np.float64)
    newton = sampler(model, n_negatives, gen).cpu().numpy().astype(np.float64)
    model.eval()
    f = clf.score_samples(X)
    return {"normal": f[y == 0], "anomaly": f[y == 1], "uniform in B": clf._f(uniform),
            "Newton negatives": clf._f(newton)}


def plot_score_histograms(clf: OCSDFClassifier, X: np.ndarray, y: np.ndarray, path: str | Path, title: str = ""
                          ) -> dict[str, dict[str, float]]:
    """Histograms of :func:`score_populations` in one PNG; returns quantiles of each population."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pops = score_populations(clf, X, y)
    lo = min(float(np.quantile(v, 0.01)) for v in pops.values())
    hi = max(float(v.max()) for v in pops.values())
    bins = np.linspace(lo, hi, 60)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for (name, v), color in zip(pops.items(), ("tab:blue", "tab:red", "tab:gray", "tab:orange"), strict=True):
        ax.hist(np.clip(v, lo, hi), bins=bins, density=True, alpha=0.5, color=color, label=f"{name} ({len(v)})")
    ax.axvline(0.0, color="k", lw=1)
    ax.set_xlabel("F (positive = normal)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title(title or "OCSDF scores")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return {name: {"mean": float(v.mean()), "q05": float(np.quantile(v, 0.05)), "median": float(np.median(v)),
                   "q95": float(np.quantile(v, 0.95)), "frac_positive": float((v > 0).mean())}
            for name, v in pops.items()}
