"""`eft-jax fit` at scale: two local processes share one run, and runs killed with SIGKILL at
random points resume to every exemplar exactly once, bit-identical to an uninterrupted run.

The children share a JAX persistent compilation cache with the in-process reference run, so they
load compiled programs instead of compiling (what a restarted run does)."""

from __future__ import annotations

import json
import os
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

pytestmark = pytest.mark.fast_compiles

ROOT = Path(__file__).resolve().parents[1]
CROP = 32
COUNT = 8
FAST = ["--crop-size", str(CROP), "--max-iters", "2", "--batch-size", "4"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(crops npz, tiny checkpoint, compilation cache, reference EFT JSON of one whole run)."""
    folder = tmp_path_factory.mktemp("scale")
    regressor = Regressor(RegressorArch.reduced(18, 16))
    checkpoint = str(
        save_regressor(
            folder / "tiny", regressor.init(jax.random.key(0), CROP), regressor.config_record()
        )
    )
    rng = np.random.default_rng(3)
    images = rng.integers(0, 255, (COUNT, CROP, CROP, 3), dtype=np.uint8)
    keypoints = np.concatenate(
        [rng.uniform(-0.8, 0.8, (COUNT, 49, 2)), np.ones((COUNT, 49, 1))], -1
    )
    keypoints[5, :, 2] = 0  # a skip among the fits
    crops = write_exemplars_npz(folder / "crops.npz", images, keypoints.astype(np.float32))
    # the test run's cache (tests/conftest.py): other files' fits at these sizes compile the same
    # programs, so they are compiled once per test run, not once more here
    cache = os.environ["JAX_COMPILATION_CACHE_DIR"]
    reference = folder / "reference.json"
    argv = ["fit", "--crops", str(crops), "--out", str(reference), "--checkpoint", checkpoint]
    assert (
        cli.main(
            argv
            + FAST
            + ["--compilation-cache", str(cache), "--process-index", "0", "--process-count", "1"]
        )
        == 0
    )
    return crops, checkpoint, cache, json.loads(reference.read_text())


def _command(setup, out: Path) -> list[str]:
    crops, checkpoint, cache, _ = setup
    return [
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
        "--compilation-cache",
        str(cache),
        *FAST,
    ]


def _env(index: int = 0, count: int = 1) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["EFT_JAX_PROCESS_INDEX"], env["EFT_JAX_PROCESS_COUNT"] = str(index), str(count)
    return env


def _logged_ids(out: Path) -> list[str]:
    return [record["id"] for path in all_log_paths(out) for record in read_fit_log(path)]


def _assert_same_as_reference(out: Path, reference: dict) -> None:
    ids = _logged_ids(out)
    assert sorted(ids) == [f"{i:06d}" for i in range(COUNT)]  # every exemplar exactly once
    result = json.loads(out.read_text())
    assert result["data"] == reference["data"]  # bit-identical fits, in input order
    assert result["skipped"] == reference["skipped"]


def test_two_processes_share_the_run_and_merge_exactly_once(tmp_path, setup):
    out = tmp_path / "fits.json"
    children = [
        subprocess.Popen(_command(setup, out), env=_env(i, 2), stderr=subprocess.PIPE, text=True)
        for i in (0, 1)
    ]
    errors = [child.communicate(timeout=300)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0], errors
    logs = all_log_paths(out)
    assert [p.name for p in logs] == ["fits.json.log-0of2.jsonl", "fits.json.log-1of2.jsonl"]
    shares = [{r["id"] for r in read_fit_log(p)} for p in logs]
    assert shares[0] == {f"{i:06d}" for i in range(0, COUNT, 2)} and shares[1] == {
        f"{i:06d}" for i in range(1, COUNT, 2)
    }
    _assert_same_as_reference(out, setup[3])


@pytest.mark.slow  # four fresh `eft-jax fit` processes in a row
def test_sigkill_at_random_points_then_resume_is_exactly_once_and_identical(tmp_path, setup):
    out = tmp_path / "fits.json"
    rng = np.random.default_rng(0)
    log = out.with_name(out.name + ".log.jsonl")

    def records() -> int:
        return log.read_bytes().count(b"\n") - 1 if log.exists() else 0

    # kill while starting / loading compiled programs, then after k results (fitting and writing)
    triggers = [
        lambda: False,
        lambda: records() >= 2,
        lambda: records() >= int(rng.integers(4, COUNT)),
    ]
    for index, trigger in enumerate(triggers):
        child = subprocess.Popen(_command(setup, out), env=_env(), stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + (rng.uniform(0.5, 3.0) if index == 0 else 120)
        while child.poll() is None and not trigger() and time.monotonic() < deadline:
            time.sleep(0.01)
        child.kill()  # SIGKILL: no cleanup runs
        child.wait()
    assert len(set(_logged_ids(out))) == len(_logged_ids(out))  # nothing logged twice so far
    finished = subprocess.run(
        _command(setup, out), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr
    _assert_same_as_reference(out, setup[3])
