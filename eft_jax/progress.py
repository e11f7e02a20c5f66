"""Progress of a long run: items done, items/s and ETA, printed to a stream at a bounded rate."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    """Counts items as they complete and prints one status line at most every `interval` s.

    `already_done` items (from a resumed run) count toward the total but not toward the rate.
    """

    def __init__(
        self,
        total: int,
        label: str = "exemplars",
        already_done: int = 0,
        stream: TextIO | None = None,
        interval: float = 1.0,
        clock=time.monotonic,
    ):
        self.total = total
        self.label = label
        self.done = already_done
        self._fresh = 0
        self._stream = sys.stderr if stream is None else stream
        self._interval = interval
        self._clock = clock
        self._start = clock()
        self._last_print = None

    def update(self, count: int = 1) -> None:
        self.done += count
        self._fresh += count
        now = self._clock()
        if (
            self._last_print is None
            or now - self._last_print >= self._interval
            or self.done >= self.total
        ):
            self._last_print = now
            self._stream.write("\r" + self.status_line(now))
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
        self._stream.write("\n")
        self._stream.flush()
