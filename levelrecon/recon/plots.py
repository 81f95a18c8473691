"""PNG figures: loss curves, field cross-sections and curves (matplotlib, headless); mesh renders are
levelrecon.viz.render's."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend: figures are written to files, never shown (headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_loss(history: list[dict[str, float]], path: Path, title: str = "") -> None:
    plt = pyplot()
    steps = np.array([h["step"] for h in history])
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    keys = [k for k in history[0] if k not in ("step", "lr", "time")]
    for k in keys:
        ax.plot(steps, [h[k] for h in history], label=k, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_slice(values: np.ndarray, bounds: tuple[float, float], path: Path, axis_names: tuple[str, str],
               title: str = "", points: np.ndarray | None = None, level: float = 0.0, n_lines: int = 20) -> None:
    """Cross-section of a field: colour map, iso-lines at regular spacing, the mesh level in bold, and
    the input points near the plane. values[u, v] as returned by `evaluate_slice`."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.2), dpi=110)
    extent = (bounds[0], bounds[1], bounds[0], bounds[1])
    vmax = float(np.abs(values - level).max()) or 1.0
    img = ax.imshow((values - level).T, origin="lower", extent=extent, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.contour(values.T, levels=np.linspace(values.min(), values.max(), n_lines), extent=extent,
               colors="k", linewidths=0.4, alpha=0.6)
    if values.min() < level < values.max():
        ax.contour(values.T, levels=[level], extent=extent, colors="k", linewidths=2.0)
    if points is not None and len(points):
        ax.scatter(points[:, 0], points[:, 1], s=2, c="gold", edgecolors="none", label="input points near plane")
        ax.legend(loc="upper right", fontsize=7)
    fig.colorbar(img, ax=ax, label="F − level")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def render_curve(points: np.ndarray, vertices: np.ndarray, edges: np.ndarray, path: Path, title: str = "",
                 truth: np.ndarray | None = None) -> None:
    """Input points (left) and the recovered polyline (right), each over the true curve when given: side by
    side, because at figure size the points hide a curve drawn through them."""
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    plt = pyplot()
    fig = plt.figure(figsize=(9, 4.5), dpi=110)
    both = np.vstack([points, vertices])
    lo, hi = both.min(axis=0), both.max(axis=0)
    for i, name in enumerate(("input points", "recovered")):
        ax = fig.add_subplot(1, 2, i + 1, projection="3d")
        if truth is not None:
            ax.plot(*truth.T, color="0.6", lw=3, alpha=0.5, label="true curve")
        if i == 0:
            ax.scatter(*points.T, s=4, c="k", depthshade=False, label=name)
        else:
            ax.add_collection3d(Line3DCollection(vertices[edges], colors="tab:red", linewidths=1.5, label=name))
        ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), zlim=(lo[2], hi[2]))
        ax.legend(loc="upper left", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
