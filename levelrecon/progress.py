"""Progress display shared by the commands and the Python API (`levelrecon.fit(..., progress=True)`)."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

# soft_wrap: an error stays on one line whatever the terminal width (scripts grep these lines).
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class ProgressReporter:
    """A rich progress bar on a terminal; a plain line every ~10 % (and at the end) otherwise.

    Call the instance with (done, total, fields) — `fields` such as {"loss": 0.01} are shown beside it.
    """

    def __init__(self, label: str, total: int, quiet: bool = False, lines: int = 10) -> None:
        self.label, self.total, self.quiet, self.lines = label, total, quiet, lines
        self.every = max(1, total // lines)
        self.next_line = self.every
        self.t0 = time.perf_counter()
        self.progress: Progress | None = None
        self.task = None

    def __enter__(self) -> ProgressReporter:
        if not self.quiet and err.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("eta"),
                TimeRemainingColumn(), console=err, transient=False)
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total, info="")
        return self

    def relabel(self, label: str) -> None:
        """A new description, e.g. once the method `auto` resolved to is known."""
        self.label = label
        if self.progress is not None:
            self.progress.update(self.task, description=label)

    def __call__(self, done: int, total: int | None = None, fields: dict[str, float] | None = None) -> None:
        if self.quiet:
            return
        if total is not None and total != self.total:  # the real total is known only once training starts
            self.total, self.every = total, max(1, total // self.lines)
            self.next_line = self.every
            if self.progress is not None:
                self.progress.update(self.task, total=total)
        info = "  ".join(f"{k} {v:.3e}" for k, v in (fields or {}).items())
        if self.progress is not None:
            self.progress.update(self.task, completed=done, info=info)
            return
        if done >= self.next_line or done >= self.total:
            while self.next_line <= done:
                self.next_line += self.every
            elapsed = time.perf_counter() - self.t0
            eta = elapsed / max(done, 1) * (self.total - done)
            err.print(f"{self.label}: {done}/{self.total} ({100 * done // max(1, self.total)}%) {info}  "
                      f"elapsed {_fmt_seconds(elapsed)} eta {_fmt_seconds(eta)}")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.progress is not None:
            self.progress.stop()
