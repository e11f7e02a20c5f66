"""Stopping a run cleanly on SIGINT (Ctrl-C) or SIGTERM: the run finishes the step it is in, keeps
what it has done, releases its lock and says how to resume.

    with StopRequests() as stop:
        for result in results:
            ...log result...
            if stop.signal is not None:
                break              # stop.signal: the signal's number (exit code 128 + it)

A second signal meets the handler that was there before (a second Ctrl-C raises
KeyboardInterrupt at once). Outside the main thread signals cannot be caught: nothing changes.
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    def __init__(self):
        self.signal: int | None = None
        self._previous: dict = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                previous = signal.getsignal(signum)
                self._previous[signum] = signal.SIG_DFL if previous is None else previous
                signal.signal(signum, self._request)
        return self

    def _request(self, signum, frame) -> None:
        self.signal = signum
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def __exit__(self, *exc) -> None:
        self._restore()
