"""python -m experiments.capacity.capacity runs on the CPU, with no accelerator, and writes a plan
whose figures are XLA's counts (the full-size run compiles ResNet-50 and takes an hour)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # two compilations of the bundled regressor's EFT programs
def test_capacity_plan_runs_on_the_cpu_and_writes_its_tables(tmp_path):
    command = [sys.executable, "-m", "experiments.capacity.capacity", "--networks", "bundled"]
    command += ["--subsets", "head", "--lowerings", "vmap", "--no-bfloat16"]
    done = subprocess.run(
        command + ["--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = json.loads((tmp_path / "capacity.json").read_text())["rows"]
    step, put = row["step"], row["put"]
    # XLA counted the work: the head's products per iteration, the backbone's forward per put.
    assert 0 < step["flops"] < put["flops"]
    assert step["floor_bytes"] <= step["bytes"] <= step["unfused_bytes"]
    for estimate in row["estimate"].values():
        assert estimate["pessimistic"] <= estimate["exemplars_per_s"] <= estimate["optimistic"]
        assert estimate["max_slots"] > 0
    table = (tmp_path / "capacity.md").read_text()
    assert "| bundled | head | vmap | float32 |" in table
    assert "| 10M exemplars | 10,000,000 |" in table
