"""Consoles and error reporting shared by the commands (the progress bar lives in levelrecon.progress)."""

from __future__ import annotations

import warnings

from rich.console import Console
from rich.markup import escape

from levelrecon.errors import printable
from levelrecon.progress import ProgressReporter, err  # noqa: F401  (one stderr console for bars and messages)

# soft_wrap: a message stays on one line whatever the terminal width (scripts grep these lines).
out = Console(soft_wrap=True, highlight=False)


def error(message: str) -> None:
    err.print(f"[bold red]Error:[/] {escape(printable(message))}")


def warn(message: str) -> None:
    err.print(f"[yellow]Warning:[/] {escape(printable(message))}")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    warn(str(message))


def install_warning_hook() -> None:
    """Library warnings print as one yellow line on stderr instead of Python's two-line format."""
    warnings.showwarning = _show_warning
