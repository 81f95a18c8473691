"""Reading and writing point clouds and meshes, one loader per format picked by extension.

Every loader returns raw arrays; :func:`load_points` validates them so that every format gets the same
checks (empty file, non-finite values, degenerate clouds) and the same one-line error messages.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from plyfile import PlyData, PlyElement

from levelrecon.errors import InputError, LevelreconWarning, short_reason
from levelrecon.files import atomic_output, check_output
from levelrecon.recon.data.normalize import far_outlier_mask

MIN_POINTS = 10


@dataclass
class PointCloud:
    """Points read from a file.

    points : (n, 3) float64
    normals : (n, 3) float64 unit vectors, or None when the file has none
    faces : (m, 3) int64 when the file was a triangle mesh, else None
    """

    points: np.ndarray
    normals: np.ndarray | None = None
    faces: np.ndarray | None = None

    @property
    def is_mesh(self) -> bool:
        return self.faces is not None and len(self.faces) > 0

    def as_mesh(self) -> trimesh.Trimesh:
        """The triangle mesh (vertices in file order, nothing merged); only valid when `is_mesh`."""
        return trimesh.Trimesh(self.points, self.faces, process=False)


RawArrays = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


# ---------------------------------------------------------------------------------------------- loaders
def _load_ply(path: Path) -> RawArrays:
    try:
        with warnings.catch_warnings():  # empty list rows (e.g. range_grid "0") make numpy warn
            warnings.simplefilter("ignore", UserWarning)
            ply = PlyData.read(str(path))
    except Exception as exc:  # plyfile raises many types for truncated or malformed files
        raise InputError(f"{path}: not a readable PLY file ({short_reason(exc)})") from None
    names = [el.name for el in ply.elements]
    if "vertex" not in names:
        raise InputError(f"{path}: PLY file has no 'vertex' element")
    vertex = ply["vertex"].data
    props = vertex.dtype.names or ()
    if not {"x", "y", "z"} <= set(props):
        raise InputError(f"{path}: PLY vertex element lacks x, y, z properties")
    points = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1).astype(np.float64)
    normals = None
    if {"nx", "ny", "nz"} <= set(props):
        normals = np.stack([vertex["nx"], vertex["ny"], vertex["nz"]], axis=1).astype(np.float64)
    faces = None
    if "face" in names and len(ply["face"].data):
        fdata = ply["face"].data
        key = next((k for k in ("vertex_indices", "vertex_index") if k in (fdata.dtype.names or ())), None)
        if key is not None:
            faces = _triangulate([np.asarray(f, dtype=np.int64) for f in fdata[key]])
    return points, normals, faces


def _triangulate(polygons: list[np.ndarray]) -> np.ndarray:
    """Fan-triangulate polygons (most PLY meshes are already triangles: that path is vectorised)."""
    if polygons and all(len(p) == 3 for p in polygons):
        return np.asarray(polygons, dtype=np.int64).reshape(-1, 3)
    tris = [(p[0], p[i], p[i + 1]) for p in polygons for i in range(1, len(p) - 1)]
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)


def _load_trimesh(path: Path) -> RawArrays:
    """OBJ/OFF/STL/GLB through trimesh, without merging or reordering vertices."""
    try:
        loaded = trimesh.load(str(path), process=False)
    except Exception as exc:
        raise InputError(f"{path}: cannot parse {path.suffix[1:].upper()} file ({short_reason(exc)})") from None
    if isinstance(loaded, trimesh.Scene):
        geoms = [g for g in loaded.dump() if hasattr(g, "vertices")]
        if not geoms:
            raise InputError(f"{path}: file has no vertices")
        loaded = trimesh.util.concatenate(geoms)
    points = np.asarray(loaded.vertices, dtype=np.float64)
    faces = None
    normals = None
    if isinstance(loaded, trimesh.Trimesh) and len(loaded.faces):
        faces = np.asarray(loaded.faces, dtype=np.int64)
    if path.suffix.lower() == ".obj":
        normals = _obj_normals(path, len(points))
        if normals is None and faces is not None and _has_vn(path):
            normals = np.asarray(loaded.vertex_normals, dtype=np.float64)
    return points, normals, faces


def _has_vn(path: Path) -> bool:
    with open(path, "rb") as fh:
        return any(line.startswith(b"vn ") for line in fh)


def _obj_normals(path: Path, n_vertices: int) -> np.ndarray | None:
    """`vn` rows when there is one per vertex (point clouds written as OBJ); None otherwise."""
    with open(path, "rb") as fh:
        rows = [line.split()[1:4] for line in fh if line.startswith(b"vn ")]
    if len(rows) != n_vertices:
        return None
    return np.asarray(rows, dtype=np.float64)


def _load_text(path: Path) -> RawArrays:
    """XYZ / TXT / PTS: whitespace or comma separated rows; 6 columns are x y z nx ny nz."""
    lines = text_rows(path, "text point file", ",")
    if lines and len(lines[0].split()) == 1:  # PTS header: the point count
        lines = lines[1:]
    if not lines:
        return np.zeros((0, 3)), None, None
    table = parse_rows(lines, path, "text point file")
    if table.shape[1] < 3:
        raise InputError(f"{path}: rows have {table.shape[1]} columns, need at least x y z")
    normals = table[:, 3:6] if table.shape[1] == 6 else None
    return table[:, :3], normals, None


def text_rows(path: Path, kind: str, separators: str) -> list[str]:
    """The non-blank, non-comment (#) lines of a text table, each of `separators` turned into a space;
    InputError "not a {kind}" for binary content. Shared by the point and the classifier-table readers."""
    try:
        text = path.read_text(errors="strict")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a {kind} (binary content)") from None
    rows = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for sep in separators:
        rows = [ln.replace(sep, " ") for ln in rows]
    return rows


def parse_rows(rows: list[str], path: Path, kind: str) -> np.ndarray:
    """The rows as an (n, columns) float64 array; InputError "cannot parse {kind}" naming the first problem."""
    try:
        return np.loadtxt(io.StringIO("\n".join(rows)), dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise InputError(f"{path}: cannot parse {kind} ({short_reason(exc)})") from None


def _load_numpy(path: Path) -> RawArrays:
    """NPY: an (n, 3) or (n, 6) array. NPZ: `points` (or `xyz`/`vertices`) and optional `normals`."""
    try:
        data = np.load(str(path), allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{path}: not a readable NumPy file ({short_reason(exc)})") from None
    normals = None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            key = next((k for k in ("points", "xyz", "vertices", "pts") if k in data.files), None)
            if key is None:
                if not data.files:
                    raise InputError(f"{path}: NPZ archive is empty")
                key = data.files[0]
            arr = np.asarray(data[key])
            if "normals" in data.files:
                normals = np.asarray(data["normals"], dtype=np.float64)
    else:
        arr = np.asarray(data)
    if arr.ndim != 2 or arr.shape[1] not in (3, 6):
        raise InputError(f"{path}: expected an (n, 3) or (n, 6) array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{path}: array is not numeric ({arr.dtype})")
    arr = arr.astype(np.float64)
    if arr.shape[1] == 6:
        normals = arr[:, 3:]
    if normals is not None and normals.shape != (len(arr), 3):
        raise InputError(f"{path}: normals have shape {normals.shape}, expected ({len(arr)}, 3)")
    return arr[:, :3], normals, None


LOADERS: dict[str, Callable[[Path], RawArrays]] = {
    ".ply": _load_ply,
    ".obj": _load_trimesh,
    ".off": _load_trimesh,
    ".stl": _load_trimesh,
    ".glb": _load_trimesh,
    ".xyz": _load_text,
    ".txt": _load_text,
    ".pts": _load_text,
    ".npy": _load_numpy,
    ".npz": _load_numpy,
}


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: file does not exist")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")


def _loader_for(path: Path, file_type: str | None) -> Callable[[Path], RawArrays]:
    ext = ("." + file_type.lstrip(".")) if file_type else path.suffix
    loader = LOADERS.get(ext.lower())
    if loader is None:
        raise InputError(
            f"{path}: unknown format '{ext or '(no extension)'}'; supported: {', '.join(sorted(LOADERS))}"
        )
    return loader


def load_points(path: str | os.PathLike, file_type: str | None = None, min_points: int = MIN_POINTS) -> PointCloud:
    """Read a point cloud (or a mesh, keeping its faces) and validate it.

    Non-finite points are dropped with a :class:`LevelreconWarning`; an empty, degenerate (identical or
    collinear points) or too small cloud raises :class:`InputError` naming the file.
    """
    path = Path(path)
    _check_readable(path)
    points, normals, faces = _loader_for(path, file_type)(path)
    return validate_points(points, normals, faces, source=str(path), min_points=min_points)


MAX_COORDINATE = 1e15  # beyond: float64 keeps under a unit of precision, and squared distances overflow near 1e154


def validate_points(points: np.ndarray, normals: np.ndarray | None = None, faces: np.ndarray | None = None,
                    source: str = "points", min_points: int = MIN_POINTS) -> PointCloud:
    """The checks every input gets, from a file or from memory (the Python API): 3 coordinates, finite
    points (others dropped with a warning), enough of them, not identical or collinear, unit normals.
    Errors name `source`."""
    points = np.asarray(points, dtype=np.float64)
    if points.size and (points.ndim != 2 or points.shape[1] != 3):
        raise InputError(f"{source}: vertices do not have 3 coordinates (got shape {points.shape})")
    points = points.reshape(-1, 3)
    if len(points) == 0:
        raise InputError(f"{source}: contains no points")
    finite = np.isfinite(points).all(axis=1)
    if not finite.any():
        raise InputError(f"{source}: no point has finite coordinates (all NaN/inf)")
    if not finite.all():
        bad = int((~finite).sum())
        warnings.warn(f"{source}: dropped {bad} of {len(points)} points with NaN/inf coordinates",
                      LevelreconWarning, stacklevel=3)
        if faces is not None:  # faces referencing dropped vertices cannot be kept consistently
            faces = None
        points = points[finite]
        normals = normals[finite] if normals is not None else None
    if len(points) < min_points:
        raise InputError(f"{source}: only {len(points)} points, at least {min_points} are needed")
    extent = np.ptp(points, axis=0)
    if extent.max() == 0:
        raise InputError(f"{source}: all points are identical")
    core = points[~far_outlier_mask(points)]  # stray points far away would dominate the test
    huge = np.abs(core).max(axis=1) > MAX_COORDINATE  # far outliers (a few sentinels) are dropped later
    if huge.any():
        raise InputError(f"{source}: {int(huge.sum())} of {len(points)} points have coordinates beyond "
                         f"±{MAX_COORDINATE:.0e} (largest {np.abs(core).max():.3g}): rescale the cloud, or remove "
                         "them if they are sentinel values (too many to drop as outliers)")
    sub = (core if len(core) >= min_points else points)[:: max(1, len(points) // 20000)]
    sv = np.linalg.svd(sub - sub.mean(axis=0), compute_uv=False)
    if sv[1] <= 1e-9 * sv[0]:
        raise InputError(f"{source}: all points are collinear, no surface can be fitted")
    if normals is not None:
        normals = np.asarray(normals, dtype=np.float64)
        length = np.linalg.norm(normals, axis=1)
        if not np.isfinite(normals).all() or (length < 1e-12).any():
            warnings.warn(f"{source}: ignoring normals (some are zero or non-finite)", LevelreconWarning,
                          stacklevel=3)
            normals = None
        else:
            normals = normals / length[:, None]
    if faces is not None:
        faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
        if len(faces) and (faces.min() < 0 or faces.max() >= len(points)):
            raise InputError(f"{source}: face indices out of range")
    return PointCloud(points, normals, faces)


def load_mesh(path: str | os.PathLike) -> trimesh.Trimesh:
    """Read a triangle mesh; an error if the file holds no faces."""
    cloud = load_points(path, min_points=3)
    if not cloud.is_mesh:
        raise InputError(f"{path}: file holds no triangles (a point cloud, not a mesh)")
    return cloud.as_mesh()


# ---------------------------------------------------------------------------------------------- writers
MESH_FORMATS = (".ply", ".obj", ".off", ".stl", ".glb")
POINT_FORMATS = (".ply", ".xyz", ".txt", ".pts", ".npy", ".npz", ".obj")


def check_mesh_output(path: str | os.PathLike, force: bool = False) -> None:
    """Refuse an unknown mesh extension or an existing output (called before meshing, which is slow)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in MESH_FORMATS:
        raise InputError(f"{path}: unknown mesh format '{ext}'; supported: {', '.join(MESH_FORMATS)}")
    check_output(path, force)


def write_mesh(mesh: trimesh.Trimesh, path: str | os.PathLike, force: bool = False) -> Path:
    """Write a triangle mesh; the format follows the extension (.ply .obj .off .stl .glb)."""
    path = Path(path)
    check_mesh_output(path, force=True)
    with atomic_output(path, force) as tmp:
        mesh.export(str(tmp), file_type=path.suffix.lower()[1:])
    return path


def write_points(points: np.ndarray, path: str | os.PathLike, normals: np.ndarray | None = None,
                 force: bool = False) -> Path:
    """Write a point cloud (with normals where the format holds them)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in POINT_FORMATS:
        raise InputError(f"{path}: unknown point format '{ext}'; supported: {', '.join(POINT_FORMATS)}")
    points = np.asarray(points, dtype=np.float64)
    table = points if normals is None else np.hstack([points, normals])
    with atomic_output(path, force) as tmp:
        if ext == ".ply":
            names = ["x", "y", "z"] + ([] if normals is None else ["nx", "ny", "nz"])
            data = np.empty(len(points), dtype=[(n, "f4") for n in names])
            for i, n in enumerate(names):
                data[n] = table[:, i]
            PlyData([PlyElement.describe(data, "vertex")]).write(str(tmp))
        elif ext in (".xyz", ".txt", ".pts"):
            np.savetxt(tmp, table, fmt="%.8g")
        elif ext == ".npy":
            np.save(tmp, table)
        elif ext == ".npz":
            extra = {} if normals is None else {"normals": np.asarray(normals)}
            np.savez(tmp, points=points, **extra)
        else:  # .obj
            lines = [f"v {x:.8g} {y:.8g} {z:.8g}" for x, y, z in points]
            if normals is not None:
                lines += [f"vn {x:.8g} {y:.8g} {z:.8g}" for x, y, z in normals]
            tmp.write_text("\n".join(lines) + "\n")
    return path


def write_polyline(vertices: np.ndarray, edges: np.ndarray, path: str | os.PathLike, force: bool = False) -> Path:
    """Write a curve as vertices plus edges: PLY `edge` element or OBJ `l` lines."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".ply", ".obj"):
        raise InputError(f"{path}: curves are written as .ply or .obj, not '{ext}'")
    with atomic_output(path, force) as tmp:
        if ext == ".ply":
            v = np.empty(len(vertices), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
            v["x"], v["y"], v["z"] = vertices.T
            e = np.empty(len(edges), dtype=[("vertex1", "i4"), ("vertex2", "i4")])
            e["vertex1"], e["vertex2"] = np.asarray(edges).T
            PlyData([PlyElement.describe(v, "vertex"), PlyElement.describe(e, "edge")]).write(str(tmp))
        else:
            lines = [f"v {x:.8g} {y:.8g} {z:.8g}" for x, y, z in vertices]
            lines += [f"l {a + 1} {b + 1}" for a, b in edges]
            tmp.write_text("\n".join(lines) + "\n")
    return path


def load_polyline(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray] | None:
    """(vertices, edges) of a curve file — PLY with an `edge` element or OBJ with `l` lines — else None."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".ply":
        try:
            ply = PlyData.read(str(path))
        except Exception:
            return None
        if "edge" not in [el.name for el in ply.elements] or "vertex" not in [el.name for el in ply.elements]:
            return None
        v, e = ply["vertex"].data, ply["edge"].data
        return (np.stack([v["x"], v["y"], v["z"]], axis=1).astype(np.float64),
                np.stack([e["vertex1"], e["vertex2"]], axis=1).astype(np.int64))
    if ext == ".obj":
        verts, edges = [], []
        with open(path, errors="replace") as fh:
            for line in fh:
                if line.startswith("v "):
                    verts.append(line.split()[1:4])
                elif line.startswith("l "):
                    idx = [int(t.split("/")[0]) - 1 for t in line.split()[1:]]
                    edges += list(zip(idx[:-1], idx[1:], strict=True))
        if not edges:
            return None
        return np.asarray(verts, dtype=np.float64), np.asarray(edges, dtype=np.int64)
    return None
