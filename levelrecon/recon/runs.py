"""Run directories: where `fit` writes, and how `mesh`/`eval` find the latest run."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from levelrecon.errors import InputError, OutputExistsError
from levelrecon.recon.data.io import atomic_output

RUNS_ROOT = "runs"
RUN_FILE = "run.json"
CHECKPOINT = "model.pt"
SURFACE = "surface.ply"  # the mesh of a non-neural method (Poisson), in original coordinates
MESH = "mesh.ply"
INPUT = "input.npy"
INPUT_NORMALS = "input_normals.npy"  # the input's own normals, when it has them (for --resume)
LOG = "train_log.csv"
LOSS_PLOT = "loss.png"


def safe_name(stem: str) -> str:
    """A file-name stem as one harmless path component: letters, digits, `._-` only, no leading dot, so a
    cloud named `...xyz` (stem `..`) or `..xyz` (stem `.`) cannot name its output folder's parent or itself."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).lstrip(".") or "cloud"


def new_run_dir(stem: str, method: str, root: str | os.PathLike = RUNS_ROOT) -> Path:
    """runs/<stem>_<method>_<k> with the next free k, so automatic names never collide."""
    root = Path(root)
    safe = safe_name(stem)
    k = 1
    while (root / f"{safe}_{method}_{k}").exists():
        k += 1
    return root / f"{safe}_{method}_{k}"


def prepare_run_dir(path: Path, force: bool) -> Path:
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise OutputExistsError(f"{path}: run directory exists and is not empty (use --force to overwrite)")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_run_info(run_dir: Path, info: dict[str, Any]) -> None:
    with atomic_output(run_dir / RUN_FILE, force=True) as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")


def read_run_info(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / RUN_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{run_dir}: not a readable run directory ({exc})") from None


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / RUN_FILE).is_file()


def latest_run(cwd: str | os.PathLike = ".") -> Path:
    """The run with the newest run.json under ./runs (or a run directory directly in `cwd`)."""
    cwd = Path(cwd)
    candidates = [p.parent for p in (cwd / RUNS_ROOT).glob(f"*/{RUN_FILE}")]
    candidates += [p.parent for p in cwd.glob(f"*/{RUN_FILE}")]
    if is_run_dir(cwd):
        candidates.append(cwd)
    if not candidates:
        raise InputError(f"no run found in {cwd.resolve()}/{RUNS_ROOT}: run `levelrecon fit CLOUD` first, "
                         "or pass a run directory")
    return max(candidates, key=lambda p: (p / RUN_FILE).stat().st_mtime)


def resolve_run(target: str | os.PathLike | None) -> Path:
    """A run directory from an explicit directory, a file inside one, or the latest run."""
    if target is None:
        return latest_run()
    path = Path(target)
    if is_run_dir(path):
        return path
    if path.is_file() and is_run_dir(path.parent):
        return path.parent
    if not path.exists():
        raise InputError(f"{path}: does not exist")
    raise InputError(f"{path}: not a levelrecon run directory (no {RUN_FILE})")
