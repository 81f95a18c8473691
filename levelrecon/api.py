"""The Python API: points in, surface out, in one call or through a small model object.

The command-line tools are thin callers of these functions, so a notebook and a shell script get the same
cleaning, training, run directory and mesh:

>>> import numpy as np, levelrecon
>>> rng = np.random.default_rng(0)
>>> points = rng.normal(size=(2000, 3))
>>> points /= np.linalg.norm(points, axis=1, keepdims=True)        # 2,000 samples of the unit sphere
>>> mesh = levelrecon.reconstruct(points, method="igr", iters=80, seed=0)
>>> mesh.is_watertight, bool(abs(mesh.bounding_box.extents.max() - 2) < 0.2)
(True, True)

The object API keeps the trained field for queries and saving:

>>> model = levelrecon.fit(points, method="igr", iters=40, seed=0)
>>> d = model.sdf([[0, 0, 0], [2, 0, 0]])                        # signed distance, negative inside
>>> bool(d[0] < 0 < d[1])
True
>>> import tempfile, pathlib
>>> run = model.save(pathlib.Path(tempfile.mkdtemp()) / "sphere")  # a run directory `levelrecon mesh` reads
>>> levelrecon.load(run).method
'igr'
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from levelrecon.errors import InputError, LevelreconWarning
from levelrecon.recon import runs
from levelrecon.recon.data.cleaning import Cleaned, clean_cloud, expand_inputs, outlier_mode
from levelrecon.recon.data.io import PointCloud, load_points, validate_points
from levelrecon.recon.data.sampling import surface_cloud
from levelrecon.recon.fit import FitResult, fit_cloud
from levelrecon.recon.meshing.extract import Extracted, mesh_from_field, mesh_from_source, surface_extracted
from levelrecon.recon.meshing.marching import ProgressFn
from levelrecon.recon.methods.registry import auto_method, check_options
from levelrecon.recon.train import StepCallback

PathLike = str | os.PathLike
CloudLike = Any  # a path, a list of paths, an (n, 3) array, or an Open3D / trimesh point cloud or mesh


class Model:
    """A trained field (or a classical run's surface) with its normalization and input cloud.

    A model `fit` returned holds all of it in memory (meshing and `sdf` read no file); its run directory
    (the one `fit` wrote, or a private temporary one that lives as long as the object) is its saved form.
    A model `load` returned reads its run directory or checkpoint. Create with :func:`fit` or :func:`load`.
    """

    def __init__(self, source: PathLike, result: FitResult | None = None, cleaning: Cleaned | None = None,
                 _tmp: tempfile.TemporaryDirectory | None = None) -> None:
        self.source = Path(source)
        self._tmp = _tmp  # keeps a temporary run directory alive
        self.info: dict[str, Any] = runs.read_run_info(self.run_dir) if self.run_dir is not None else {}
        self.result = result  # training summary (steps, seconds, final loss), when this object trained it
        self.cleaning = cleaning  # what cleaning did to the input, when this object trained it
        self._field: tuple[Any, Any, Any] | None = None
        self._trained = result.trained if result is not None else None

    @property
    def run_dir(self) -> Path | None:
        """The run directory behind the model (None for a bare model.pt outside one)."""
        if self.source.is_dir():
            return self.source
        return self.source.parent if runs.is_run_dir(self.source.parent) else None

    @property
    def method(self) -> str:
        return self.info.get("method") or self._checkpoint().method

    def __repr__(self) -> str:
        where = "temporary run" if self._tmp is not None else str(self.source)
        return f"levelrecon.Model(method={self.method!r}, {where})"

    def extract(self, resolution: int | None = None, *, level: float | None = None, dense: bool = False,
                margin: float | None = None, trim: float | str = "auto", largest_component: bool = False,
                bound: float = 1.1, device: str = "auto", chunk: int = 65536, curve_trim: float = 3.0,
                progress: ProgressFn | None = None, snap: str = "auto") -> Extracted:
        """The surface with extraction statistics (what `levelrecon mesh` prints); see :meth:`mesh`."""
        trained = self._trained
        if trained is not None and trained.surface is not None:
            return surface_extracted(trained.surface.copy(), self.method, largest_component)
        if trained is not None:
            from levelrecon.device import resolve_device

            return mesh_from_field(trained.method, trained.network.to(resolve_device(device)), trained.normalization,
                                   trained.points, self.method, str(self.source), resolution, level, bound,
                                   largest_component, chunk, progress, curve_trim, dense, margin, trim, snap)
        return mesh_from_source(self.source, resolution, level, bound, largest_component, device, chunk,
                                progress=progress, curve_trim=curve_trim, dense=dense, margin=margin, trim=trim,
                                snap=snap)

    def mesh(self, resolution: int | None = None, *, level: float | None = None, dense: bool = False,
             margin: float | None = None, trim: float | str = "auto", largest_component: bool = False,
             device: str = "auto", snap: str = "auto") -> trimesh.Trimesh:
        """Marching cubes on the field, in the input's coordinates.

        resolution: grid points per axis (default 256, refined adaptively near the surface; 128 with
        `dense=True`, which evaluates every grid point). trim: "auto" drops the large regions of surface far
        from every input point that a field puts over the holes of an open scan (closed clouds keep a
        watertight mesh); a number K drops every face farther than K input point spacings from the input;
        0 keeps all. snap: "auto" moves the vertices onto the input where it is dense and nearly noise-free
        (a raw range scan), "on" always, "off" never. A classical run returns its surface.
        """
        out = self.extract(resolution, level=level, dense=dense, margin=margin, trim=trim,
                           largest_component=largest_component, device=device, snap=snap)
        if out.mesh is None:
            raise InputError(f"{self.source}: a curve network has no surface; use extract() for its polyline")
        return out.mesh

    def sdf(self, points: Any, device: str = "auto", chunk: int = 65536) -> np.ndarray:
        """Signed distance estimates at `points` (n, 3) in input units, negative inside the surface.

        Close to the surface the value is the distance (the fields are trained to unit gradient there);
        far from it only the sign is reliable (a feature-grid field is not trained far from the data).

        Neural runs evaluate the field (minus its mesh level, sign flipped for fields positive inside such
        as OCSDF) and scale it back from the normalized cube; classical runs measure the distance to their
        surface (Open3D ray casting).
        """
        query = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        if self.info.get("method") == "poisson":
            from levelrecon.recon.metrics import signed_surface_distances

            return signed_surface_distances(query, self.mesh()).astype(np.float64)
        method, fn, norm = self._evaluator(device)
        if method.n_outputs != 1:
            raise InputError(f"{self.source}: a curve network has {method.n_outputs} outputs, not a signed distance")
        values = np.concatenate([fn(chunk_pts) for chunk_pts in
                                 np.array_split(norm.apply(query), max(1, -(-len(query) // chunk)))])
        sign = 1.0 if method.inside == "negative" else -1.0
        return sign * (values.astype(np.float64) - method.mesh_level()) * norm.scale

    def save(self, path: PathLike, force: bool = False) -> Path:
        """Write the run directory (model.pt, run.json, input cloud, logs) to `path`, which
        `levelrecon.load`, `levelrecon mesh` and `levelrecon eval` read. Refuses an existing non-empty
        directory unless `force`."""
        target = Path(path)
        if self.run_dir is None:
            raise InputError(f"{self.source}: a bare checkpoint has no run directory to save; copy the file")
        if target.resolve() == self.run_dir.resolve():
            return target
        run = runs.RunDir.create(target, force)  # an existing run is replaced only once the copy is complete
        shutil.copytree(self.run_dir, run.work, dirs_exist_ok=True)
        run.commit()
        return target

    def _checkpoint(self) -> Any:
        from levelrecon.recon.checkpoint import load_checkpoint

        path = self.source if self.source.suffix == ".pt" else self.source / runs.CHECKPOINT
        return load_checkpoint(path)

    def _evaluator(self, device: str) -> tuple[Any, Any, Any]:
        """The method, a numpy field function and the normalization, loaded once."""
        if self._field is None:
            from levelrecon.device import resolve_device
            from levelrecon.recon.meshing.marching import torch_field

            if self._trained is not None:
                network = self._trained.network.to(resolve_device(device))
                self._field = (self._trained.method, torch_field(network), self._trained.normalization)
            else:
                ckpt = self._checkpoint()
                self._field = (*ckpt.field(resolve_device(device)), ckpt.normalization)
        return self._field


def as_clouds(data: CloudLike, normals: Any = None, surface_samples: int | None = None,
              seed: int = 0) -> tuple[list[PointCloud], list[Path], str]:
    """Inputs of every accepted kind as validated clouds, the files they came from, and a display name.

    Files and folders are read as `levelrecon fit` reads them; arrays, Open3D point clouds or meshes and
    trimesh objects are taken from memory (a mesh gives its vertices, or `surface_samples` area-uniform
    samples).
    """
    if isinstance(data, (str, os.PathLike)) or (
            isinstance(data, Sequence) and not isinstance(data, np.ndarray) and data
            and all(isinstance(d, (str, os.PathLike)) for d in data)):
        files = expand_inputs([Path(d) for d in ([data] if isinstance(data, (str, os.PathLike)) else data)])
        if normals is not None:
            raise InputError(f"{files[0]}: normals come from the file; pass `normals` only with arrays")
        parts = [load_points(f) for f in files]
        if surface_samples:
            parts = [surface_cloud(p, surface_samples, seed, str(f)) for p, f in zip(parts, files, strict=True)]
        return parts, files, files[0].stem
    points, own_normals, faces, name = _from_memory(data)
    cloud = validate_points(points, normals if normals is not None else own_normals, faces, source=name)
    if surface_samples:
        cloud = surface_cloud(cloud, surface_samples, seed, name)
    return [cloud], [], "points"


def _from_memory(data: Any) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """(points, normals, faces, name) of an array, an Open3D geometry or a trimesh object."""
    if isinstance(data, trimesh.Trimesh):
        return np.asarray(data.vertices), None, np.asarray(data.faces), "trimesh mesh"
    if isinstance(data, trimesh.PointCloud):
        return np.asarray(data.vertices), None, None, "trimesh point cloud"
    kind = type(data).__module__ + "." + type(data).__name__
    if kind.startswith("open3d") and hasattr(data, "points"):
        normals = np.asarray(data.normals) if data.has_normals() else None
        return np.asarray(data.points), normals, None, "Open3D point cloud"
    if kind.startswith("open3d") and hasattr(data, "vertices"):
        return np.asarray(data.vertices), None, np.asarray(data.triangles), "Open3D mesh"
    try:
        arr = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"cannot read points from a {type(data).__name__}; give an (n, 3) array, a file path, "
                         "or an Open3D / trimesh object") from None
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise InputError(f"points: expected an (n, 3) array, got shape {arr.shape}")
    return arr, None, None, "points"


def fit(data: CloudLike, normals: Any = None, *, method: str = "auto", preset: str = "cpu",
        run_dir: PathLike | None = None, runs_root: PathLike | None = None, force: bool = False, device: str = "auto",
        voxel: float | None = None, outliers: str = "auto", keep_far: bool = False,
        surface_samples: int | None = None, curve: bool = False, progress: bool = False,
        on_step: StepCallback | None = None, should_stop: Callable[[], bool] | None = None,
        on_start: Callable[[str, int], None] | None = None, **options: Any) -> Model:
    """Clean the cloud, train a level-set network (or run the Poisson baseline) and return the model.

    data: a file or folder path (or a list of them, merged), an (n, 3) array (with optional `normals`),
    an Open3D point cloud or mesh, or a trimesh object. method: "auto" (levelset below 5,000 points, igr on
    a feature grid above), "igr", "levelset", "sal", "ocsdf" or "poisson". options: any method option,
    e.g. iters=400, field="grid", seed=1, lr=1e-3 (the CLI's --iters, --field, --seed, --set KEY=VALUE).
    run_dir: where to write the run; runs_root: write it to runs_root/<cloud>_<method>_<k> instead (what
    the CLI does) and, with or without run_dir, name it in runs_root/latest once it finishes; neither: a
    temporary directory that lives with the model (`save` it to keep it).
    progress: show a progress bar on stderr; on_step(step, total, logs) and on_start(method, n_points) are
    hooks for your own, should_stop() ends training early (checkpoint kept).
    Bad input raises `levelrecon.InputError` (a ValueError).
    """
    if curve:
        if method not in ("auto", "levelset"):
            raise InputError(f"curve fitting needs method 'levelset', not {method!r}")
        method, options = "levelset", {**options, "curve": True}
    check_options(method, preset, options)  # before reading the input or writing anything
    seed = int(options.get("seed") or 0)
    parts, files, name = as_clouds(data, normals, surface_samples, seed)
    if method == "auto":
        method = auto_method(sum(len(p.points) for p in parts))
    source = str(files[0]) if files else name
    cleaned = clean_cloud(parts, voxel=voxel, outliers=outlier_mode(method, outliers), drop_far=not keep_far,
                          source=source)
    if cleaned.far_outliers:
        warnings.warn(f"{source}: dropped {cleaned.far_outliers} point(s) far outside the cloud's robust extent "
                      "(keep_far / --keep-far keeps them)", LevelreconWarning, stacklevel=2)
    tmp = None
    target: Path | None = None
    if run_dir is not None:
        target = Path(run_dir)
    elif runs_root is None:
        tmp = tempfile.TemporaryDirectory(prefix="levelrecon_")
        target = Path(tmp.name) / "run"
    info = {"inputs": [str(f.resolve()) for f in files], **cleaned.summary(), "voxel": voxel}
    if on_start is not None:
        on_start(method, len(cleaned.cloud.points))

    def run(callback: StepCallback | None) -> FitResult:
        return fit_cloud(cleaned.cloud, files[0] if files else Path(name), method, target, preset=preset,
                         overrides=options, device=device, force=force, on_step=callback,
                         should_stop=should_stop or (lambda: False), extra_info=info,
                         runs_root=None if runs_root is None else Path(runs_root), stem=name)

    if progress:
        from levelrecon.progress import ProgressReporter

        with ProgressReporter(f"fit {method}", int(options.get("iters") or 1)) as bar:
            def report(step: int, total: int, logs: dict[str, float]) -> None:
                bar(step, total, {"loss": logs["loss"]})
                if on_step is not None:
                    on_step(step, total, logs)

            result = run(report)
    else:
        result = run(on_step)
    return Model(result.run_dir, result, cleaned, tmp)


def load(path: PathLike) -> Model:
    """A model from a run directory (what `levelrecon fit` or `Model.save` wrote) or a model.pt file."""
    source = Path(path)
    if not source.is_dir() and source.suffix != ".pt":
        raise InputError(f"{source}: not a run directory or a model.pt checkpoint")
    model = Model(source)  # reads run.json: a one-line error for a folder that is not a run
    if source.suffix == ".pt":
        model._checkpoint()  # validate now, not at first use
    return model


def reconstruct(data: CloudLike, normals: Any = None, *, method: str = "auto", resolution: int | None = None,
                trim: float | str = "auto", **options: Any) -> trimesh.Trimesh:
    """Points in, mesh out: :func:`fit` then :meth:`Model.mesh`, like Open3D's one-call Poisson.

    Takes everything :func:`fit` takes (`method`, `iters`, `seed`, `device`, `voxel`, `progress` ...);
    `resolution` and `trim` go to the meshing step. The mesh is in the input's coordinates.
    """
    return fit(data, normals, method=method, **options).mesh(resolution, trim=trim)
