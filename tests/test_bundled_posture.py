"""The bundled regressor draws people who walk upright as upright, not crouching or leaning in
depth (experiments/posture_check/ has the full table), and `posture_deg` measures what it says."""

import jax
import numpy as np
import pytest

from eft_jax import body, nets
from eft_jax.body.named_poses import named_pose
from eft_jax.datasets.synthetic import make_walkers
from eft_jax.eval.metrics import posture_deg, posture_errors
from eft_jax.geometry.crops import normalize_image

pytestmark = pytest.mark.fast_compiles

# Medians on these 24 walkers: 10.6° / 0.5° / 2.4° (the first bundled regressor: 34.0° / 54.9° / 14.9°).
KNEE_TOLERANCE, HIP_TOLERANCE, LEAN_TOLERANCE = 15.0, 15.0, 8.0


def _spin49(pose):
    model = body.joints_model(body.load())
    return np.asarray(
        body.forward_joints(
            model, np.asarray(pose, np.float32)[None], np.zeros((1, 10), np.float32)
        ).spin49
    )


def _upright(joints):
    """SMPL's frame (y up) -> the camera's (y down, facing the camera): a π turn about x."""
    return joints * np.asarray([1.0, -1.0, -1.0], np.float32)


def test_posture_of_named_poses():
    """Straight legs read ~11° at the knee: the joints sit off the bones' axis in the rest pose."""
    standing = posture_deg(_upright(_spin49(named_pose("a_pose"))))
    sitting = posture_deg(_upright(_spin49(named_pose("sitting"))))
    assert float(standing["knee_flexion"][0]) < 15 and float(standing["hip_flexion"][0]) < 15
    assert abs(float(standing["lean_depth"][0])) < 10 and abs(float(standing["lean_image"][0])) < 5
    assert float(sitting["knee_flexion"][0]) > 70 and float(sitting["hip_flexion"][0]) > 70


def test_lean_depth_sign():
    """Tipping the body's top towards the camera (-z in the camera frame) is a positive lean."""
    joints = _upright(_spin49(named_pose("a_pose")))[0]
    angle = np.radians(30.0)
    towards = np.asarray(
        [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]],
        np.float32,
    )
    tipped = joints @ towards.T
    assert float(posture_deg(tipped)["lean_depth"]) == pytest.approx(
        30.0 + float(posture_deg(joints)["lean_depth"]), abs=1.0
    )


def test_bundled_regressor_draws_walkers_upright():
    restored = nets.bundled_regressor()
    data = make_walkers(24, crop_size=nets.trained_crop_size(restored.record))
    # jitted: one compile instead of the network op by op
    out = jax.jit(restored.regressor.apply)(restored.variables, normalize_image(data["image"]))
    predicted = body.forward_joints(body.joints_model(body.load()), out.rotmats, out.betas).spin49
    errors = {
        k: np.median(np.asarray(v))
        for k, v in posture_errors(predicted, data["joints3d_spin49"]).items()
    }
    assert errors["knee_error"] < KNEE_TOLERANCE
    assert errors["hip_excess"] < HIP_TOLERANCE
    assert errors["lean_depth_error"] < LEAN_TOLERANCE
