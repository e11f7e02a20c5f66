"""Run a script in a fresh interpreter with two forced host devices (XLA_FLAGS must be set
before jax initialises), with this tree's eft_jax and the tests' shared setups importable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from xla_flags import use_test_flags

REPO = Path(__file__).resolve().parent.parent


def run_on_two_host_devices(script: str, marker: str) -> None:
    """Run `script`; it passes when it exits with 0 and prints `marker`."""
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"
    )
    use_test_flags(env)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), str(REPO), env.get("PYTHONPATH", "")])
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0 and marker in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
