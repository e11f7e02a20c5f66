"""One fitting run over many processes and hosts on `jax.distributed` (`eft-jax fit|smplify
--distributed`, docs/many_hosts.md).

    initialize(Launch())                   # before anything touches a device
    cluster = Cluster.current()            # None unless jax.distributed is initialized
    with cluster.run_lock(RunLock(...), prepare=remove_earlier_outputs):
        progress = cluster.progress(total, already_done)
        ... fit this process's share, progress.update() per exemplar ...
        stopped = cluster.hand_over(signal_or_none, progress)
    with cluster.writing_outputs():        # process 0; the others wait in hand_over
        ... write the outputs ...

Everything goes through the coordination service of `jax.distributed` (its key-value store, on
process 0): no collective, no shared filesystem semantics.

- The run's lock is process 0's: the output's `flock` lock file, where the filesystem honours
  flock (it keeps other jobs out), and a key in the coordination service (this job); the other
  processes never take flock, they wait for process 0's grant or refusal.
- Each process publishes how many exemplars it has done; process 0 prints the run's progress line.
- The hand-over is a barrier: each process publishes how its share ended ("done" or the signal
  that stopped it); process 0 waits for all of them, then writes the outputs alone and says so;
  the others wait for that word. A stop (SIGINT / SIGTERM) asked of one process reaches all of
  them, as the same signal, at their next exemplar.
- A process that dies (SIGKILL, a lost host) is noticed by JAX's runtime: within the heartbeat
  timeout when a worker dies, at once when process 0 dies. JAX then aborts every other process
  from C++ ("Terminating process because the JAX distributed service detected fatal errors", exit
  134); jaxlib offers no hook to say more, so the run says it beforehand (`initialize`). The fit
  logs are flushed per exemplar, so a rerun of the same command resumes from them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import signal
import socket
import time
from collections.abc import Callable

import jax

# The coordination service's client: jax.distributed has no public handle on it; this is the one
# jax.experimental.multihost_utils uses.
from jax._src.distributed import global_state

from eft_jax.errors import InputError
from eft_jax.formats.run_lock import RunLock, RunLockedError
from eft_jax.progress import Progress, note

# JAX's default is 100 s; a survivor of a dead worker must stop well within a minute.
HEARTBEAT_TIMEOUT_S = 30
POLL_S = 1.0  # how often a process publishes its count and looks for stops and shares
# One blocking read of the key-value store, repeated while the peers are alive; short, since a
# signal's Python handler runs only once the read returns.
WAIT_MS = 2_000
GRANTED = "granted"
DONE = "done"
STOPPED = "signal "  # + the signal's number: how a stopped share ended


class DistributedError(InputError, RuntimeError):
    """jax.distributed could not start, or process 0 could not write the run's outputs."""


@dataclasses.dataclass(frozen=True)
class Launch:
    """How this process joins the run. With every field None, JAX finds them itself (SLURM, Open
    MPI, TPU pods); otherwise all three of coordinator ("HOST:PORT" of process 0), num_processes
    and process_id. heartbeat_timeout_s: None is HEARTBEAT_TIMEOUT_S."""

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    heartbeat_timeout_s: int | None = None


def initialize(launch: Launch, job: str = "fit") -> None:
    """Start `jax.distributed` (before anything touches a device) and say what a failure of
    another process will look like."""
    given = [launch.coordinator, launch.num_processes, launch.process_id]
    if any(v is not None for v in given) and any(v is None for v in given):
        raise DistributedError(
            "--coordinator, --num-processes and --process-id go together (or none of them, on "
            "SLURM, Open MPI or a TPU pod)"
        )
    heartbeat_timeout_s = launch.heartbeat_timeout_s or HEARTBEAT_TIMEOUT_S
    try:
        jax.distributed.initialize(
            coordinator_address=launch.coordinator,
            num_processes=launch.num_processes,
            process_id=launch.process_id,
            heartbeat_timeout_seconds=heartbeat_timeout_s,
        )
    except (ValueError, RuntimeError) as error:
        found = "" if launch.coordinator else " (no SLURM, Open MPI or TPU pod found)"
        raise DistributedError(
            f"jax.distributed could not start{found}: {error}; give --coordinator HOST:PORT "
            "--num-processes N --process-id I"
        ) from error
    state = global_state
    note(
        f"eft-jax {job}: process {state.process_id} of {state.num_processes} under "
        f"jax.distributed (coordinator {state.coordinator_address}); if a process dies, the others "
        f"stop within {heartbeat_timeout_s} s with JAX's 'Terminating process because the "
        "JAX distributed service detected fatal errors': what is fitted stays in the logs, rerun "
        "the same command on every process to resume"
    )


