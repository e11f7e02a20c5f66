"""Slots spread over the local devices: data parallel over exemplars, no communication.

Slot arrays are split along their leading (slot) axis over a one-axis mesh; the frozen weights,
the base weights and the body model are replicated. The step runs under `shard_map`, so each
device maps the lowering over its own slots only (a `lax.map` over a sharded axis would
otherwise gather every slot onto each device).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

SLOT_AXIS = "slots"


def slot_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    devices = jax.local_devices() if devices is None else list(devices)
    return Mesh(np.array(devices), (SLOT_AXIS,))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    count = mesh.devices.size
    if batch_size % count:
        raise ValueError(
            f"batch_size {batch_size} must be a multiple of the {count} devices slots are sharded over"
        )


def slot_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(SLOT_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def shard_over_slots(batched_fn: Callable, mesh: Mesh, num_shared: int) -> Callable:
    """batched_fn(slots, *shared) -> slots, run on each device's share of the slots."""
    in_specs = (PartitionSpec(SLOT_AXIS),) + (PartitionSpec(),) * num_shared
    return jax.shard_map(
        batched_fn,
        mesh=mesh,
        in_specs=in_specs,
        out_specs=PartitionSpec(SLOT_AXIS),
        check_vma=False,
    )
