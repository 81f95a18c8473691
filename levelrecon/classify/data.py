"""Labelled data sets for the classifier tasks: built-ins, files, and the train/test split.

Every loader returns a :class:`ClassData` with flattened inputs, so the Newton projection, the sample
network and PGD all work on (n, d) tensors whatever the image shape; networks reshape internally.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from levelrecon.errors import InputError, short_reason

TOY_SETS = ("moons", "circles", "blobs")
BUILTINS = ("digits", "mnist", *TOY_SETS)
FILE_FORMATS = (".npz", ".csv", ".txt", "IDX (.gz or -ubyte)", "a folder with MNIST IDX files")
IDX_IMAGES = ("t10k-images-idx3-ubyte", "train-images-idx3-ubyte")


@dataclass
class ClassData:
    """Examples and labels.

    x : (n, d) float32, flattened; `shape` is the per-example shape ((d,) or (C, H, W))
    y : (n,) int64 class indices in [0, n_classes)
    bounds : valid input range (pixels: (0, 1)); attacks clip to it. None: unbounded.
    """

    x: torch.Tensor
    y: torch.Tensor
    shape: tuple[int, ...]
    n_classes: int
    bounds: tuple[float, float] | None
    name: str

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray | torch.Tensor) -> ClassData:
        index = torch.as_tensor(index, dtype=torch.long)
        return replace(self, x=self.x[index], y=self.y[index])

    def to(self, device: torch.device | str) -> ClassData:
        return replace(self, x=self.x.to(device), y=self.y.to(device))


def load_data(spec: str | os.PathLike, data_dir: str | os.PathLike | None = None, seed: int = 0,
              toy_samples: int = 600) -> ClassData:
    """A built-in data set by name or a file.

    Built-ins: digits (scikit-learn, 8×8, offline), mnist (IDX files in `data_dir` or `data_dir`/mnist),
    moons / circles / blobs (2-D toy sets of `toy_samples` points drawn with `seed`). Files: .npz with
    arrays x (or X) and y; .csv/.txt with the label in the last column; MNIST IDX images (the labels file
    is found by name); a folder holding an IDX pair. Bad input raises :class:`InputError`.
    """
    name = str(spec)
    if name.lower() in BUILTINS and not Path(name).exists():
        return _builtin(name.lower(), data_dir, seed, toy_samples)
    path = Path(name)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder, and not a built-in data set "
                         f"({', '.join(BUILTINS)})")
    if path.is_dir():
        return _load_idx_dir(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path)
    if suffix in (".csv", ".txt"):
        return _load_table(path)
    if "idx" in path.name.lower():
        return _load_idx_pair(path, _labels_for(path))
    raise InputError(f"{path}: unknown data format '{suffix or '(no extension)'}'; supported: "
                     f"{', '.join(FILE_FORMATS)} or a built-in name ({', '.join(BUILTINS)})")


def _builtin(name: str, data_dir: str | os.PathLike | None, seed: int, toy_samples: int) -> ClassData:
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = digits.images.astype(np.float32) / 16.0  # pixel values 0..16 -> [0, 1]
        return _make(images.reshape(len(images), -1), digits.target, (1, 8, 8), (0.0, 1.0), "digits")
    if name == "mnist":
        root = Path(data_dir) if data_dir is not None else Path("data")
        for folder in (root / "mnist", root):
            if folder.is_dir() and _find_idx_images(folder) is not None:
                return _load_idx_dir(folder)
        raise InputError(f"mnist: no MNIST IDX files (t10k-images-idx3-ubyte[.gz]) in {root} or "
                         f"{root / 'mnist'}; pass --data-dir")
    return _toy(name, toy_samples, seed)


def _toy(name: str, n: int, seed: int) -> ClassData:
    from sklearn import datasets

    if n < 8:
        raise InputError(f"{name}: need at least 8 toy samples, got {n}")
    if name == "moons":
        x, y = datasets.make_moons(n, noise=0.15, random_state=seed)
    elif name == "circles":
        x, y = datasets.make_circles(n, noise=0.08, factor=0.5, random_state=seed)
    else:
        x, y = datasets.make_blobs(n, centers=[(-1.5, -1.0), (1.5, -1.0), (0.0, 1.5)], cluster_std=0.6,
                                   random_state=seed)
    return _make(x.astype(np.float32), y, (2,), None, name)


def _make(x: np.ndarray, labels: np.ndarray, shape: tuple[int, ...], bounds: tuple[float, float] | None,
          name: str) -> ClassData:
    """Validate, remap labels to 0..k-1 and wrap as tensors."""
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    labels = np.asarray(labels).reshape(-1)
    if len(x) != len(labels):
        raise InputError(f"{name}: {len(x)} examples but {len(labels)} labels")
    if len(x) < 4:
        raise InputError(f"{name}: only {len(x)} examples, at least 4 are needed")
    if not np.isfinite(x).all():
        raise InputError(f"{name}: inputs contain NaN or inf")
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all() or not np.all(labels == np.round(labels)):
            raise InputError(f"{name}: labels must be integers")
        labels = labels.astype(np.int64)
    classes, y = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise InputError(f"{name}: all examples have the same label, need at least 2 classes")
    return ClassData(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64)),
                     tuple(int(s) for s in shape), len(classes), bounds, name)


def _load_npz(path: Path) -> ClassData:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as exc:  # zipfile / numpy raise many types for damaged archives
        raise InputError(f"{path}: not a readable .npz archive ({short_reason(exc)})") from None
    xkey = next((k for k in ("x", "X", "images", "data") if k in arrays), None)
    ykey = next((k for k in ("y", "labels", "target") if k in arrays), None)
    if xkey is None or ykey is None:
        raise InputError(f"{path}: .npz needs arrays 'x' and 'y' (found: {', '.join(arrays) or 'none'})")
    x = arrays[xkey]
    if x.dtype.kind not in "fiub" or x.ndim < 2:
        raise InputError(f"{path}: '{xkey}' must be a numeric array of shape (n, d) or (n, [C,] H, W)")
    shape = x.shape[1:] if x.ndim != 3 else (1, *x.shape[1:])
    bounds = None
    if "bounds" in arrays:
        lo, hi = (float(v) for v in np.asarray(arrays["bounds"], dtype=np.float64).reshape(2))
        bounds = (lo, hi)
    data = _make(x, arrays[ykey], shape, bounds, path.name)
    if bounds is not None and (data.x.min() < bounds[0] or data.x.max() > bounds[1]):
        raise InputError(f"{path}: inputs fall outside the stored bounds {bounds}")
    return data


def _load_table(path: Path) -> ClassData:
    from levelrecon.recon.data.io import parse_rows, text_rows  # the point-file reader's table parsing

    rows = text_rows(path, "text table", ",;")
    if rows and not _is_numeric_row(rows[0]):  # a header line
        rows = rows[1:]
    if not rows:
        raise InputError(f"{path}: table has no data rows")
    table = parse_rows(rows, path, "table")
    if table.shape[1] < 2:
        raise InputError(f"{path}: rows need at least one feature column and a label column")
    return _make(table[:, :-1], table[:, -1], (table.shape[1] - 1,), None, path.name)


def _is_numeric_row(row: str) -> bool:
    try:
        [float(v) for v in row.split()]
    except ValueError:
        return False
    return True


def _find_idx_images(folder: Path) -> Path | None:
    for stem in IDX_IMAGES:
        for suffix in (".gz", ""):
            if (folder / (stem + suffix)).is_file():
                return folder / (stem + suffix)
    return None


def _load_idx_dir(folder: Path) -> ClassData:
    images = _find_idx_images(folder)
    if images is None:
        raise InputError(f"{folder}: folder holds no MNIST IDX images ({' or '.join(IDX_IMAGES)}[.gz])")
    return _load_idx_pair(images, _labels_for(images))


def _labels_for(images: Path) -> Path:
    name = images.name.replace("images-idx3", "labels-idx1")
    candidates = [images.with_name(name), images.with_name(name.removesuffix(".gz")),
                  images.with_name(name.removesuffix(".gz") + ".gz")]
    found = next((c for c in candidates if c != images and c.is_file()), None)
    if found is None:
        raise InputError(f"{images}: no matching labels file ({name}) next to it")
    return found


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """One IDX array of unsigned bytes (magic 0x0000080N, big-endian sizes)."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable IDX file ({short_reason(exc)})") from None
    if len(raw) < 4 + 4 * ndim or raw[:3] != b"\x00\x00\x08" or raw[3] != ndim:
        raise InputError(f"{path}: not an IDX file of {ndim}-D unsigned bytes (bad magic number)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)):
        raise InputError(f"{path}: IDX header announces {dims} but the file holds {len(body)} bytes")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _load_idx_pair(images: Path, labels: Path) -> ClassData:
    x = read_idx(images, 3)
    y = read_idx(labels, 1)
    if len(x) != len(y):
        raise InputError(f"{images}: {len(x)} images but {labels.name} has {len(y)} labels")
    return _make(x.reshape(len(x), -1).astype(np.float32) / 255.0, y, (1, *x.shape[1:]), (0.0, 1.0),
                 "mnist-" + images.name.split("-")[0] if images.name.startswith(("t10k", "train")) else images.name)


def split_data(data: ClassData, *, test_size: float | int = 0.25, train_size: int | None = None,
               train_fraction: float | None = None, seed: int = 0, split_seed: int = 0
               ) -> tuple[ClassData, ClassData]:
    """A fixed held-out test part (chosen by `split_seed`) and a training part drawn by `seed`.

    The test part depends only on `split_seed`, so runs with different seeds and training sizes are
    scored on the same examples. Both draws are stratified by class. `test_size` is a fraction (< 1)
    or a count; the training part is `train_size` examples or `train_fraction` of the remaining pool
    (all of it by default).
    """
    from sklearn.model_selection import train_test_split

    n = len(data)
    n_test = int(round(test_size * n)) if test_size < 1 else int(test_size)
    if not 1 <= n_test <= n - 2:
        raise InputError(f"{data.name}: test size {test_size} leaves no room in {n} examples")
    labels = data.y.numpy()
    index = np.arange(n)
    try:
        pool, test = train_test_split(index, test_size=n_test, stratify=_stratify(labels),
                                      random_state=split_seed)
    except ValueError as exc:
        raise InputError(f"{data.name}: cannot split into train/test ({short_reason(exc)})") from None
    if train_size is not None and train_fraction is not None:
        raise InputError("give either --train-size or --train-fraction, not both")
    k = len(pool)
    if train_size is not None:
        k = int(train_size)
    elif train_fraction is not None:
        if not 0 < train_fraction <= 1:
            raise InputError(f"--train-fraction must be in (0, 1], got {train_fraction}")
        k = max(2, int(round(train_fraction * len(pool))))
    if not 2 <= k <= len(pool):
        raise InputError(f"{data.name}: training size {k} not possible, the pool after holding out "
                         f"{n_test} test examples has {len(pool)}")
    if k < len(pool):
        strat = _stratify(labels[pool]) if min(k, len(pool) - k) >= data.n_classes else None
        try:
            pool, _ = train_test_split(pool, train_size=k, stratify=strat, random_state=seed)
        except ValueError as exc:
            raise InputError(f"{data.name}: cannot draw {k} training examples ({short_reason(exc)})") from None
    return data.subset(np.sort(pool)), data.subset(np.sort(test))


def _stratify(labels: np.ndarray) -> np.ndarray | None:
    """Stratify only when every class has two members (scikit-learn's requirement)."""
    counts = np.bincount(labels)
    return labels if counts[counts > 0].min() >= 2 else None


