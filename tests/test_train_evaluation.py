"""The evaluator's metrics: PA-MPJPE against scipy's orthogonal Procrustes, and PVE, facing error,
left/right swaps and 2D error on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from eft_jax.eval import metrics
from eft_jax.eval.metrics import LSP14_IN_SPIN49, lsp14_hip_centred

pytestmark = pytest.mark.fast_compiles


def skeleton(seed=0):
    """A (49, 3) SPIN-49 skeleton facing -z: x right, y down (the camera frame of an upright body
    facing the camera): left limbs at -x... built from LSP-14 positions plus noise elsewhere."""
    rng = np.random.default_rng(seed)
    joints = rng.normal(scale=0.3, size=(49, 3))
    # torso corners of a body facing the camera (-z), y down: its left side on the image's right (+x)
    joints[27] = (-0.1, 0.0, 0.0)  # right hip
    joints[28] = (0.1, 0.0, 0.0)  # left hip
    joints[33] = (-0.2, -0.5, 0.0)  # right shoulder
    joints[34] = (0.2, -0.5, 0.0)  # left shoulder
    return joints


def scipy_pa_mpjpe(pred, true):
    x, y = (
        np.asarray(lsp14_hip_centred(pred), np.float64),
        np.asarray(lsp14_hip_centred(true), np.float64),
    )
    mx, my = x.mean(0), y.mean(0)
    x0, y0 = x - mx, y - my
    rotation, singular_sum = orthogonal_procrustes(x0, y0)  # argmin |x0 R - y0|, R orthogonal
    assert np.linalg.det(rotation) > 0  # the cases below have a proper rotation as optimum
    aligned = singular_sum / np.sum(x0**2) * x0 @ rotation + my
    return 1000 * np.linalg.norm(aligned - y, axis=-1).mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pa_mpjpe_matches_scipy_orthogonal_procrustes(seed):
    rng = np.random.default_rng(seed)
    true = skeleton(seed)
    rotation = Rotation.random(random_state=seed).as_matrix()
    pred = 1.3 * true @ rotation.T + rng.normal(size=3) + rng.normal(scale=0.03, size=true.shape)
    expected = scipy_pa_mpjpe(pred, true)
    assert expected > 5  # the noise leaves a real residual
    np.testing.assert_allclose(float(metrics.pa_mpjpe_mm(pred, true)), expected, rtol=1e-4)
    # MPJPE sees the rotation and scale that PA-MPJPE removes
    assert float(metrics.mpjpe_mm(pred, true)) > 3 * expected


def test_pve_centres_each_mesh_on_its_own_hips():
    rng = np.random.default_rng(0)
    joints = skeleton()
    vertices = rng.normal(size=(50, 3))
    shift = np.array([1.0, -2.0, 0.5])
    assert float(
        metrics.pve_mm(vertices + shift, vertices, joints + shift, joints)
    ) == pytest.approx(0, abs=1e-3)
    moved = vertices.copy()
    moved[:10] += (0.0, 0.0, 0.05)  # 10 of 50 vertices 5 cm off: 10 mm on average
    assert float(metrics.pve_mm(moved, vertices, joints, joints)) == pytest.approx(10.0, rel=1e-4)


def test_facing_error_by_hand():
    joints = skeleton()
    # y down, left on +x, up = -y: normal = leftward x up = (+x) x (-y) = -z, towards the camera
    np.testing.assert_allclose(np.asarray(metrics.torso_normal(joints)), (0, 0, -1), atol=1e-6)
    assert float(metrics.facing_error_deg(joints, joints)) == pytest.approx(0, abs=1e-3)
    for degrees in (30, 90, 180):
        turn = Rotation.from_euler("y", degrees, degrees=True).as_matrix()
        assert float(metrics.facing_error_deg(joints @ turn.T, joints)) == pytest.approx(
            degrees, abs=1e-2
        )
    # a mirror image (x -> -x, labels kept) faces the other way too
    assert float(metrics.facing_error_deg(joints * (-1, 1, 1), joints)) == pytest.approx(
        180, abs=1e-2
    )


def test_left_right_swaps_by_hand():
    joints = skeleton()
    for right, left in metrics.LSP14_LIMB_PAIRS:  # limbs well apart from their counterparts
        joints[right] = (-0.3, 0.3 * right / 30, 0.0)
        joints[left] = (0.3, 0.3 * right / 30, 0.0)
    assert not np.asarray(metrics.left_right_swaps(joints, joints)).any()
    swapped = joints.copy()
    swapped[[26, 29]] = joints[[29, 26]]  # knees exchanged
    np.testing.assert_array_equal(
        np.asarray(metrics.left_right_swaps(swapped, joints)), [0, 1, 0, 0, 0, 0]
    )
    # a body turned 180 degrees about the vertical: every pair lies on the other side
    turned = joints * (-1, 1, -1)
    assert np.asarray(metrics.left_right_swaps(turned, joints)).all()


def test_keypoint_error_px_over_visible_lsp14():
    target = np.zeros((49, 3), np.float32)
    target[list(LSP14_IN_SPIN49), 2] = 1.0
    target[25, 2] = 0.0  # right ankle invisible: ignored even though far off
    predicted = np.zeros((49, 2), np.float32)
    predicted[25] = (1.0, 1.0)
    predicted[26] = (13 * 2 / 224, 0.0)  # right knee 13 px off at 224; 12 other visible at 0
    predicted[0] = (1.0, 1.0)  # an OpenPose slot: not in LSP-14
    assert float(metrics.keypoint_error_px(predicted, target)) == pytest.approx(1.0, rel=1e-5)
    target[:, 2] = 0
    assert np.isnan(float(metrics.keypoint_error_px(predicted, target)))
