"""The one setup of the EFT engine and trajectory tests: a tiny regressor, EFT configs, exemplars
whose targets are near the regressor's own first prediction, a stop threshold calibrated on them,
and the two ways two fits are compared (identical bit for bit, or close).

A ResNet-18 at 1/16 width on 32 px crops and the bundled body model keep the tests fast. The
learning rate is large enough for the untrained regressor to move within a few steps. Used by the
fixtures of tests/conftest.py, and by scripts that run in a subprocess (test_fitting_sharding).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body, fitting
from eft_jax.config import default_config_path, load_config
from eft_jax.fitting.objective import exemplar_loss
from eft_jax.nets import Regressor, RegressorArch

IMAGE_SIZE = 32
LEARNING_RATE = "optimizer.learning_rate=3e-4"
PREDICTION_FIELDS = ("rotmats", "pose_axis_angle", "betas", "camera", "keypoints_2d")
LOSS_FIELDS = (
    "keypoint_loss_before",
    "keypoint_loss_after",
    "keypoint_error_px_before",
    "keypoint_error_px_after",
)


def tiny_regressor():
    """(regressor, variables, bundled body model)."""
    regressor = Regressor(RegressorArch.reduced(18, 16))
    return regressor, regressor.init(jax.random.key(0), IMAGE_SIZE), body.load()


def eft_config(overrides=()):
    """configs/eft_default.py with the tiny regressor's learning rate, one lane (results in a
    fixed completion order; tests/test_fitting_lanes.py runs several) and `overrides`."""
    return load_config(default_config_path("eft_default"), [LEARNING_RATE, "lanes=1", *overrides])


def initial_keypoints(regressor, variables, model):
    """image -> the regressor's own SPIN-49 keypoints before any EFT update (jitted). Tests put
    their targets at these plus noise: small noise stops EFT at once, large runs to max_iters."""
    reference = fitting.SequentialEft(
        regressor, variables, model, eft_config(), crop_size=IMAGE_SIZE
    )
    return jax.jit(
        lambda image: (
            exemplar_loss(
                reference.base,
                reference.frozen,
                image,
                jnp.zeros((49, 3)),
                regressor=regressor,
                settings=fitting.LossSettings(),
            )[1][1].keypoints_2d
        )
    )


def exemplar(exemplar_id, image, target):
    """An Exemplar with (49, 2) `target` keypoints, every one at confidence 1."""
    keypoints = np.concatenate([target, np.ones((49, 1))], axis=-1).astype(np.float32)
    return fitting.Exemplar(exemplar_id, image, keypoints)


def assert_results_identical(actual, expected):
    """Every field of two FitResults (or two dataclasses of arrays) equal, bit for bit."""
    for field in dataclasses.fields(expected):
        a, e = getattr(actual, field.name), getattr(expected, field.name)
        if isinstance(e, np.ndarray):
            assert np.array_equal(a, e), f"{getattr(expected, 'id', '')}.{field.name}"
        else:
            assert a == e, f"{getattr(expected, 'id', '')}.{field.name}"


def assert_results_close(actual, expected, rtol=1e-5):
    """Same stop and iterations; predictions and losses equal to `rtol` (float32 reassociation)."""
    assert actual.id == expected.id
    assert (actual.stop_reason, actual.iterations) == (expected.stop_reason, expected.iterations), (
        actual.id
    )
    for name in PREDICTION_FIELDS:
        a, e = getattr(actual, name), getattr(expected, name)
        np.testing.assert_allclose(
            a, e, rtol=rtol, atol=rtol * np.abs(e).max(), err_msg=f"{actual.id}.{name}"
        )
    for name in LOSS_FIELDS:
        np.testing.assert_allclose(
            getattr(actual, name), getattr(expected, name), rtol=rtol, err_msg=f"{actual.id}.{name}"
        )


OVERRIDES = ["max_iters=6", "stop_threshold=2.05e-3", "batch_size=4"]
MIN_MARGIN = 0.02  # least relative distance between the calibrated threshold and a compared loss


def tiny_exemplars(regressor, variables, model, count=7):
    """Exemplars whose targets are the regressor's own initial keypoints plus noise of growing
    size, so the first stop at once and the last run to max_iters."""
    predict = initial_keypoints(regressor, variables, model)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(count, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    targets = []
    for i in range(count):
        start = np.asarray(predict(images[i]))
        targets.append(start + rng.normal(size=start.shape) * 0.03 * (i + 1))
    return [exemplar(f"ex{i}", images[i], targets[i]) for i in range(count)]


def calibrated_config(regressor, variables, model, exemplars, overrides=OVERRIDES):
    """`eft_config(overrides)` with a stop threshold at which the sequential fits of `exemplars`
    stop after at least three different numbers of passes, some converged and some at max_iters,
    and which is at least MIN_MARGIN (relative) away from every loss a fit compares with it.

    The threshold comes from this JAX / XLA's own losses (one run of every exemplar to max_iters)
    instead of being written down: another version that rounds differently, or draws other initial
    weights, gets a threshold with the same margin, and float32 reassociation (~1e-6 relative)
    cannot move a stop."""
    probe = eft_config([*overrides, "stop_threshold=0.0"])  # never converges: every pass is run
    max_iters = int(probe.max_iters)
    reference = fitting.SequentialEft(regressor, variables, model, probe, crop_size=IMAGE_SIZE)
    losses = [
        [p.keypoint_loss for p in reference.trajectory(e, record=range(max_iters)).points]
        for e in exemplars
    ]

    def passes(threshold):
        """Passes each fit runs: the first whose loss is under the threshold, else max_iters."""
        return [
            next((k + 1 for k, loss in enumerate(seq) if loss < threshold), max_iters)
            for seq in losses
        ]

    def quality(threshold):
        stops = passes(threshold)
        converged = {n for n, seq in zip(stops, losses) if seq[n - 1] < threshold}
        at_max_iters = any(seq[n - 1] >= threshold for n, seq in zip(stops, losses))
        margin = min(
            abs(math.log(loss / threshold)) for n, seq in zip(stops, losses) for loss in seq[:n]
        )
        return (bool(converged) and at_max_iters and len(set(stops)) >= 3, margin)

    values = sorted({loss for seq in losses for loss in seq})
    candidates = [math.sqrt(a * b) for a, b in zip(values, values[1:])]
    best = max(candidates, key=quality)
    usable, margin = quality(best)
    assert usable and margin >= math.log1p(MIN_MARGIN), (
        f"no stop threshold splits these fits; losses {losses}"
    )
    return eft_config([*overrides, f"stop_threshold={best!r}"])
