"""A lock file that keeps two runs from writing one output: `<path>.lock`, held with `flock`.

    with RunLock(log_path):          # raises RunLockedError naming the holder when taken
        ... write log_path ...

The lock is the operating system's (`fcntl.flock` on an open file), so a run that is killed, even
with SIGKILL, releases it at once: a lock file such a run leaves behind is not a lock, and a
restart takes it over. The file's content says who holds it (pid, host, start time, command line),
for the message the second run prints. A run that ends (or fails) removes its lock file while it
still holds the lock; a run that locked a file just removed that way locks the new one instead.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from eft_jax.errors import InputError


class RunLockedError(InputError, RuntimeError):
    """Another run holds the lock."""


class RunLock:
    def __init__(self, path: str | Path):
        self.path = Path(str(path) + ".lock")
        self._handle = None

    def acquire(self) -> RunLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - closed in release()
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                handle.close()
                raise RunLockedError(
                    f"{self.path}: another run is writing this output ({holder}); wait for it, "
                    "or give this run another --out"
                ) from None
            if _same_file(handle, self.path):
                break
            handle.close()  # locked a file its holder removed on release: lock the new one
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "command": " ".join(sys.argv),
                }
            )
        )
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self.path.unlink(missing_ok=True)  # while still held: no other run holds this file
            self._handle.close()  # closing the file releases the flock
            self._handle = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _same_file(handle, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False
