"""The Python side of the engine: exemplars in, per-exemplar results out, in completion order.

    engine = EftEngine(regressor, variables, body_model, config)
    for result in fit_stream(exemplars, engine, skip_ids=already_written):
        write(result)                       # incrementally; a rerun skips what is written

Continuous batching (default, config.continuous): a slot whose exemplar stops is emitted and
refilled with the next exemplar before the next step, so the batch stays full while exemplars
stop at different iterations. Static batching: B exemplars are loaded together and the next B
only when all of them have stopped (the way a plain batched loop runs; kept for comparison).

Per step only the `done` flags come back from the device; the small result arrays come back
only in steps where some slot finished, and only new images and keypoints go to the device.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Iterator

import numpy as np

from eft_jax.fitting.engine import EftEngine
from eft_jax.fitting.exemplar import Exemplar, checked_inputs
from eft_jax.fitting.result import FitResult


def fit_stream(
    exemplars: Iterable[Exemplar],
    engine: EftEngine,
    *,
    continuous: bool | None = None,
    skip_ids: Collection[Hashable] = (),
) -> Iterator[FitResult]:
    """Fit every exemplar once; yield a FitResult per exemplar (fits and skips) as each finishes.

    Exemplars whose id is in `skip_ids` are passed over without a result. Exemplars that cannot
    be fitted (see `exemplar.checked_inputs`) are yielded at once as skips and never occupy a slot.
    """
    continuous = engine.config.continuous if continuous is None else continuous
    batch_size = engine.batch_size
    source = iter(exemplars)
    occupants: dict[int, Hashable] = {}
    exhausted = False
    slots = engine.empty_slots()

    while True:
        if not exhausted and (continuous or not occupants):
            loading: list[tuple[int, Hashable, tuple[np.ndarray, np.ndarray]]] = []
            free = [slot for slot in range(batch_size) if slot not in occupants]
            while free and not exhausted:
                exemplar = next(source, None)
                if exemplar is None:
                    exhausted = True
                    break
                if exemplar.id in skip_ids:
                    continue
                inputs, reason = checked_inputs(exemplar, engine.image_size, engine.slot_weights)
                if inputs is None:
                    yield FitResult.skip(exemplar.id, reason)
                    continue
                loading.append((free.pop(0), exemplar.id, inputs))
            if loading:
                slots = engine.load(
                    slots,
                    [slot for slot, _, _ in loading],
                    np.stack([inputs[0] for _, _, inputs in loading]),
                    np.stack([inputs[1] for _, _, inputs in loading]),
                )
                occupants.update({slot: exemplar_id for slot, exemplar_id, _ in loading})
        if not occupants:
            return
        slots = engine.step(slots)
        done = engine.done_flags(slots)
        finished = {slot: exemplar_id for slot, exemplar_id in occupants.items() if done[slot]}
        if finished:
            yield from engine.results(slots, finished)
            for slot in finished:
                del occupants[slot]
