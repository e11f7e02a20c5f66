"""The EFT loss against values worked out by hand, and its slot weights."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax.config import load_config
from eft_jax.fitting.engine import EftEngine  # noqa: F401  (the package imports cleanly)
from eft_jax.fitting.losses import LossSettings, eft_loss
from eft_jax.geometry import weak_perspective

pytestmark = pytest.mark.fast_compiles

ALL_AVAILABLE = np.ones(49, bool)


def test_default_config_is_efts_recipe():
    config = load_config("configs/eft_default.py")
    assert LossSettings.from_config(config.loss) == LossSettings()
    assert config.optimizer.learning_rate == 5e-6 and config.max_iters == 20
    assert config.stop_threshold == 1e-4 and config.trainable == "all"


def test_unknown_loss_setting_is_an_error():
    config = load_config("configs/eft_default.py")
    config.loss.unlock()
    config.loss.keypoint_wieght = 1.0
    with pytest.raises(ValueError, match="keypoint_wieght"):
        LossSettings.from_config(config.loss)


def test_keypoint_weights_switch_off_openpose_hips_ankles_and_unavailable_keypoints():
    weights = LossSettings().keypoint_weights(ALL_AVAILABLE)
    off = set(range(25)) | {25, 27, 28, 30, 39}  # OpenPose, R ankle, LSP hips, L ankle, MPII pelvis
    assert all(weights[i] == 0 for i in off)
    assert all(weights[i] == 1 for i in set(range(49)) - off)
    available = ALL_AVAILABLE.copy()
    available[[37, 38]] = False
    assert LossSettings().keypoint_weights(available)[[37, 38]].tolist() == [0, 0]
    with_everything = LossSettings(
        openpose_weight=0.5, use_hips=True, use_ankles=True
    ).keypoint_weights(ALL_AVAILABLE)
    assert (
        with_everything[:25].tolist() == [0.5] * 25 and with_everything[25:].tolist() == [1.0] * 24
    )


def test_weak_perspective_scales_then_translates():
    points = jnp.array([[[1.0, 2.0, 7.0], [-0.5, 0.25, -3.0]]])
    camera = jnp.array([[2.0, 0.1, -0.3]])
    expected = [[[2.1, 3.7], [-0.9, 0.2]]]
    np.testing.assert_allclose(weak_perspective(points, camera), expected, rtol=1e-6)


def _inputs():
    predicted = np.zeros((49, 2), np.float32)
    keypoints = np.zeros((49, 3), np.float32)
    # A ground-truth slot (31, right wrist) 0.1, 0.2 off with confidence 0.5.
    keypoints[31] = [0.1, 0.2, 0.5]
    # Off in the keypoint term: an OpenPose slot, a hip and an ankle, all far off.
    keypoints[4] = [0.9, 0.9, 1.0]
    keypoints[27] = [0.9, 0.9, 1.0]
    # Left lower leg: target knee (29) -> ankle (30) points along +y, predicted along +x.
    keypoints[29] = [0.0, 0.0, 0.8]
    keypoints[30] = [0.0, 0.5, 0.5]
    predicted[30] = [0.3, 0.0]
    # Right lower leg shorter than 0.0089: no orientation term despite the 90 degree turn.
    keypoints[26] = [0.0, 0.0, 1.0]
    keypoints[25] = [0.0, 0.008, 1.0]
    predicted[25] = [0.3, 0.0]
    betas = np.arange(10, dtype=np.float32) / 10
    camera = np.array([0.2, 0.0, 0.0], np.float32)
    return predicted, keypoints, betas, camera


def test_loss_matches_hand_computation():
    predicted, keypoints, betas, camera = _inputs()
    settings = LossSettings()
    terms = eft_loss(
        *map(jnp.asarray, (predicted, keypoints, betas, camera)),
        jnp.asarray(settings.keypoint_weights(ALL_AVAILABLE)),
        settings,
    )
    keypoint = 0.5 * (0.1**2 + 0.2**2) / 98  # the right wrist only, mean over 49 x 2
    betas_term = sum((i / 10) ** 2 for i in range(10)) / 10
    camera_term = math.exp(-10 * 0.2) ** 2
    leg = 0.8 * 0.5 * (1 - 0.0)  # c_knee c_ankle (1 - cos 90 deg)
    total = 60 * (5 * keypoint + 0.001 * betas_term + camera_term + 0.005 * leg)
    np.testing.assert_allclose(terms.keypoint_loss, keypoint, rtol=1e-6)
    np.testing.assert_allclose(terms.betas, betas_term, rtol=1e-6)
    np.testing.assert_allclose(terms.camera_scale, camera_term, rtol=1e-6)
    np.testing.assert_allclose(terms.leg_orientation, leg, rtol=1e-6)
    np.testing.assert_allclose(terms.total, total, rtol=1e-6)
    # Weighted over the slots in the loss: the wrist (0.5) and both knees (0.8, 1.0, on target).
    np.testing.assert_allclose(
        terms.keypoint_error_px, 0.5 * math.hypot(0.1, 0.2) * 112 / 2.3, rtol=1e-6
    )


def test_leg_term_is_zero_when_directions_agree_and_gradients_are_finite():
    predicted, keypoints, betas, camera = _inputs()
    predicted[30] = [0.0, 0.25]  # same direction as the left target leg, half the length
    predicted[25] = predicted[26]  # a zero-length predicted right leg
    settings = LossSettings()
    weights = jnp.asarray(settings.keypoint_weights(ALL_AVAILABLE))

    def total(p):
        return eft_loss(
            p, jnp.asarray(keypoints), jnp.asarray(betas), jnp.asarray(camera), weights, settings
        ).total

    terms = eft_loss(
        jnp.asarray(predicted),
        jnp.asarray(keypoints),
        jnp.asarray(betas),
        jnp.asarray(camera),
        weights,
        settings,
    )
    np.testing.assert_allclose(terms.leg_orientation, 0.0, atol=1e-7)
    assert np.isfinite(np.asarray(jax.grad(total)(jnp.asarray(predicted)))).all()
