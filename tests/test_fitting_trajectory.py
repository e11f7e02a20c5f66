"""SequentialEft.trajectory: the same fit as SequentialEft.fit, plus the predictions along the way.

The setup is the engine tests' (conftest's `calibrated_eft`): a tiny regressor on 32 px crops, the
bundled body model, exemplars whose targets are the regressor's own initial keypoints plus noise,
and a stop threshold at which their fits stop after different numbers of passes."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from tiny_eft import IMAGE_SIZE, PREDICTION_FIELDS, assert_results_identical

from eft_jax import body, fitting
from eft_jax.geometry import rotmat_to_axis_angle, weak_perspective

pytestmark = pytest.mark.fast_compiles


@pytest.fixture(scope="module")
def setup(calibrated_eft):
    """(regressor, variables, body model, calibrated EFT config)."""
    return calibrated_eft[:4]


def make_eft(setup, max_iters=None):
    regressor, variables, model, config = setup
    if max_iters is not None:
        config = config.copy_and_resolve_references()
        config.max_iters = max_iters
    return fitting.SequentialEft(regressor, variables, model, config, crop_size=IMAGE_SIZE)


@pytest.fixture(scope="module")
def eft(setup):
    return make_eft(setup)


@pytest.fixture(scope="module")
def results(calibrated_eft, eft):
    """{exemplar id: (exemplar, its fit)}."""
    return {e.id: (e, eft.fit(e)) for e in calibrated_eft[4]}


@pytest.fixture(scope="module")
def exemplars(results):
    return [exemplar for exemplar, _ in results.values()]


@pytest.fixture(scope="module")
def long_exemplar(results):
    """An exemplar whose fit runs to max_iters."""
    return next(exemplar for exemplar, fit in results.values() if fit.stop_reason == "max_iters")


@pytest.fixture(scope="module")
def converging_exemplar(results):
    """An exemplar whose fit converges after more than one pass."""
    return next(
        exemplar
        for exemplar, fit in results.values()
        if fit.stop_reason == "converged" and fit.iterations > 1
    )


def assert_prediction_equal(point, result):
    for name in PREDICTION_FIELDS:
        assert np.array_equal(getattr(point.prediction, name), getattr(result, name)), name
    assert point.keypoint_loss == result.keypoint_loss_after
    assert point.keypoint_error_px == result.keypoint_error_px_after


def test_trajectory_result_is_fit_result(eft, results):
    for exemplar, expected in results.values():
        assert_results_identical(eft.trajectory(exemplar).result, expected)
    assert len({fit.iterations for _, fit in results.values()}) >= 3


def test_points_stop_where_the_fit_stops(eft, exemplars, long_exemplar):
    # max_iters=6 runs passes after 0..5 updates: 10 is never reached.
    assert eft.config.max_iters == 6
    trajectory = eft.trajectory(long_exemplar, record=(10, 5, 0, 2, 1, 2))
    assert [p.updates for p in trajectory.points] == [0, 1, 2, 5]
    assert_prediction_equal(trajectory.points[-1], trajectory.result)

    for exemplar in exemplars:
        trajectory = eft.trajectory(exemplar, record=range(eft.config.max_iters + 3))
        result = trajectory.result
        assert [p.updates for p in trajectory.points] == list(range(result.iterations))
        # The kept prediction is the last pass's; the first pass gives the "before" numbers.
        assert_prediction_equal(trajectory.points[-1], result)
        assert trajectory.points[0].keypoint_loss == result.keypoint_loss_before
        assert trajectory.points[0].keypoint_error_px == result.keypoint_error_px_before


def test_point_zero_is_the_base_regressor_output(setup, eft, converging_exemplar):
    regressor, variables, model, _ = setup
    exemplar = converging_exemplar
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
        np.testing.assert_allclose(
            getattr(point.prediction, name), value, rtol=1e-5, atol=1e-6, err_msg=name
        )


def test_recorded_point_matches_a_shorter_fit(setup, eft, long_exemplar):
    # A fit with max_iters=k+1 that does not converge keeps the prediction after k updates.
    k = 3
    trajectory = eft.trajectory(long_exemplar, record=(0, 1, k))
    assert trajectory.points[-1].updates == k
    shorter = make_eft(setup, max_iters=k + 1).fit(long_exemplar)
    assert (shorter.stop_reason, shorter.iterations) == ("max_iters", k + 1)
    assert_prediction_equal(trajectory.points[-1], shorter)
    # ... and the fit moved: the point differs from the one before the updates.
    assert not np.allclose(
        trajectory.points[0].prediction.keypoints_2d, shorter.keypoints_2d, atol=1e-4
    )


def test_skipped_exemplar_has_no_points(eft, converging_exemplar):
    good = converging_exemplar
    blank = fitting.Exemplar("blank", np.zeros_like(good.image), good.keypoints)
    trajectory = eft.trajectory(blank)
    assert trajectory.points == []
    assert trajectory.result.skipped
    assert_results_identical(trajectory.result, eft.fit(blank))


def test_negative_record_is_rejected(eft, exemplars):
    with pytest.raises(ValueError, match="negative"):
        eft.trajectory(exemplars[0], record=(0, -1))


def test_the_engine_records_the_same_points_in_one_run(
    setup, eft, exemplars, converging_exemplar, long_exemplar
):
    """fit_stream(record=..., on_point=...) hands out the points SequentialEft.trajectory records
    (equal up to float32 reassociation), for the recorded exemplars only, in the same run."""
    regressor, variables, model, config = setup
    # The engine tests' engine (4 slots, so the last exemplars reuse slots): its compiled step
    # comes from the test run's compilation cache.
    engine = fitting.EftEngine(regressor, variables, model, config, crop_size=IMAGE_SIZE)
    assert engine.batch_size < len(exemplars)
    wanted = (0, 2, 5, 10)
    recorded = {}
    chosen = [converging_exemplar, long_exemplar]
    results = list(
        fitting.fit_stream(
            exemplars,
            engine,
            record={e.id: wanted for e in chosen},
            on_point=lambda exemplar_id, point: recorded.setdefault(exemplar_id, []).append(point),
        )
    )
    assert len(results) == len(exemplars) and set(recorded) == {e.id for e in chosen}
    for exemplar in chosen:
        expected = eft.trajectory(exemplar, record=wanted).points
        points = recorded[exemplar.id]
        assert [p.updates for p in points] == [p.updates for p in expected]
        for point, reference in zip(points, expected):
            for name in PREDICTION_FIELDS:
                a, e = getattr(point.prediction, name), getattr(reference.prediction, name)
                np.testing.assert_allclose(
                    a, e, rtol=1e-5, atol=1e-5 * np.abs(e).max(), err_msg=name
                )
            np.testing.assert_allclose(point.keypoint_loss, reference.keypoint_loss, rtol=1e-5)
