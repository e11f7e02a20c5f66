"""Lanes (`fitting.fit_stream` with config.lanes > 1): groups of slots stepped by threads of their
own give every exemplar the fit one lane gives it, skips included, with the source read on the
caller's thread; an error in the source comes out of the stream; a stream the consumer stops
stops its lanes; recording uses one lane. The setup is conftest's `calibrated_eft`
(tests/tiny_eft.py)."""

from __future__ import annotations

import dataclasses
import threading
import types

import numpy as np
import pytest
from tiny_eft import IMAGE_SIZE, assert_results_identical

from eft_jax import fitting
from eft_jax.errors import InputError
from eft_jax.fitting.engine import lanes_for

pytestmark = pytest.mark.fast_compiles


def engine_with(calibrated_eft, lanes):
    regressor, variables, model, config, _ = calibrated_eft
    config = config.copy_and_resolve_references()
    config.lanes = lanes
    config.batch_size = 2
    return fitting.EftEngine(regressor, variables, model, config, crop_size=IMAGE_SIZE)


def lane_threads():
    return [t for t in threading.enumerate() if t.name.startswith("eft-jax lane")]


@pytest.fixture(scope="module")
def exemplars(calibrated_eft):
    """The seven tiny exemplars and one with every keypoint hidden (a skip)."""
    exemplars = list(calibrated_eft[4])
    hidden = exemplars[0].keypoints.copy()
    hidden[:, 2] = 0.0
    return [*exemplars, dataclasses.replace(exemplars[0], id="hidden", keypoints=hidden)]


def test_two_lanes_give_every_exemplar_the_fit_one_lane_gives_it(calibrated_eft, exemplars):
    readers = set()

    def source():  # read, as the results are handed out, on the caller's thread
        for exemplar in exemplars:
            readers.add(threading.current_thread())
            yield exemplar

    one = {r.id: r for r in fitting.fit_stream(exemplars, engine_with(calibrated_eft, 1))}
    two = list(fitting.fit_stream(source(), engine_with(calibrated_eft, 2)))
    assert readers == {threading.current_thread()}
    assert sorted(r.id for r in two) == sorted(one)  # each exemplar once
    assert one["hidden"].stop_reason.startswith("skipped")
    for result in two:
        assert_results_identical(result, one[result.id])
    assert lane_threads() == []


def test_an_error_in_the_source_comes_out_and_stops_the_lanes(calibrated_eft, exemplars):
    def source():
        yield from exemplars[:3]
        raise InputError("unreadable image")

    engine = engine_with(calibrated_eft, 2)
    with pytest.raises(InputError, match="unreadable image"):
        list(fitting.fit_stream(source(), engine))
    assert lane_threads() == []


def test_a_stream_its_consumer_stops_stops_its_lanes(calibrated_eft, exemplars):
    stream = fitting.fit_stream(exemplars * 4, engine_with(calibrated_eft, 2))
    next(stream)
    assert len(lane_threads()) == 2
    stream.close()
    assert lane_threads() == []


def test_recording_runs_in_one_lane_on_the_callers_thread(calibrated_eft, exemplars):
    threads = set()

    def on_point(exemplar_id, point):
        threads.add(threading.current_thread())

    results = list(
        fitting.fit_stream(
            exemplars[:3],
            engine_with(calibrated_eft, 2),
            record={exemplars[0].id: [0, 1]},
            on_point=on_point,
        )
    )
    assert len(results) == 3 and threads == {threading.current_thread()}


def test_lanes_setting_zero_is_two_on_a_cpu_with_one_device_else_one():
    one_device = types.SimpleNamespace(devices=np.empty(1))
    two_devices = types.SimpleNamespace(devices=np.empty(2))
    assert lanes_for(0, one_device) == lanes_for(0, None) == 2  # the tests run on the CPU
    assert lanes_for(0, two_devices) == 1
    assert lanes_for(3, two_devices) == 3
