"""A worker process that runs one checkout's eft-jax, for timing two commits in turns in one run.

The comparison scripts (`bench_eft/bundled_vs_commit.py`, `bench_eft/resnet_step_vs_commit.py`,
`bench_smplify/smplify_vs_commit.py`) start one worker per side: the same worker file, run with
the checkout's directory as its working directory and import path, compiles its job, prints a
JSON line, and then answers each "run" on stdin with one timed pass (a JSON line). `in_turns`
alternates which side goes first in each round, so the machine's drift over minutes falls on
both sides alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def short_commit(tree: Path) -> str:
    """The checkout's HEAD, abbreviated."""
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True
    ).stdout.strip()


class TreeWorker:
    """`python WORKER ARGS...` with the eft-jax of `tree` (and `xla_flags` added to XLA_FLAGS),
    compiled and waiting for "run"."""

    def __init__(
        self, name: str, tree: Path, worker: Path, arguments: list[str], log, xla_flags: str = ""
    ):
        self.name = name
        environ = {**os.environ, "PYTHONPATH": str(tree)}
        if xla_flags:
            environ["XLA_FLAGS"] = f"{environ.get('XLA_FLAGS', '')} {xla_flags}".strip()
        self.process = subprocess.Popen(
            [sys.executable, str(worker), *arguments],
            cwd=tree,
            env=environ,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        self.info = self._reply()

    def _reply(self) -> dict:
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"{self.name}: the worker ended early (see its log)")

    def run(self) -> dict:
        """One timed pass: the worker's reply plus the CPU seconds its process used for it."""
        before = self._cpu_seconds()
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        reply = self._reply()
        return {**reply, "cpu_seconds": self._cpu_seconds() - before}

    def _cpu_seconds(self) -> float:
        """User + system time of the worker, all its threads (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def in_turns(sides: list[TreeWorker], rounds: int):
    """For each of `rounds` rounds: (its index, the 1-minute load average as it started, each
    side's reply in the order of `sides`); the sides take turns going first."""
    for index in range(rounds):
        load = os.getloadavg()[0]
        order = sides if index % 2 == 0 else sides[::-1]
        replies = {side.name: side.run() for side in order}
        yield index, load, [replies[side.name] for side in sides]
