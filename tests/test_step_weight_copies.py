"""The EFT engine's compiled step updates each weight in place, with no copy of the weights at each
iteration: what `engine.step_compiler_options` (copy insertion by region analysis) is for.

Checked in a process of its own (tests/step_weight_copies.py) compiled with XLA's default
emitters, since the tests' faster-compiling ones (tests/xla_flags.py) lay out the loop's buffers
differently and copy nothing either way."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest
import xla_flags

TESTS = Path(__file__).resolve().parent


@pytest.mark.slow  # the tiny network's step compiled twice with XLA's optimisations on
@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the option is the CPU backend's")
def test_the_step_copies_no_weight_at_each_iteration():
    flags = [
        f for f in os.environ.get("XLA_FLAGS", "").split() if f not in xla_flags.TEST_XLA_FLAGS
    ]
    environ = {
        **os.environ,
        "XLA_FLAGS": " ".join(flags),
        "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)]),
    }
    environ.pop("JAX_DISABLE_MOST_OPTIMIZATIONS", None)
    done = subprocess.run(
        [sys.executable, str(TESTS / "step_weight_copies.py")],
        capture_output=True,
        text=True,
        env=environ,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["without"] > 0  # XLA's default copy insertion copies the weights
    assert counts["with_options"] == 0
