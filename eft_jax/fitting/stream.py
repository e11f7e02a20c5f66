"""The Python side of the engine: exemplars in, per-exemplar results out, in completion order.

    engine = EftEngine(regressor, variables, body_model, config)
    for result in fit_stream(exemplars, engine, skip_ids=already_written):
        write(result)                       # incrementally; a rerun skips what is written

Continuous batching (default, config.continuous): a slot whose exemplar stops is emitted and
refilled with the next exemplar before the next step, so the batch stays full while exemplars
stop at different iterations. Static batching: B exemplars are loaded together and the next B
only when all of them have stopped (the way a plain batched loop runs; kept for comparison).

With `record` and `on_point`, the stream also hands out the trajectory points of chosen exemplars
(the predictions after given numbers of Adam updates, as `SequentialEft.trajectory` records them)
from the same run: the Figure-1 strips need no second fit.

Lanes (`engine.lanes`, config.lanes): that many groups of B slots, each stepped by a thread of its
own, so that XLA runs two small step programs side by side (on a CPU the cores idle between a
small program's operations). The source is still read, and the results still handed out, on the
caller's thread; results come in completion order across the lanes, and an exemplar's fit is the
same in any lane (each runs the same program). Recording trajectory points uses one lane.

Each call of the engine's step runs up to `config.iterations_per_call` iterations and ends after
the iteration in which a slot stops (one iteration per call while a recorded exemplar is in a
slot). Per call only the `done` flags come back from the device (and, while a recorded exemplar is
in a slot, the iteration counts); the small result arrays come back only after calls in which some
slot finished, and only new images and keypoints go to the device.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping

import jax
import numpy as np

from eft_jax.fitting.engine import EftEngine
from eft_jax.fitting.exemplar import Exemplar, checked_inputs, full_frame_of
from eft_jax.fitting.reference import TrajectoryPoint
from eft_jax.fitting.result import FitResult


def fit_stream(
    exemplars: Iterable[Exemplar],
    engine: EftEngine,
    *,
    continuous: bool | None = None,
    skip_ids: Collection[Hashable] = (),
    record: Mapping[Hashable, Collection[int]] | None = None,
    on_point: Callable[[Hashable, TrajectoryPoint], None] | None = None,
) -> Iterator[FitResult]:
    """Fit every exemplar once; yield a FitResult per exemplar (fits and skips) as each finishes.

    Exemplars whose id is in `skip_ids` are passed over without a result. Exemplars that cannot
    be fitted (see `exemplar.checked_inputs`) are yielded at once as skips and never occupy a slot.
    `record` maps exemplar ids to numbers of Adam updates: each forward pass of such an exemplar
    with one of those numbers of updates behind it goes to `on_point(id, TrajectoryPoint)` as it
    happens, before the exemplar's result (a pass with a non-finite loss included: its result is
    then a skip).
    """
    record = {k: {int(u) for u in v} for k, v in (record or {}).items()}
    if record and on_point is None:
        raise ValueError("record needs on_point, which receives the recorded points")
    continuous = engine.config.continuous if continuous is None else continuous
    if engine.lanes == 1 or record:
        yield from _lane(iter(exemplars), engine, continuous, skip_ids, record, on_point)
    else:
        yield from _in_lanes(exemplars, engine, continuous, skip_ids)


_WANT, _RESULT, _FAILED, _ENDED = "want", "result", "failed", "ended"
_END = object()


class _Feed:
    """A lane's exemplars: each `next` asks the caller's thread, which draws it from the source,
    so the source's code (reading, logging skips) runs where it would without lanes."""

    def __init__(self, events: queue.SimpleQueue):
        self._events = events
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()

    def __iter__(self):
        return self

    def __next__(self) -> Exemplar:
        self._events.put((_WANT, self))
        item = self.inbox.get()
        if item is _END:
            raise StopIteration
        return item


