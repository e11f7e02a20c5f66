"""Wall-clock timing shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time


def time_call(fn, seconds: float, min_repeats: int = 5, warmup: int = 2) -> float:
    """Median seconds per call of `fn` (which must block until its result is ready), after
    `warmup` calls (compilation, for JAX), repeating for at least `seconds`."""
    for _ in range(warmup):
        fn()
    durations = []
    deadline = time.perf_counter() + seconds
    while len(durations) < min_repeats or time.perf_counter() < deadline:
        start = time.perf_counter()
        fn()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def time_interleaved(fns: dict, seconds: float, min_rounds: int = 3) -> dict:
    """Median seconds per call of each function (each must block until its result is ready).

    The functions take turns, round after round, so that load from other processes on a shared
    machine falls on all of them alike and their ratio stays meaningful.
    """
    for fn in fns.values():
        fn()
    durations = {name: [] for name in fns}
    deadline = time.perf_counter() + seconds
    while min(map(len, durations.values())) < min_rounds or time.perf_counter() < deadline:
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            durations[name].append(time.perf_counter() - start)
    return {name: statistics.median(d) for name, d in durations.items()}


def machine_description() -> str:
    """'<cpu>, <n> CPUs, jax <version> on <backend>', the first line of every benchmark table."""
    import os
    import platform

    import jax

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"jax {jax.__version__} on {jax.default_backend()}"
    )


def write_results(out, name: str, table: str, payload: dict) -> None:
    """Print the markdown table and write it to <out>/<name>.md, the payload to <name>.json."""
    import json

    print()
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(table)
    (out / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