class Cluster:
    """The processes of one run as process `index` of `count` sees them, talking through the
    coordination service's key-value store (`client`: jax's DistributedRuntimeClient) under
    `namespace`."""

    _runs = itertools.count()  # runs in this job: every process starts them in the same order

    def __init__(self, client, index: int, count: int, namespace: str):
        self.client, self.index, self.count, self.namespace = client, index, count, namespace

    @classmethod
    def current(cls) -> Cluster | None:
        """This job's cluster for a new run, or None when jax.distributed is not initialized."""
        state = global_state
        if state.client is None:
            return None
        return cls(
            state.client, state.process_id, state.num_processes, f"eft_jax/run{next(cls._runs)}"
        )

    def describe(self) -> str:
        return f"process {self.index} of {self.count}"

    def _key(self, name: str) -> str:
        return f"{self.namespace}/{name}"

    def _set(self, name: str, value: str) -> None:
        self.client.key_value_set(self._key(name), value, allow_overwrite=True)

    def _entries(self, folder: str) -> dict[str, str]:
        """The keys under `folder`/ (by their last part) and their values."""
        entries = self.client.key_value_dir_get(self._key(folder) + "/")
        return {key.rsplit("/", 1)[1]: value for key, value in entries}

    def _get(self, name: str) -> str | None:
        try:
            return self.client.key_value_try_get(self._key(name))
        except jax.errors.JaxRuntimeError:  # NOT_FOUND
            return None

    def _wait(self, name: str) -> str:
        """The value of `name` once some process sets it. A dead process ends the wait through
        JAX's runtime (see the module docstring), so waiting longer than one read is safe."""
        while True:
            try:
                return self.client.blocking_key_value_get(self._key(name), WAIT_MS)
            except jax.errors.JaxRuntimeError as error:
                if "DEADLINE_EXCEEDED" not in str(error):
                    raise

    @contextlib.contextmanager
    def run_lock(self, lock: RunLock, prepare: Callable[[], None]):
        """Hold the run's lock for every process: process 0 takes `lock` (flock) and a key in the
        coordination service, calls `prepare` (e.g. removes earlier outputs), then grants; the
        others wait for the grant, or raise process 0's refusal."""
        if self.index != 0:
            verdict = self._wait("lock")
            if verdict != GRANTED:
                raise RunLockedError(verdict)
            with self._share_failures():
                yield
            return
        service_key = (
            "eft_jax/lock/" + hashlib.sha256(str(lock.path.resolve()).encode()).hexdigest()
        )
        held: list[Callable[[], None]] = []
        try:
            try:
                lock.acquire()
                held.append(lock.release)
            except OSError as error:  # a filesystem without flock (ENOLCK, ENOSYS, EOPNOTSUPP)
                note(
                    f"{lock.path}: no flock on this filesystem ({error}); the run's lock is the "
                    "coordination service's alone"
                )
            try:
                self.client.key_value_set(service_key, _holder(), allow_overwrite=False)
            except jax.errors.JaxRuntimeError as error:
                if "ALREADY_EXISTS" not in str(error):
                    raise
                raise RunLockedError(
                    f"{lock.path}: another run of this job is writing this output "
                    f"({self.client.key_value_try_get(service_key)})"
                ) from None
            held.append(lambda: self.client.key_value_delete(service_key))
            prepare()
        except BaseException as error:
            self._set("lock", str(error) if isinstance(error, InputError) else _failed(error))
            for release in reversed(held):
                release()
            raise
        self._set("lock", GRANTED)
        try:
            with self._share_failures():
                yield
        finally:
            for release in reversed(held):
                release()

    @contextlib.contextmanager
    def _share_failures(self):
        """What ends this process's part of the run early ends the others' too, instead of leaving
        them to wait for a share or a word that never comes: an error (they stop as on SIGTERM,
        and the outputs are not written), or an interruption outside the fit loop (a second
        Ctrl-C: they stop as on that signal)."""
        try:
            yield
        except BaseException as error:
            stopped = signal.SIGINT if isinstance(error, KeyboardInterrupt) else signal.SIGTERM
            how = _failed(error) if isinstance(error, Exception) else f"{STOPPED}{int(stopped)}"
            if str(self.index) not in self._entries("share"):
                self._set(f"stop/{self.index}", str(int(stopped)))
                self._set(f"share/{self.index}", how)
            if self.index == 0 and self._get("outputs") is None:
                self._set(
                    "outputs", how if how.startswith(STOPPED) else f"process 0 failed ({how})"
                )
            raise

    def progress(self, total: int, already_done: int) -> SharedProgress:
        """This process's progress; process 0 prints the run's (`total` exemplars, `already_done`
        of them before this run)."""
        return SharedProgress(self, total, already_done)

    def hand_over(self, stopped: int | None, progress: SharedProgress) -> int | None:
        """The barrier after the shares: publish how this process's share ended (`stopped`: the
        signal that stopped it, or None) and wait. Process 0 waits for every share, printing the
        run's progress, and returns the signal that stopped one (None: all done; it then writes
        the outputs in `writing_outputs`). The others wait for process 0's word: the signal, or
        None once the outputs are written."""
        progress.close()
        if stopped is not None:
            self._set(f"stop/{self.index}", str(stopped))
        self._set(f"share/{self.index}", DONE if stopped is None else f"{STOPPED}{stopped}")
        if self.index != 0:
            word = self._wait("outputs")
            if word.startswith(STOPPED):
                return int(word.removeprefix(STOPPED))
            if word != DONE:
                raise DistributedError(f"the outputs were not written: {word}")
            return None
        while len(shares := self._entries("share")) < self.count:
            progress.sync(force=True)
            time.sleep(POLL_S)
        progress.sync(force=True, final=True)
        ended = sorted((int(i), how) for i, how in shares.items() if how != DONE)
        failed = [f"process {i} failed ({how})" for i, how in ended if not how.startswith(STOPPED)]
        if failed:
            raise self.not_written(failed[0])
        if not ended:
            return None
        self._set("outputs", ended[0][1])
        return int(ended[0][1].removeprefix(STOPPED))

    def not_written(self, why: str) -> DistributedError:
        """Process 0 tells the others that it writes no outputs, and why; the error to raise."""
        self._set("outputs", why)
        return DistributedError(f"the outputs were not written: {why}")

    @contextlib.contextmanager
    def writing_outputs(self):
        """Process 0 writes the outputs inside this block; the other processes learn how it went."""
        try:
            yield
        except BaseException as error:
            self._set("outputs", _failed(error))
            raise
        self._set("outputs", DONE)


