"""Public peak figures of the accelerators eft-jax plans for, and the roofline over them.

Figures are NVIDIA's data sheets for the SXM boards (H100 SXM5 80 GB; H200 SXM 141 GB), dense
(the data sheets' headline tensor-core figures assume 2:4 sparsity and are twice these). XLA
runs float32 convolutions and matrix products on TF32 tensor cores at JAX's default precision
(`jax.lax.Precision.DEFAULT`: "On GPU: uses tensorfloat32 if available"); plain float32 (no
tensor cores) is what precision "highest" gets. The PCIe H100 has 2.0 TB/s and lower clocks:
scale the H100 rows by its figures for that board.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Accelerator:
    name: str
    memory_gb: float  # HBM, 1e9 bytes
    bandwidth_tb_s: float  # HBM, 1e12 bytes/s
    tflops: dict  # dense peak TFLOP/s by arithmetic: "fp32" (no tensor cores), "tf32", "bf16"


ACCELERATORS = (
    Accelerator("H100", 80.0, 3.35, {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5}),
    Accelerator("H200", 141.0, 4.8, {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5}),
)

# The arithmetic a computation dtype runs at on these chips with JAX's default precision.
ARITHMETIC = {"float32": "tf32", "bfloat16": "bf16"}


def accelerator_for(device_kind: str) -> Accelerator | None:
    """The figures of a device by its `device_kind` (e.g. "NVIDIA H100 80GB HBM3"), if known."""
    for accelerator in ACCELERATORS:
        if accelerator.name in device_kind:
            return accelerator
    return None


def roofline_seconds(flops: float, bytes_accessed: float, accelerator: Accelerator, arithmetic):
    """Lower bound on the time of work doing `flops` and moving `bytes_accessed` to and from
    HBM: whichever of the two the chip needs longer for, the other hidden under it."""
    compute = flops / (accelerator.tflops[arithmetic] * 1e12)
    memory = bytes_accessed / (accelerator.bandwidth_tb_s * 1e12)
    return max(compute, memory)
