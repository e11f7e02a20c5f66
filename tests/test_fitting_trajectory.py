"""SequentialEft.trajectory: the same fit as SequentialEft.fit, plus the predictions along the way.

A tiny regressor (ResNet-18 at 1/16 width) on 32 px crops and the bundled body model keep it
fast; targets are the regressor's own initial keypoints plus noise, small enough to stop after a
few passes or large enough to run to max_iters."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from tiny_eft import IMAGE_SIZE, PREDICTION_FIELDS, assert_results_identical, eft_config, exemplar, initial_keypoints

from eft_jax import body, fitting
from eft_jax.geometry import rotmat_to_axis_angle, weak_perspective

MAX_ITERS = 6
OVERRIDES = [f"max_iters={MAX_ITERS}", "stop_threshold=7e-4"]
# Target noise of the three exemplars: with this learning rate and threshold (calibrated, margins
# of 8 % or more) they stop after 1, 3 and 6 (max_iters) forward passes.
NOISES = (0.0, 0.05, 0.2)


def make_eft(setup, overrides=()):
    regressor, variables, model = setup
    return fitting.SequentialEft(regressor, variables, model, eft_config(OVERRIDES + list(overrides)), image_size=IMAGE_SIZE)


@pytest.fixture(scope="module")
def setup(tiny_regressor):
    return tiny_regressor


@pytest.fixture(scope="module")
def eft(setup):
    return make_eft(setup)


@pytest.fixture(scope="module")
def exemplars(setup):
    """{noise: exemplar}: targets at the regressor's initial keypoints plus noise of that size."""
    predict = initial_keypoints(*setup)
    out = {}
    for i, noise in enumerate(NOISES):
        rng = np.random.default_rng(i)
        image = rng.normal(size=(IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
        out[noise] = exemplar(f"ex{i}", image, np.asarray(predict(image)) + rng.normal(size=(49, 2)) * noise)
    return out


@pytest.fixture(scope="module")
def long_exemplar(eft, exemplars):
    exemplar = exemplars[0.2]
    assert eft.fit(exemplar).stop_reason == "max_iters"
    return exemplar


def assert_prediction_equal(point, result):
    for name in PREDICTION_FIELDS:
        assert np.array_equal(getattr(point.prediction, name), getattr(result, name)), name
    assert point.keypoint_loss == result.keypoint_loss_after
    assert point.keypoint_error_px == result.keypoint_error_px_after


def test_trajectory_result_is_fit_result(eft, exemplars):
    stops = set()
    for exemplar in exemplars.values():
        expected = eft.fit(exemplar)
        stops.add((expected.stop_reason, expected.iterations))
        assert_results_identical(eft.trajectory(exemplar).result, expected)
    assert stops == {("converged", 1), ("converged", 3), ("max_iters", MAX_ITERS)}


def test_points_stop_where_the_fit_stops(eft, exemplars, long_exemplar):
    # max_iters=6 runs passes after 0..5 updates: 10 is never reached.
    trajectory = eft.trajectory(long_exemplar, record=(10, 5, 0, 2, 1, 2))
    assert [p.updates for p in trajectory.points] == [0, 1, 2, 5]
    assert_prediction_equal(trajectory.points[-1], trajectory.result)

    for exemplar in exemplars.values():
        trajectory = eft.trajectory(exemplar, record=range(MAX_ITERS + 3))
        result = trajectory.result
        assert [p.updates for p in trajectory.points] == list(range(result.iterations))
        # The kept prediction is the last pass's; the first pass gives the "before" numbers.
        assert_prediction_equal(trajectory.points[-1], result)
        assert trajectory.points[0].keypoint_loss == result.keypoint_loss_before
        assert trajectory.points[0].keypoint_error_px == result.keypoint_error_px_before


def test_point_zero_is_the_base_regressor_output(setup, eft, exemplars):
    regressor, variables, model = setup
    exemplar = exemplars[0.05]
    point = eft.trajectory(exemplar, record=(0,)).points[0]
    assert point.updates == 0
    out = regressor.apply(variables, jnp.asarray(exemplar.image)[None], train=False)
    rotmats, betas, camera = out.rotmats[0], out.betas[0], out.camera[0]
    expected = {
        "rotmats": rotmats,
        "pose_axis_angle": rotmat_to_axis_angle(rotmats),
        "betas": betas,
        "camera": camera,
        "keypoints_2d": weak_perspective(body.forward(model, rotmats, betas).spin49, camera),
    }
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(point.prediction, name), value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_recorded_point_matches_a_shorter_fit(setup, eft, long_exemplar):
    # A fit with max_iters=k+1 that does not converge keeps the prediction after k updates.
    k = 3
    trajectory = eft.trajectory(long_exemplar, record=(0, 1, k))
    assert trajectory.points[-1].updates == k
    shorter = make_eft(setup, [f"max_iters={k + 1}"]).fit(long_exemplar)
    assert (shorter.stop_reason, shorter.iterations) == ("max_iters", k + 1)
    assert_prediction_equal(trajectory.points[-1], shorter)
    # ... and the fit moved: the point differs from the one before the updates.
    assert not np.allclose(trajectory.points[0].prediction.keypoints_2d, shorter.keypoints_2d, atol=1e-4)


def test_skipped_exemplar_has_no_points(eft, exemplars):
    good = exemplars[0.05]
    blank = fitting.Exemplar("blank", np.zeros_like(good.image), good.keypoints)
    trajectory = eft.trajectory(blank)
    assert trajectory.points == []
    assert trajectory.result.skipped
    assert_results_identical(trajectory.result, eft.fit(blank))


def test_negative_record_is_rejected(eft, exemplars):
    with pytest.raises(ValueError, match="negative"):
        eft.trajectory(exemplars[0.0], record=(0, -1))


def test_the_engine_records_the_same_points_in_one_run(setup, eft, exemplars):
    """fit_stream(record=..., on_point=...) hands out the points SequentialEft.trajectory records
    (equal up to float32 reassociation), for the recorded exemplars only, in the same run."""
    regressor, variables, model = setup
    engine = fitting.EftEngine(regressor, variables, model, eft_config(OVERRIDES + ["batch_size=2"]), image_size=IMAGE_SIZE)
    wanted = (0, 2, 5, 10)
    recorded = {}
    chosen = [exemplars[0.05], exemplars[0.2]]
    results = list(
        fitting.fit_stream(
            exemplars.values(), engine, record={e.id: wanted for e in chosen},
            on_point=lambda exemplar_id, point: recorded.setdefault(exemplar_id, []).append(point),
        )
    )  # fmt: skip
    assert len(results) == 3 and set(recorded) == {e.id for e in chosen}
    for exemplar in chosen:
        expected = eft.trajectory(exemplar, record=wanted).points
        points = recorded[exemplar.id]
        assert [p.updates for p in points] == [p.updates for p in expected]
        for point, reference in zip(points, expected):
            for name in PREDICTION_FIELDS:
                a, e = getattr(point.prediction, name), getattr(reference.prediction, name)
                np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5 * np.abs(e).max(), err_msg=name)
            np.testing.assert_allclose(point.keypoint_loss, reference.keypoint_loss, rtol=1e-5)
