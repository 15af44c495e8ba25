"""Progress of a long command, as people and log collectors want it.

On a terminal: one line redrawn in place (bar, rows, rate, time left), at most ten
times a second. Anywhere else (a pipe, a CI log, systemd): a plain line every few
seconds and at each phase change, so logs stay readable and small.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from core.importing import Progress
from core.messages import render

BAR_WIDTH = 24


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class ProgressPrinter:
    """The callback the CLI hands to ``core.importing.import_file``."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        locale: str = "ja",
        tty: bool | None = None,
        log_every: float = 5.0,
    ) -> None:
        self.stream = stream or sys.stderr
        self.locale = locale
        self.tty = self.stream.isatty() if tty is None else tty
        self.log_every = log_every
        self.started = time.monotonic()
        self._last = 0.0
        self._phase = ""
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        phase_changed = progress.phase != self._phase
        self._phase = progress.phase
        if self.tty:
            if phase_changed or now - self._last >= 0.1:
                self._last = now
                self._draw(progress, now)
        elif phase_changed or now - self._last >= self.log_every:
            self._last = now
            self.stream.write(self._line(progress, now) + "\n")
            self.stream.flush()

    def _line(self, progress: Progress, now: float) -> str:
        elapsed = max(now - self.started, 1e-6)
        rate = progress.rows / elapsed
        eta = "?:??"
        if 0.01 < progress.done < 1.0:
            eta = _clock(elapsed / progress.done * (1.0 - progress.done))
        elif progress.done >= 1.0:
            eta = "0:00"
        phase = render(f"import.phase.{progress.phase}", self.locale)
        return (
            f"{progress.done * 100:5.1f}% {phase}: {progress.rows:,} rows, "
            f"{rate:,.0f} rows/s, elapsed {_clock(elapsed)}, ETA {eta}"
        )

    def _draw(self, progress: Progress, now: float) -> None:
        filled = int(BAR_WIDTH * min(progress.done, 1.0))
        bar = "█" * filled + "·" * (BAR_WIDTH - filled)
        self.stream.write(f"\r\x1b[2K[{bar}] {self._line(progress, now)}")
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        """Ends the redrawn line so what follows starts on a line of its own."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
