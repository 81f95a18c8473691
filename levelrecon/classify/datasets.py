"""Tabular data for one-class classification: files (CSV, NPY, NPZ, ODDS .mat) and scikit-learn built-ins.

Every loader returns features X (n, d) and, when the source has them, labels turned into anomaly flags
y (1 = anomaly, the ODDS convention). Multi-class labels become "one class vs the rest" with the class
the user calls normal. Z-scoring is fitted on training rows only (see :func:`fit_zscore`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from levelrecon.errors import InputError

LABEL_NAMES = ("y", "label", "labels", "target", "class", "anomaly", "outlier")
MIN_ROWS = 5


@dataclass
class Dataset:
    """X : (n, d) float64 features; y : (n,) int 0/1 with 1 = anomaly, or None when unlabeled."""

    X: np.ndarray
    y: np.ndarray | None
    name: str
    feature_names: list[str] | None = None

    @property
    def labeled(self) -> bool:
        return self.y is not None


def _builtin(name: str) -> Callable[[], tuple[np.ndarray, np.ndarray, list[str]]]:
    def load() -> tuple[np.ndarray, np.ndarray, list[str]]:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")()
        return bunch.data, bunch.target, [str(f) for f in bunch.feature_names]

    return load


BUILTINS = {name: _builtin(name) for name in ("wine", "breast_cancer", "digits")}


def load_dataset(source: str | Path, label_column: str | int | None = None,
                 normal_class: str | float | None = None) -> Dataset:
    """Read SOURCE: a .csv/.npy/.npz/.mat file, or a built-in name (wine, breast_cancer, digits).

    label_column : CSV column name or index, or NPY column index, holding the labels [CSV default: a
        column named y, label, target, class, anomaly or outlier]
    normal_class : the label value of the normal class; the others are anomalies. Needed for
        multi-class labels (built-ins default to class 0); 0/1 labels are read as 1 = anomaly.
    """
    path = Path(source)
    if not path.exists() and str(source) in BUILTINS:
        X, labels, names = BUILTINS[str(source)]()
        return _finish(str(source), X, labels, normal_class if normal_class is not None else 0, names)
    if not path.exists():
        raise InputError(f"{path}: file does not exist (built-in data sets: {', '.join(BUILTINS)})")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a data file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    ext = path.suffix.lower()
    if ext not in LOADERS:
        raise InputError(f"{path}: unknown data format '{ext or '(no extension)'}'; supported: "
                         f"{', '.join(LOADERS)} or a built-in name ({', '.join(BUILTINS)})")
    if label_column is not None and ext not in (".csv", ".npy"):
        raise InputError(f"{path}: --label-column applies to CSV and NPY files only")
    X, labels, names = LOADERS[ext](path, label_column)
    return _finish(path.name, X, labels, normal_class, names)


def _load_csv(path: Path, label_column: str | int | None) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    try:
        with open(path, newline="") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text CSV file (binary content)") from None
    if not rows:
        raise InputError(f"{path}: no rows")
    header = None if all(_is_number(c) for c in rows[0]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header is not None else rows
    width = len(rows[0])
    bad = next((i for i, r in enumerate(body) if len(r) != width), None)
    if bad is not None:
        raise InputError(f"{path}: row {bad + 1 + (header is not None)} has {len(body[bad])} fields, "
                         f"expected {width}")
    col = _label_index(path, header, width, label_column)
    feature_cols = [j for j in range(width) if j != col]
    try:
        X = np.array([[float(r[j]) for j in feature_cols] for r in body], dtype=np.float64).reshape(len(body), -1)
    except ValueError as exc:
        raise InputError(f"{path}: non-numeric feature value ({str(exc).split(': ')[-1]})") from None
    labels = None if col is None else np.array([r[col].strip() for r in body])
    names = [header[j] for j in feature_cols] if header is not None else None
    return X, labels, names


def _label_index(path: Path, header: list[str] | None, width: int, label_column: str | int | None) -> int | None:
    if label_column is None:
        if header is None:
            return None
        found = [j for j, h in enumerate(header) if h.lower() in LABEL_NAMES]
        return found[0] if found else None
    if isinstance(label_column, str) and not label_column.lstrip("-").isdigit():
        if header is None or label_column not in header:
            raise InputError(f"{path}: no column named {label_column!r}"
                             + (f"; columns: {', '.join(header)}" if header else " (the file has no header)"))
        return header.index(label_column)
    j = int(label_column)
    if not -width <= j < width:
        raise InputError(f"{path}: label column {j} out of range ({width} columns)")
    return j % width


def _load_npy(path: Path, label_column: str | int | None) -> tuple[np.ndarray, np.ndarray | None, None]:
    arr = _np_load(path)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{path}: expected a 2-D numeric array, got shape {arr.shape} ({arr.dtype})")
    if label_column is None:
        return arr.astype(np.float64), None, None
    try:
        j = int(label_column)
    except ValueError:
        raise InputError(f"{path}: --label-column for NPY is a column index, got {label_column!r}") from None
    if not -arr.shape[1] <= j < arr.shape[1]:
        raise InputError(f"{path}: label column {j} out of range ({arr.shape[1]} columns)")
    j %= arr.shape[1]
    return np.delete(arr, j, axis=1).astype(np.float64), arr[:, j], None


def _load_npz(path: Path, label_column: str | int | None) -> tuple[np.ndarray, np.ndarray | None, None]:
    with _np_load(path) as data:
        key = next((k for k in ("X", "x", "data", "features") if k in data.files), None)
        if key is None:
            raise InputError(f"{path}: NPZ archive needs an array named X (found: {', '.join(data.files) or 'none'})")
        X = np.asarray(data[key])
        ykey = next((k for k in ("y", "labels", "target") if k in data.files), None)
        y = np.asarray(data[ykey]).ravel() if ykey else None
    return _numeric_2d(path, X), y, None


def _load_mat(path: Path, label_column: str | int | None) -> tuple[np.ndarray, np.ndarray | None, None]:
    from scipy.io import loadmat

    try:
        data = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for non-MAT content
        raise InputError(f"{path}: not a readable MATLAB .mat file ({str(exc).splitlines()[0][:120]})") from None
    if "X" not in data:
        keys = [k for k in data if not k.startswith("__")]
        raise InputError(f"{path}: .mat file needs a variable X (ODDS layout X, y); found: {', '.join(keys) or 'none'}")
    y = np.asarray(data["y"]).ravel() if "y" in data else None
    return _numeric_2d(path, np.asarray(data["X"])), y, None


def _np_load(path: Path):  # noqa: ANN202 — ndarray or NpzFile
    try:
        return np.load(str(path), allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{path}: not a readable NumPy file ({str(exc).splitlines()[0][:120]})") from None


def _numeric_2d(path: Path, X: np.ndarray) -> np.ndarray:
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise InputError(f"{path}: features must be a 2-D numeric array, got shape {X.shape} ({X.dtype})")
    return X.astype(np.float64)


LOADERS = {".csv": _load_csv, ".npy": _load_npy, ".npz": _load_npz, ".mat": _load_mat}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _finish(name: str, X: np.ndarray, labels: np.ndarray | None, normal_class: str | float | None,
            feature_names: list[str] | None) -> Dataset:
    """Validate features and turn labels into anomaly flags."""
    if X.shape[0] < MIN_ROWS or X.shape[1] < 1:
        raise InputError(f"{name}: need at least {MIN_ROWS} rows and 1 feature, got shape {X.shape}")
    bad = int((~np.isfinite(X)).any(axis=1).sum())
    if bad:
        raise InputError(f"{name}: {bad} rows have missing or non-finite feature values")
    if labels is None:
        if normal_class is not None:
            raise InputError(f"{name}: --normal-class needs labels, the data has none")
        return Dataset(X, None, name, feature_names)
    labels = np.asarray(labels).ravel()
    if len(labels) != len(X):
        raise InputError(f"{name}: {len(labels)} labels for {len(X)} rows")
    if labels.dtype.kind in "biuf" or all(_is_number(str(v)) for v in labels):
        labels = labels.astype(np.float64)
    classes = np.unique(labels)
    if normal_class is None:
        if labels.dtype.kind != "f" or not set(classes.tolist()) <= {0.0, 1.0}:
            raise InputError(f"{name}: labels have classes {_show(classes)}; say which is normal with --normal-class")
        return Dataset(X, labels.astype(np.int64), name, feature_names)
    normal = _coerce(normal_class, labels.dtype.kind)
    if normal not in classes.tolist():
        raise InputError(f"{name}: normal class {normal_class!r} not among the labels {_show(classes)}")
    return Dataset(X, (labels != normal).astype(np.int64), name, feature_names)


def _coerce(value: str | float, kind: str) -> str | float:
    if kind in "fiu":
        try:
            return float(value)
        except ValueError:
            raise InputError(f"--normal-class {value!r}: the labels are numbers") from None
    return str(value)


def _show(classes: np.ndarray) -> str:
    items = [f"{c:g}" if isinstance(c, float) else str(c) for c in classes.tolist()[:10]]
    return ", ".join(items) + (", ..." if len(classes) > 10 else "")


def fit_zscore(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale of the training rows; constant features keep scale 1 (no division by zero)."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-12] = 1.0
    return mean, scale