class SharedProgress:
    """This process's count of exemplars done, published in the coordination service at most once
    per POLL_S; process 0 prints the run's progress line (every process's count). While the share
    is fitted, a stop published by another process arrives here as the same signal (caught by
    `fitting.stopping.StopRequests` as a local Ctrl-C or SIGTERM would be)."""

    def __init__(self, cluster: Cluster, total: int, already_done: int):
        self.cluster = cluster
        self.done = 0
        self._shown = 0
        self._last_sync = -float("inf")
        self._fitting = True
        self.line = Progress(total, already_done=already_done) if cluster.index == 0 else None

    def update(self, count: int = 1) -> None:
        self.done += count
        self.sync()

    def sync(self, force: bool = False, final: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_sync < POLL_S:
            return
        self._last_sync = now
        self.cluster._set(f"progress/{self.cluster.index}", str(self.done))
        if self.line is not None:
            done = sum(int(v) for v in self.cluster._entries("progress").values())
            if done > self._shown:
                self.line.update(done - self._shown)
                self._shown = done
            if final:
                self.line.close()
        if self._fitting and (stops := self.cluster._entries("stop")):
            self._fitting = False
            os.kill(os.getpid(), int(next(iter(stops.values()))))

    def close(self) -> None:
        """The share is fitted: publish the count; stops are the hand-over's business now."""
        self._fitting = False
        self.sync(force=True)


def _holder() -> str:
    return json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%F %T")}
    )


def _failed(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
