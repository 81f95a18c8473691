"""Offscreen PNG renders of meshes (matplotlib Agg: no display, no GPU, no EGL).

The one mesh renderer of the project: `levelrecon render`, the batch report's thumbnails and the
benchmarks' figures all draw through :func:`render_mesh`. Faces are sorted back to front by matplotlib
(painter's algorithm) and Lambert-shaded per face: measured on 2 cores, three views of a 330k-face mesh
(a 256³ marching-cubes result) take 9 s, of 80k faces 3 s; Open3D's offscreen renderer would need EGL.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from levelrecon.errors import InputError
from levelrecon.recon.plots import pyplot
from levelrecon.viz.colors import ERROR_CMAP, colormap, error_range
from levelrecon.viz.scene import SceneItem

BASE_COLOR = (0.75, 0.8, 0.9)


def orbit(n: int, elevation: float = 20.0) -> tuple[tuple[float, float], ...]:
    """n (elevation, azimuth) views in degrees, evenly spaced around the vertical axis from the usual
    three-quarter view (azimuth -60°)."""
    return tuple((elevation, -60.0 + i * 360.0 / n) for i in range(n))


def _z_up(x: np.ndarray, up: str) -> np.ndarray:
    """Rotate so that axis `up` points up in matplotlib's z-up 3-D axes (a rotation: no mirroring)."""
    if up == "y":
        return np.column_stack([x[:, 0], -x[:, 2], x[:, 1]])
    if up == "x":
        return np.column_stack([x[:, 1], x[:, 2], x[:, 0]])
    return x


def _face_colors(tris: np.ndarray, view: tuple[float, float], face_values: np.ndarray | None,
                 vmax: float) -> np.ndarray:
    """Two-sided Lambert shading from a light at the camera, over a flat colour or the value's colour."""
    n = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    elev, azim = np.radians(view[0]), np.radians(view[1])
    light = np.array([np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)])
    lambert = np.abs(n @ light)
    if face_values is None:
        return np.clip(np.outer(0.25 + 0.75 * lambert, BASE_COLOR), 0, 1)
    base = colormap(face_values, 0.0, vmax).astype(np.float64) / 255
    return np.clip(base * (0.55 + 0.45 * lambert)[:, None], 0, 1)  # lighter shading: the colour carries data


def render_mesh(vertices: np.ndarray, faces: np.ndarray, path: str | Path, title: str = "",
                points: np.ndarray | None = None, views: Sequence[tuple[float, float]] = orbit(1),
                up: str = "z", values: np.ndarray | None = None, value_label: str = "",
                panel_size: float = 4.5, edges: np.ndarray | None = None) -> None:
    """Shaded views of a triangle mesh side by side, optionally after its input cloud and coloured by a
    per-vertex value (e.g. the distance to a ground truth) with a colour bar.

    Parameters
    ----------
    vertices : (n, 3) float, faces : (m, 3) int
    points : (k, 3) float, drawn in a first panel (the input, beside what was made of it)
    views : (elevation, azimuth) pairs in degrees, one panel each
    up : the axis drawn vertical (the shared meshes are y-up)
    values : (n,) float per vertex; faces take the mean of their vertices; the scale runs from 0 to the
        99th percentile
    edges : (e, 2) int: draw this polyline (a curve run's) instead of `faces`
    """
    plt = pyplot()
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection

    vertices, faces = _z_up(np.asarray(vertices, dtype=float), up), np.asarray(faces)
    tris = vertices[faces]
    face_values = None if values is None else np.asarray(values, dtype=float)[faces].mean(axis=1)
    vmax = error_range(np.asarray(values, dtype=float)) if values is not None else 1.0
    panels = len(views) + (points is not None)
    fig = plt.figure(figsize=(panel_size * panels + (1.0 if values is not None else 0.0), panel_size), dpi=100)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    center, half = (lo + hi) / 2, (hi - lo).max() / 2
    axes = []
    if points is not None:
        ax = fig.add_subplot(1, panels, 1, projection="3d")
        ax.scatter(*_z_up(np.asarray(points, dtype=float), up).T, s=0.3, c="k", alpha=0.5, depthshade=False)
        ax.set_title("input", fontsize=9)
        axes.append((ax, views[0]))
    for i, view in enumerate(views):
        ax = fig.add_subplot(1, panels, panels - len(views) + i + 1, projection="3d")
        if edges is not None:
            ax.add_collection3d(Line3DCollection(vertices[np.asarray(edges)], colors=[(0.15, 0.35, 0.8)],
                                                 linewidths=1.5))
        else:
            colors = _face_colors(tris, view, face_values, vmax)  # edges in the face colour hide anti-aliasing seams
            ax.add_collection3d(Poly3DCollection(tris, facecolors=colors, edgecolors=colors, linewidths=0.2))
        axes.append((ax, view))
    axes[len(axes) - len(views)][0].set_title(title, fontsize=9)
    for ax, view in axes:
        ax.set_xlim(center[0] - half, center[0] + half)
        ax.set_ylim(center[1] - half, center[1] + half)
        ax.set_zlim(center[2] - half, center[2] + half)
        ax.set_box_aspect((1, 1, 1), zoom=1.3)  # the default leaves a wide empty margin
        ax.view_init(*view)
        ax.set_axis_off()
    if values is not None:
        fig.colorbar(ScalarMappable(Normalize(0.0, vmax), ERROR_CMAP), ax=[a for a, _ in axes], shrink=0.7,
                     extend="max", label=value_label)
    else:
        fig.tight_layout()
    fig.savefig(path, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)


def render_item(item: SceneItem, path: str | Path, views: Sequence[tuple[float, float]] = orbit(3),
                up: str = "y", title: str | None = None) -> None:
    """Render a loaded run or mesh file; coloured by its errors when the scene was loaded against a ground truth."""
    if item.curve is not None:
        verts, edges = item.curve
        render_mesh(verts, np.zeros((0, 3), dtype=np.int64), path, item.name if title is None else title,
                    views=views, up=up, edges=edges)
        return
    if item.mesh is None:
        hint = (f"run `levelrecon mesh {item.source}` first" if item.checkpoint is not None
                else "a point cloud, not a mesh")
        raise InputError(f"{item.source}: no mesh to render ({hint})")
    label = ""
    if item.errors is not None:
        label = "distance to ground truth"
        title = title if title is not None else (f"{item.name}: distance to ground truth, mean "
                                                 f"{item.errors.mean():.3g}, max {item.errors.max():.3g}")
    render_mesh(np.asarray(item.mesh.vertices), np.asarray(item.mesh.faces), path,
                item.name if title is None else title, views=views, up=up, values=item.errors, value_label=label)
