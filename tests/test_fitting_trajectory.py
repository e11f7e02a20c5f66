"""SequentialEft.trajectory: the same fit as SequentialEft.fit, plus the predictions along the way.

A tiny regressor (ResNet-18 at 1/16 width) on 32 px crops and the bundled body model keep it
fast; targets are the regressor's own initial keypoints plus noise, small enough to stop after a
few passes or large enough to run to max_iters."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax import body, fitting
from eft_jax.config import load_config
from eft_jax.fitting.objective import exemplar_loss
from eft_jax.geometry import rotmat_to_axis_angle, weak_perspective
from eft_jax.nets import Regressor, RegressorArch

IMAGE_SIZE = 32
MAX_ITERS = 6
OVERRIDES = ["optimizer.learning_rate=3e-4", f"max_iters={MAX_ITERS}", "stop_threshold=7e-4"]
# Target noise of the three exemplars: with this learning rate and threshold (calibrated, margins
# of 8 % or more) they stop after 1, 3 and 6 (max_iters) forward passes.
NOISES = (0.0, 0.05, 0.2)
PREDICTION_FIELDS = ("rotmats", "pose_axis_angle", "betas", "camera", "keypoints_2d")


def make_eft(setup, overrides=()):
    regressor, variables, model = setup
    config = load_config("configs/eft_default.py", OVERRIDES + list(overrides))
    return fitting.SequentialEft(regressor, variables, model, config, image_size=IMAGE_SIZE)


@pytest.fixture(scope="module")
def setup():
    regressor = Regressor(RegressorArch.reduced(18, 16))
    return regressor, regressor.init(jax.random.key(0), IMAGE_SIZE), body.load()


@pytest.fixture(scope="module")
def eft(setup):
    return make_eft(setup)


@pytest.fixture(scope="module")
def exemplars(setup, eft):
    """{noise: exemplar}: targets at the regressor's initial keypoints plus noise of that size."""
    regressor = setup[0]
    predict = jax.jit(
        lambda image: exemplar_loss(
            eft.base, eft.frozen, image, jnp.zeros((49, 3)), regressor=regressor, settings=fitting.LossSettings()
        )[1][1].keypoints_2d
    )
    out = {}
    for i, noise in enumerate(NOISES):
        rng = np.random.default_rng(i)
        image = rng.normal(size=(IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
        target = np.asarray(predict(image)) + rng.normal(size=(49, 2)) * noise
        keypoints = np.concatenate([target, np.ones((49, 1))], axis=-1).astype(np.float32)
        out[noise] = fitting.Exemplar(f"ex{i}", image, keypoints)
    return out


@pytest.fixture(scope="module")
def long_exemplar(eft, exemplars):
    exemplar = exemplars[0.2]
    assert eft.fit(exemplar).stop_reason == "max_iters"
    return exemplar


def assert_identical(actual, expected):
    for field in dataclasses.fields(expected):
        a, e = getattr(actual, field.name), getattr(expected, field.name)
        if isinstance(e, np.ndarray):
            assert np.array_equal(a, e), field.name
        else:
            assert a == e, field.name


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
        assert_identical(eft.trajectory(exemplar).result, expected)
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
    assert_identical(trajectory.result, eft.fit(blank))


def test_negative_record_is_rejected(eft, exemplars):
    with pytest.raises(ValueError, match="negative"):
        eft.trajectory(exemplars[0.0], record=(0, -1))
