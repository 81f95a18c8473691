"""Writing output files safely, for every command and format: refuse what exists unless forced, and write
through a temporary file renamed into place, so a failure or a kill never leaves a partial file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from levelrecon.errors import InputError, OutputExistsError

_UMASK = os.umask(0)
os.umask(_UMASK)


def check_output(path: str | os.PathLike, force: bool = False) -> None:
    """Refuse an existing output unless `force` (called early, before slow work)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an output file path")
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: output exists (use --force to overwrite)")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `path`; move it into place only if the block succeeds.

    A failure leaves no partial file, and an existing output is kept unless `force`.
    """
    path = Path(path)
    check_output(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; outputs get the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
