"""What `view` and `render` show: run directories, meshes and clouds loaded into one description.

Everything is in the input's original coordinates (the meshes of `levelrecon mesh` are), so a run's mesh,
its input cloud and a ground truth line up without further transforms.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from levelrecon.errors import InputError
from levelrecon.recon import runs
from levelrecon.recon.data.io import load_mesh, load_points, load_polyline
from levelrecon.recon.data.normalize import Normalization


@dataclass
class SceneItem:
    """One input of the viewer: any of a cloud, a mesh and a trained field, with the run's loss log."""

    name: str
    source: Path
    points: np.ndarray | None = None  # (n, 3) float64
    mesh: trimesh.Trimesh | None = None
    curve: tuple[np.ndarray, np.ndarray] | None = None  # (vertices, edges) of a curve run's polyline
    checkpoint: Path | None = None  # model.pt, for cross-sections of the field
    normalization: Normalization | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    errors: np.ndarray | None = None  # (n_vertices,) distance of each mesh vertex to the ground truth

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounding box of what is shown; a field alone spans its normalized cube [-1, 1]³."""
        shown = (self.points, None if self.mesh is None else np.asarray(self.mesh.vertices),
                 None if self.curve is None else self.curve[0])
        parts = [p for p in shown if p is not None and len(p)]
        if not parts and self.normalization is not None:
            parts = [self.normalization.invert(np.array([[-1.0] * 3, [1.0] * 3]))]
        both = np.vstack(parts)
        return both.min(axis=0), both.max(axis=0)


def read_history(path: Path) -> list[dict[str, float]]:
    """The loss log `fit` writes (train_log.csv), as one dict per logged step; [] when absent or unreadable."""
    try:
        with open(path, newline="") as fh:
            return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(fh)]
    except (OSError, ValueError):
        return []


def run_mesh_path(run_dir: Path) -> Path | None:
    """The run's mesh: the one `levelrecon mesh` recorded in run.json, else mesh.ply, else Poisson's surface."""
    recorded = runs.read_run_info(run_dir).get("mesh")
    for path in (Path(recorded) if recorded else None, run_dir / runs.MESH, run_dir / runs.SURFACE):
        if path is not None and path.is_file():
            return path
    return None


def load_shape(path: Path) -> tuple[trimesh.Trimesh | None, tuple[np.ndarray, np.ndarray] | None]:
    """(mesh, None) for a triangle mesh file, (None, (vertices, edges)) for a polyline (a curve run's mesh)."""
    curve = load_polyline(path)
    return (None, curve) if curve is not None else (load_mesh(path), None)


def load_run(run_dir: Path) -> SceneItem:
    """A run directory: its input cloud, mesh (when meshed), field and loss log."""
    item = SceneItem(run_dir.name, run_dir, history=read_history(run_dir / runs.LOG))
    if (run_dir / runs.INPUT).is_file():
        item.points = np.load(run_dir / runs.INPUT)
    mesh_path = run_mesh_path(run_dir)
    if mesh_path is not None:
        item.mesh, item.curve = load_shape(mesh_path)
    if (run_dir / runs.CHECKPOINT).is_file():
        item.checkpoint = run_dir / runs.CHECKPOINT
        norm = runs.read_run_info(run_dir).get("normalization")
        item.normalization = Normalization.from_dict(norm) if norm else None
    return item


def load_item(path: Path) -> SceneItem:
    """A run directory (or its model.pt), a mesh file or a cloud file."""
    if path.suffix == ".pt" and runs.is_run_dir(path.parent):
        path = path.parent
    if runs.is_run_dir(path):
        return load_run(path)
    if path.is_dir():
        raise InputError(f"{path}: a directory without run.json (not a run directory)")
    curve = load_polyline(path) if path.is_file() else None
    if curve is not None:
        return SceneItem(path.stem, path, curve=curve)
    cloud = load_points(path, min_points=1)
    if cloud.is_mesh:
        return SceneItem(path.stem, path, mesh=cloud.as_mesh())
    return SceneItem(path.stem, path, points=cloud.points)


def load_scene(paths: list[Path], gt: Path | None = None) -> list[SceneItem]:
    """Load every input, naming them uniquely (runs are often all called mesh.ply or model.pt), and colour
    their meshes by the distance to the ground truth `gt` when given."""
    items = [load_item(p) for p in paths]
    seen: dict[str, int] = {}
    for item in items:
        seen[item.name] = seen.get(item.name, 0) + 1
        if seen[item.name] > 1:
            item.name = f"{item.name}_{seen[item.name]}"
    if gt is not None:
        from levelrecon.viz.colors import vertex_errors

        truth = load_mesh(gt)
        for item in items:
            if item.mesh is not None:
                item.errors = vertex_errors(item.mesh, truth)
    return items
