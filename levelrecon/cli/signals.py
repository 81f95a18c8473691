"""SIGINT and SIGTERM during a fit: the first asks training to stop after the current step (checkpoint
kept, run marked interrupted, exit 128 + the signal: 130 or 143); a second aborts at once.

Installed before the slow imports (torch, trimesh): a signal that arrived while a library was being
imported would otherwise raise KeyboardInterrupt inside it, where an optional-import guard that catches
BaseException can swallow it and the fit then runs to the end.
"""

from __future__ import annotations

import signal
from types import FrameType

from levelrecon.cli import console

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Callable as `should_stop`: True once a stop signal arrived."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        if self._previous:
            return
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}
        self.signum = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        console.warn(f"{signal.Signals(signum).name}: stopping after this step (again to abort without saving)")

    def __call__(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)


STOP = StopRequest()
