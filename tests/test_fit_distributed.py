"""`eft-jax fit --distributed` in two processes on this machine, with a real jax.distributed
coordinator on a loopback port: the run writes what one process writes, bit for bit, each exemplar
once; and when the worker (process 1) or the coordinator (process 0) is killed with SIGKILL
mid-run, the survivor stops within a minute with its log intact, and rerunning the same command
finishes the job, refitting nothing that was logged. (The hand-over itself, fast and in one
process: tests/test_fitting_distributed.py.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from eft_jax import cli
from eft_jax.fitting.run import all_log_paths
from eft_jax.formats.exemplar_npz import write_exemplars_npz
from eft_jax.formats.fit_log import read_fit_log
from eft_jax.nets import Regressor, RegressorArch, save_regressor

pytestmark = pytest.mark.slow  # each test starts `eft-jax fit` processes that compile their step

ROOT = Path(__file__).resolve().parents[1]
CROP = 32
COUNT = 8
SKIPPED = 2  # an exemplar without keypoints: a skip in process 0's share
# One lane of two slots: a process's fits end two at a time, so a process killed after its first
# has more to do (two lanes would hold all its four at once).
FAST = ["--crop-size", str(CROP), "--max-iters", "10", "--batch-size", "2", "lanes=1"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(crops npz, tiny checkpoint, reference EFT JSON of one process's run)."""
    folder = tmp_path_factory.mktemp("distributed")
    regressor = Regressor(RegressorArch.reduced(18, 16))
    checkpoint = str(
        save_regressor(
            folder / "tiny", regressor.init(jax.random.key(0), CROP), regressor.config_record()
        )
    )
    rng = np.random.default_rng(5)
    images = rng.integers(0, 255, (COUNT, CROP, CROP, 3), dtype=np.uint8)
    keypoints = np.concatenate(
        [rng.uniform(-0.8, 0.8, (COUNT, 49, 2)), np.ones((COUNT, 49, 1))], -1
    )
    keypoints[SKIPPED, :, 2] = 0
    crops = write_exemplars_npz(folder / "crops.npz", images, keypoints.astype(np.float32))
    reference = folder / "reference.json"
    argv = ["fit", "--crops", str(crops), "--out", str(reference), "--checkpoint", checkpoint]
    assert cli.main(argv + FAST + ["--process-index", "0", "--process-count", "1"]) == 0
    return crops, checkpoint, json.loads(reference.read_text())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(setup, out: Path, port: int, tmp_path: Path) -> list[subprocess.Popen]:
    """Processes 0 and 1 of the run, stderr to files under tmp_path (named by index)."""
    crops, checkpoint, _ = setup
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("EFT_JAX_PROCESS_COUNT", None)
    command = [
        sys.executable,
        "-m",
        "eft_jax.cli",
        "fit",
        "--crops",
        str(crops),
        "--out",
        str(out),
        "--checkpoint",
        checkpoint,
        *FAST,
        "--distributed",
        "--coordinator",
        f"127.0.0.1:{port}",
        "--num-processes",
        "2",
    ]
    return [
        subprocess.Popen(
            [*command, "--process-id", str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=open(tmp_path / f"stderr-{i}.txt", "w"),  # noqa: SIM115 - closed with the child
            text=True,
        )
        for i in (0, 1)
    ]


def _finish(children, tmp_path, timeout=300) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each child, once it has exited."""
    outs = [child.communicate(timeout=timeout)[0] for child in children]
    return [
        (child.returncode, out, (tmp_path / f"stderr-{i}.txt").read_text())
        for i, (child, out) in enumerate(zip(children, outs, strict=True))
    ]


def _records(out: Path) -> dict[str, list[dict]]:
    """Every record of every log of the output, by id (a damaged line raises)."""
    by_id: dict[str, list[dict]] = {}
    for path in all_log_paths(out):
        for record in read_fit_log(path):
            by_id.setdefault(record["id"], []).append(record)
    return by_id


def _assert_same_as_one_process(out: Path, reference: dict) -> None:
    records = _records(out)
    assert sorted(records) == [f"{i:06d}" for i in range(COUNT)]
    assert all(len(r) == 1 for r in records.values())  # each exemplar logged (fitted) once
    result = json.loads(out.read_text())
    assert result == reference  # bit for bit, each exemplar once, in input order


def test_two_processes_on_jax_distributed_write_what_one_process_writes(tmp_path, setup):
    out = tmp_path / "fits.json"
    results = _finish(_start(setup, out, _free_port(), tmp_path), tmp_path)
    assert [code for code, _, _ in results] == [0, 0], results
    assert [p.name for p in all_log_paths(out)] == [
        "fits.json.log-0of2.jsonl",
        "fits.json.log-1of2.jsonl",
    ]
    assert {r["id"] for r in read_fit_log(all_log_paths(out)[1])} == {
        f"{i:06d}" for i in range(1, COUNT, 2)
    }  # process 1's share: positions 1, 3, 5, 7
    _assert_same_as_one_process(out, setup[2])
    assert f"wrote {out}" in results[0][1]
    assert "process 1 of 2 fitted its share" in results[1][1]
    assert f"process 0 wrote {out}" in results[1][1]
    assert f"{COUNT}/{COUNT} exemplars (100%)" in results[0][2]  # the run's progress, on process 0


def _kill_mid_run(setup, tmp_path, victim: int):
    """Start the run, SIGKILL process `victim` once it has logged its first fit, and wait for the
    survivor. Returns (the survivor's exit code, its stderr, seconds from the kill to its exit,
    the records logged by then)."""
    out = tmp_path / "fits.json"
    children = _start(setup, out, _free_port(), tmp_path)
    log = out.with_name(f"{out.name}.log-{victim}of2.jsonl")
    deadline = time.monotonic() + 300
    while b'"status":"done"' not in (log.read_bytes() if log.exists() else b""):
        if time.monotonic() > deadline or any(c.poll() is not None for c in children):
            pytest.fail(f"no fit logged by process {victim} before: {_finish(children, tmp_path)}")
        time.sleep(0.01)
    children[victim].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    survivor = children[1 - victim]
    survivor.wait(timeout=120)
    seconds = time.monotonic() - killed
    _finish(children, tmp_path)
    stderr = (tmp_path / f"stderr-{1 - victim}.txt").read_text()
    return survivor.returncode, stderr, seconds, _records(out)


def _rerun_finishes_refitting_nothing_logged(setup, tmp_path, logged: dict) -> None:
    out = tmp_path / "fits.json"
    assert all(len(r) == 1 for r in logged.values())  # the logs read whole (truncated tail aside)
    results = _finish(_start(setup, out, _free_port(), tmp_path), tmp_path)
    assert [code for code, _, _ in results] == [0, 0], results
    _assert_same_as_one_process(out, setup[2])
    after = _records(out)
    assert all(after[i] == logged[i] for i in logged)  # the logged fits were kept, not refitted


@pytest.mark.parametrize("victim", [1, 0], ids=["worker-killed", "coordinator-killed"])
def test_a_killed_process_stops_the_survivor_and_a_rerun_finishes_the_job(tmp_path, setup, victim):
    code, stderr, seconds, logged = _kill_mid_run(setup, tmp_path, victim)
    assert code == -signal.SIGABRT and seconds < 60, (code, seconds, stderr)  # exit status 134
    # what it says: the note when the run started, then JAX's own words when it stopped it
    assert "rerun the same command on every process to resume" in stderr
    assert "Terminating process because the JAX distributed service detected fatal errors" in stderr
    assert not (tmp_path / "fits.json").exists()
    assert len(logged) < COUNT
    _rerun_finishes_refitting_nothing_logged(setup, tmp_path, logged)
