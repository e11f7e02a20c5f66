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