def _in_lanes(exemplars, engine: EftEngine, continuous: bool, skip_ids) -> Iterator[FitResult]:
    """`engine.lanes` lanes, each stepping its slots on a thread of its own. This (the caller's)
    thread draws every exemplar from the source when a lane asks, and hands out the results and
    the first error a lane raises. When the consumer stops (an error, Ctrl-C, closing the
    generator), every lane stops after its current step."""
    source = iter(exemplars)
    events: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    feeds = [_Feed(events) for _ in range(engine.lanes)]

    def run_lane(feed: _Feed) -> None:
        try:
            for result in _lane(feed, engine, continuous, skip_ids, {}, None, stop):
                events.put((_RESULT, result))
        except BaseException as error:  # handed to the caller's thread, which raises it
            events.put((_FAILED, error))
        finally:
            events.put((_ENDED, None))

    lanes = [
        threading.Thread(target=run_lane, args=(feed,), name=f"eft-jax lane {n}", daemon=True)
        for n, feed in enumerate(feeds)
    ]
    for lane in lanes:
        lane.start()
    try:
        running = len(lanes)
        while running:
            kind, value = events.get()
            if kind == _WANT:
                value.inbox.put(next(source, _END))
            elif kind == _RESULT:
                yield value
            elif kind == _FAILED:
                raise value
            else:
                running -= 1
    finally:
        stop.set()
        for feed in feeds:  # a lane waiting for an exemplar gets none
            feed.inbox.put(_END)
        for lane in lanes:
            lane.join()


def _lane(
    source: Iterator[Exemplar],
    engine: EftEngine,
    continuous: bool,
    skip_ids: Collection[Hashable],
    record: Mapping[Hashable, set[int]],
    on_point: Callable[[Hashable, TrajectoryPoint], None] | None,
    stop: threading.Event | None = None,
) -> Iterator[FitResult]:
    """One lane: B slots of `engine`, filled from `source` until it runs out (or `stop` is set)."""
    batch_size = engine.batch_size
    occupants: dict[int, Hashable] = {}
    exhausted = False
    slots = engine.empty_slots()

    while stop is None or not stop.is_set():
        if not exhausted and (continuous or not occupants):
            loading: list[tuple[int, Hashable, tuple]] = []
            free = [slot for slot in range(batch_size) if slot not in occupants]
            while free and not exhausted:
                exemplar = next(source, None)
                if exemplar is None:
                    exhausted = True
                    break
                if exemplar.id in skip_ids:
                    continue
                inputs, reason = checked_inputs(exemplar, engine.crop_size, engine.keypoint_weights)
                if inputs is not None and engine.camera == "full_frame":
                    frame, reason = full_frame_of(exemplar, engine.focal_px)
                    inputs = None if frame is None else (*inputs, frame)
                if inputs is None:
                    yield FitResult.skip(exemplar.id, reason)
                    continue
                loading.append((free.pop(0), exemplar.id, inputs))
            if loading:
                frames = None
                if engine.camera == "full_frame":
                    frames = jax.tree.map(
                        lambda *leaves: np.stack(leaves), *[inputs[2] for _, _, inputs in loading]
                    )
                slots = engine.put_exemplars(
                    slots,
                    [slot for slot, _, _ in loading],
                    np.stack([inputs[0] for _, _, inputs in loading]),
                    np.stack([inputs[1] for _, _, inputs in loading]),
                    frames,
                )
                occupants.update({slot: exemplar_id for slot, exemplar_id, _ in loading})
        if not occupants:
            return
        watched = {
            slot: exemplar_id for slot, exemplar_id in occupants.items() if exemplar_id in record
        }
        # Several iterations per call when no trajectory is recorded; a call ends after the
        # iteration in which a slot stops, so slots are refilled as after single iterations.
        slots = engine.step(slots, 1 if watched else engine.iterations_per_call)
        if watched:
            _hand_out_points(slots, watched, record, on_point)
        done = engine.done_flags(slots)
        finished = {slot: exemplar_id for slot, exemplar_id in occupants.items() if done[slot]}
        if finished:
            yield from engine.results(slots, finished)
            for slot in finished:
                del occupants[slot]


def _hand_out_points(slots, watched: dict[int, Hashable], record, on_point) -> None:
    """After a step, every watched slot ran one forward pass (a slot that had stopped is no longer
    watched): `kept` is its prediction, made with `iteration - 1` updates behind it."""
    iteration = np.asarray(slots.iteration)
    for slot, exemplar_id in watched.items():
        updates = int(iteration[slot]) - 1
        if updates in record[exemplar_id]:
            prediction = jax.device_get(jax.tree.map(lambda leaf, s=slot: leaf[s], slots.kept))
            loss, error = jax.device_get((slots.keypoint_loss[slot], slots.keypoint_error_px[slot]))
            on_point(exemplar_id, TrajectoryPoint(updates, prediction, float(loss), float(error)))
