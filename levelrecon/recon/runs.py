"""Run directories: where `fit` writes, and how `mesh`/`eval` find the latest run."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from levelrecon.errors import InputError, OutputExistsError
from levelrecon.files import atomic_output

RUNS_ROOT = "runs"
RUN_FILE = "run.json"
CHECKPOINT = "model.pt"
SURFACE = "surface.ply"  # the mesh of a non-neural method (Poisson), in original coordinates
MESH = "mesh.ply"
INPUT = "input.npy"
INPUT_NORMALS = "input_normals.npy"  # the input's own normals, when it has them (for --resume)
LOG = "train_log.csv"
LOSS_PLOT = "loss.png"
LOCK = ".lock"  # held (flock) by the process writing the run
LATEST = "latest"  # in the runs root: the name of the latest finished run


def safe_name(stem: str) -> str:
    """A file-name stem as one harmless path component: letters, digits, `._-` only, no leading dot, so a
    cloud named `...xyz` (stem `..`) or `..xyz` (stem `.`) cannot name its output folder's parent or itself."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).lstrip(".") or "cloud"


class RunDir:
    """One run directory and its life: created atomically, locked while a process writes it, its status in
    run.json (running, done, failed, interrupted), and, when it replaces an existing run (`--force`), built
    in a hidden sibling that takes the old one's place only when it is done, so an old mesh.ply never sits
    beside a new model and a failed refit leaves the old run whole.

    `work` is where files go while the run is written (`path` itself, or that sibling); `commit` makes
    `path` the finished run and `record_latest` names it in `<runs root>/latest`.
    """

    def __init__(self, path: Path, work: Path | None = None) -> None:
        self.path = Path(path)
        self.work = Path(work) if work is not None else self.path
        self._lock: int | None = None

    @classmethod
    def create(cls, path: str | os.PathLike, force: bool = False) -> RunDir:
        """A run at `path`: a new (or empty) directory, or with `force` the replacement of an existing run,
        written beside it until `commit`. Refuses a run another process is writing."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise InputError(f"{path}: exists and is not a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir()
            return cls(path)
        except FileExistsError:
            pass
        if not any(path.iterdir()):
            return cls(path)
        if not force:
            raise OutputExistsError(f"{path}: run directory exists and is not empty (use --force to overwrite)")
        cls(path).check_not_busy()
        return cls(path, Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent)))

    def lock(self) -> None:
        """Hold the run's lock file until `release` (or the process ends, however it ends); a second writer,
        e.g. `fit --resume` on a run still training, is refused."""
        fd = os.open(self.work / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(f"{self.path}: the run is being written by another process (still training?)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock = fd

    def check_not_busy(self) -> None:
        self.lock()
        self.release()

    def release(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.work / LOCK)
            os.close(self._lock)
            self._lock = None

    def info(self) -> dict[str, Any]:
        return read_run_info(self.work)

    def write_info(self, info: dict[str, Any]) -> None:
        write_run_info(self.work, info)

    def commit(self) -> None:
        """Put a replacement run in place of the old one (the old is moved aside, then removed)."""
        if self.work == self.path:
            return
        old = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.old-", dir=self.path.parent))
        os.replace(self.path, old / "run")
        os.replace(self.work, self.path)
        self.work = self.path
        shutil.rmtree(old, ignore_errors=True)

    def abandon(self, status: str, error: str = "") -> None:
        """After a failure: a replacement is removed (the old run stays as it was); a new run keeps its
        files with `status` (failed or interrupted) and the error in run.json."""
        if self.work != self.path:
            self.release()
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = self.path
            return
        with contextlib.suppress(InputError, OSError):
            self.write_info({**self.info(), "status": status, **({"error": error} if error else {})})
        self.release()

    def record_latest(self, root: str | os.PathLike = RUNS_ROOT) -> None:
        """Name this (finished) run in `root/latest`, atomically: what `mesh`, `eval`... use without a run."""
        root = Path(root)
        with atomic_output(root / LATEST, force=True) as tmp:
            tmp.write_text(os.path.relpath(self.path.resolve(), root.resolve()) + "\n", errors="surrogateescape")


def new_run_dir(stem: str, method: str, root: str | os.PathLike = RUNS_ROOT) -> Path:
    """Create runs/<stem>_<method>_<k> with the next free k. The directory is made exclusively (mkdir fails
    if it exists), so two fits started at once never share a run."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    safe = safe_name(stem)
    k = 1
    while True:
        path = root / f"{safe}_{method}_{k}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            k += 1


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
    """The latest finished run: the one `runs/latest` names (written when a fit from this directory
    finishes), else the finished run (status done) with the newest run.json under ./runs or directly in
    `cwd`. A run still training, interrupted or failed is never "latest"."""
    cwd = Path(cwd)
    latest = cwd / RUNS_ROOT / LATEST
    if latest.is_file():
        named = cwd / RUNS_ROOT / latest.read_text(errors="surrogateescape").strip()
        if _finished(named):
            return named
    candidates = [p.parent for p in (cwd / RUNS_ROOT).glob(f"*/{RUN_FILE}")]
    candidates += [p.parent for p in cwd.glob(f"*/{RUN_FILE}")]
    if is_run_dir(cwd):
        candidates.append(cwd)
    candidates = [p for p in candidates if _finished(p)]
    if not candidates:
        raise InputError(f"no run found in {cwd.resolve()}/{RUNS_ROOT} (none finished): run `levelrecon fit "
                         "CLOUD` first, or pass a run directory")
    return max(candidates, key=lambda p: (p / RUN_FILE).stat().st_mtime)


def _finished(path: Path) -> bool:
    try:
        return is_run_dir(path) and read_run_info(path).get("status") == "done"
    except InputError:
        return False


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


def resolve_model(target: str | os.PathLike | None) -> tuple[Path, Path | None]:
    """(what to load, its run directory or None): a model.pt file (with the run directory it sits in), a
    run directory or a file inside one, or, without a target, the latest finished run. The one resolver
    of the commands that read a trained model (mesh, plot-slice)."""
    if target is not None and Path(target).suffix == ".pt":
        path = Path(target)
        return path, path.parent if is_run_dir(path.parent) else None
    run_dir = resolve_run(target)
    return run_dir, run_dir
