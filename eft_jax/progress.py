"""What a long run tells its user while it works, on stderr: status notes and a progress line
(items done, items/s and ETA, printed at a bounded rate).

On a terminal the progress line is rewritten in place; anywhere else (a log file, CI) each update
is a whole line, printed less often. `quiet()` silences both for a run (`eft-jax ... --quiet`):
results and summaries go to stdout and are never silenced, warnings still reach stderr.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TextIO

_quiet = False


@contextlib.contextmanager
def quiet(enabled: bool = True):
    """Within this block, `note` and `Progress` print nothing."""
    global _quiet
    previous, _quiet = _quiet, enabled
    try:
        yield
    finally:
        _quiet = previous


def note(message: str) -> None:
    """One status line on stderr (what the run is doing or about to do), unless quiet."""
    if not _quiet:
        print(message, file=sys.stderr, flush=True)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    """Counts items as they complete and prints one status line at most every `interval` s
    (default: 1 s on a terminal, 30 s elsewhere), and always for the last item.

    `already_done` items (from a resumed run) count toward the total but not toward the rate.
    `terminal`: rewrite one line in place (default: whether `stream` is a terminal).
    """

    def __init__(
        self,
        total: int,
        label: str = "exemplars",
        already_done: int = 0,
        stream: TextIO | None = None,
        interval: float | None = None,
        clock=time.monotonic,
        terminal: bool | None = None,
    ):
        self.total = total
        self.label = label
        self.done = already_done
        self._fresh = 0
        self._stream = sys.stderr if stream is None else stream
        self._terminal = _isatty(self._stream) if terminal is None else terminal
        self._interval = (1.0 if self._terminal else 30.0) if interval is None else interval
        self._clock = clock
        self._start = clock()
        self._last_print = None
        self._silent = _quiet

    def update(self, count: int = 1) -> None:
        self.done += count
        self._fresh += count
        now = self._clock()
        if self._silent:
            return
        if (
            self._last_print is None
            or now - self._last_print >= self._interval
            or self.done >= self.total
        ):
            self._last_print = now
            if self._terminal:
                self._stream.write("\r" + self.status_line(now))
            else:
                self._stream.write(self.status_line(now) + "\n")
            self._stream.flush()

    def status_line(self, now: float | None = None) -> str:
        elapsed = max((self._clock() if now is None else now) - self._start, 1e-9)
        rate = self._fresh / elapsed
        remaining = self.total - self.done
        eta = format_duration(remaining / rate) if rate > 0 else "--:--"
        return (
            f"{self.done}/{self.total} {self.label} ({100.0 * self.done / max(self.total, 1):.0f}%) "
            f"{rate:.2f} {self.label}/s, elapsed {format_duration(elapsed)}, ETA {eta}"
        )

    def close(self) -> None:
        """End the line a terminal's updates were rewriting."""
        if self._terminal and not self._silent and self._last_print is not None:
            self._stream.write("\n")
            self._stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a stream without a file, or a closed one
        return False
