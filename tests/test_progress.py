"""The progress line: counts, rate, ETA, resumed runs, print throttling and whole lines off a
terminal."""

import io

import pytest

from eft_jax.progress import Progress, format_duration

pytestmark = pytest.mark.fast_compiles


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_rate_eta_and_resumed_items():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(total=110, already_done=10, stream=out, interval=5.0, clock=clock)
    clock.now += 10.0
    progress.update(20)  # 20 fresh items in 10 s: 2/s; 80 left: 40 s
    line = out.getvalue()
    assert "30/110 exemplars (27%)" in line
    assert "2.00 exemplars/s" in line and "ETA 00:40" in line


def test_prints_at_most_once_per_interval_and_always_at_the_end():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(total=3, stream=out, interval=5.0, clock=clock, terminal=True)
    progress.update()
    clock.now += 1.0
    progress.update()  # within the interval: no new line
    assert out.getvalue().count("\r") == 1
    clock.now += 1.0
    progress.update()  # the last item always prints
    assert out.getvalue().count("\r") == 2 and "3/3" in out.getvalue()


def test_format_duration():
    assert format_duration(59.6) == "01:00"
    assert format_duration(3725) == "1:02:05"
