"""The hand-over of a run under jax.distributed (`fitting.distributed.Cluster`), on a real
coordination service on a loopback port with two clients in this process, one per thread: the run's
lock granted or refused for both, progress summed on process 0, the barrier, process 0 writing the
outputs while process 1 waits for its word, and a stop reaching every process.
(tests/test_fit_distributed.py runs `eft-jax fit --distributed` in two processes, and kills them.)"""

from __future__ import annotations

import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from jax._src.lib import _jax

from eft_jax import cli
from eft_jax.fitting.distributed import Cluster, DistributedError
from eft_jax.fitting.stopping import StopRequests
from eft_jax.formats.run_lock import RunLock, RunLockedError

pytestmark = pytest.mark.fast_compiles


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def clusters():
    """Process 0's and process 1's view of one run, through one coordination service."""
    address = f"127.0.0.1:{_free_port()}"
    service = _jax.get_distributed_runtime_service(address, 2, heartbeat_timeout=10)
    clients = [
        _jax.get_distributed_runtime_client(address, i, init_timeout=30, heartbeat_timeout=10)
        for i in (0, 1)
    ]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda client: client.connect(), clients))
    yield [Cluster(client, i, 2, "eft_jax/run0") for i, client in enumerate(clients)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda client: client.shutdown(), clients))
    service.shutdown()


def test_hand_over_is_a_barrier_then_process_0_writes_alone(clusters, tmp_path, capsys):
    zero, one = clusters
    out = tmp_path / "fits.json"
    events: list[str] = []
    prepared = threading.Event()

    def worker():
        with one.run_lock(RunLock(tmp_path / "never-taken"), prepare=lambda: None):
            events.append("1 granted")
            progress = one.progress(total=5, already_done=1)
            progress.update(2)
            events.append("1 share done")
            stopped = one.hand_over(None, progress)
        events.append(f"1 handed over, outputs there: {out.exists()}")
        return stopped

    with ThreadPoolExecutor(1) as pool:
        process_1 = pool.submit(worker)
        with zero.run_lock(RunLock(out), prepare=prepared.set):
            assert prepared.is_set()
            progress = zero.progress(total=5, already_done=1)
            time.sleep(0.5)  # process 1 finishes its share first and waits at the barrier
            assert events == ["1 granted", "1 share done"]
            progress.update(2)
            assert zero.hand_over(None, progress) is None
            assert not process_1.done()  # still waiting for process 0's word
            with zero.writing_outputs():
                out.write_text("{}")
        assert process_1.result(timeout=30) is None
    assert events[-1] == "1 handed over, outputs there: True"
    assert "5/5 exemplars (100%)" in capsys.readouterr().err  # 1 before + 2 + 2: the run's line
    assert not RunLock(out).path.exists()  # released


def test_a_refused_lock_is_refused_on_every_process(clusters, tmp_path):
    zero, one = clusters
    out = tmp_path / "fits.json"
    with RunLock(out), ThreadPoolExecutor(1) as pool:  # another run holds the output
        waiting = pool.submit(lambda: one.run_lock(RunLock(out), lambda: None).__enter__())
        with pytest.raises(RunLockedError, match="another run is writing this output") as refusal:
            zero.run_lock(RunLock(out), lambda: None).__enter__()
        with pytest.raises(RunLockedError) as seen_by_1:
            waiting.result(timeout=30)
    assert str(seen_by_1.value) == str(refusal.value)


def test_a_stop_on_one_process_stops_every_process(clusters, tmp_path):
    zero, one = clusters
    with ThreadPoolExecutor(1) as pool:

        def stopped_by_sigterm():  # its fit loop ended on SIGTERM
            with one.run_lock(RunLock(tmp_path / "never-taken"), lambda: None):
                return one.hand_over(signal.SIGTERM, one.progress(4, 0))

        process_1 = pool.submit(stopped_by_sigterm)
        with zero.run_lock(RunLock(tmp_path / "fits.json"), lambda: None):
            progress = zero.progress(4, 0)
            with StopRequests() as stop:  # process 0 is fitting: the stop arrives as a signal
                deadline = time.monotonic() + 30
                while stop.signal is None and time.monotonic() < deadline:
                    progress.update(0)
                    time.sleep(0.05)
            assert stop.signal == signal.SIGTERM
            assert zero.hand_over(stop.signal, progress) == signal.SIGTERM
        assert process_1.result(timeout=30) == signal.SIGTERM


def test_a_failed_share_leaves_the_outputs_unwritten_on_every_process(clusters, tmp_path):
    zero, one = clusters
    with ThreadPoolExecutor(1) as pool:

        def fails():
            with one.run_lock(RunLock(tmp_path / "never-taken"), lambda: None):
                raise OSError("disk full")

        process_1 = pool.submit(fails)
        with pytest.raises(DistributedError, match=r"process 1 failed \(OSError: disk full\)"):
            with zero.run_lock(RunLock(tmp_path / "fits.json"), lambda: None):
                zero.hand_over(None, zero.progress(4, 0))
        with pytest.raises(OSError, match="disk full"):
            process_1.result(timeout=30)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--coordinator", "127.0.0.1:1234"], "--coordinator goes with --distributed"),
        (
            ["--distributed", "--coordinator", "127.0.0.1:1234", "--process-id", "0"],
            "--coordinator, --num-processes and --process-id go together",
        ),
    ],
)
def test_distributed_flags_given_by_halves_are_one_line_exit_2(tmp_path, capsys, flags, message):
    argv = ["fit", "--crops", str(tmp_path / "crops.npz"), "--out", str(tmp_path / "f.json")]
    assert cli.main(argv + flags) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
