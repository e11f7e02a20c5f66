"""The small settings with which tests run `eft-jax demo` end to end, shared by the test files
that do (test_demo_job, test_slips): one setting means one set of compiled programs, which the
first demo of the run compiles and the others load from the run's compilation cache."""

from __future__ import annotations

DEMO_OVERRIDES = [
    "num_exemplars=3",
    "strips=1",
    "strip_iterations=(0, 2)",
    "eft.max_iters=4",
    "eft.batch_size=2",
    "picture_size=64",
]
