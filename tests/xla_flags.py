"""The XLA flags every test process compiles with: the test run, the scripts the tests start and
the scripts that write the tests' bit-for-bit goldens (their rounding must match the tests').

XLA's CPU fusion emitters are turned off (`--xla_cpu_use_fusion_emitters=false`: XLA's older loop
emitters generate the fused loops instead). The run is mostly XLA compiling, and the older
emitters compile the same programs several times faster: the default tier took 3 min 01 s with
the flag against 5 min 11 s without, back to back on the same machine. Results differ only in
float32 rounding. The package itself compiles with XLA's defaults; this is for the tests alone.
XLA reads XLA_FLAGS once, when jax starts, so `use_test_flags()` runs before jax is imported."""

from __future__ import annotations

import os

TEST_XLA_FLAGS = ("--xla_cpu_use_fusion_emitters=false",)


def use_test_flags(environ=os.environ) -> None:
    """Append the tests' flags to XLA_FLAGS in `environ` (those already there are kept)."""
    flags = environ.get("XLA_FLAGS", "").split()
    environ["XLA_FLAGS"] = " ".join([*flags, *(f for f in TEST_XLA_FLAGS if f not in flags)])
