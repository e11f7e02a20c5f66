"""3D pose errors, as SPIN reports them: MPJPE and PA-MPJPE in millimetres over the 14 LSP
joints, both skeletons centred on the midpoint of their hips first.

The LSP-14 joints are SPIN-49 keypoints 25-38 (ankles, knees, hips, wrists, elbows, shoulders, neck,
head top); SPIN's Human3.6M evaluation (eval.py) uses the same 14 joints and the same centring.
"""

from __future__ import annotations

import jax.numpy as jnp

from eft_jax.body.joint_sets import LSP14_IN_SPIN49
from eft_jax.fitting.losses import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
)
from eft_jax.geometry.procrustes import similarity_align


def hip_midpoint(joints_spin49):
    """(..., 1, 3) midpoint of the right and left hip (SPIN-49 keypoints 27, 28)."""
    return jnp.asarray(joints_spin49)[..., (RIGHT_HIP, LEFT_HIP), :].mean(axis=-2, keepdims=True)


def hip_centred(joints_spin49):
    """(..., 49, 3) SPIN-49 joints minus the midpoint of their hips."""
    return jnp.asarray(joints_spin49) - hip_midpoint(joints_spin49)


def joint_errors_mm(predicted, true):
    """(..., J) distances in mm between corresponding points (..., J, 3) given in metres."""
    return 1000.0 * jnp.linalg.norm(jnp.asarray(predicted) - jnp.asarray(true), axis=-1)


def lsp14_hip_centred(joints_spin49):
    """(..., 49, 3) SPIN-49 joints -> (..., 14, 3) LSP-14 joints minus their hip midpoint."""
    return jnp.take(hip_centred(joints_spin49), jnp.asarray(LSP14_IN_SPIN49), axis=-2)


def mpjpe_mm(predicted_spin49, true_spin49):
    """(...,) mean per-joint position error in mm (inputs in metres)."""
    pred, true = lsp14_hip_centred(predicted_spin49), lsp14_hip_centred(true_spin49)
    return joint_errors_mm(pred, true).mean(axis=-1)


def pa_mpjpe_mm(predicted_spin49, true_spin49):
    """(...,) MPJPE in mm after aligning each prediction to its truth by a similarity transform."""
    pred, true = lsp14_hip_centred(predicted_spin49), lsp14_hip_centred(true_spin49)
    return joint_errors_mm(similarity_align(pred, true), true).mean(axis=-1)


# -- beyond MPJPE: surfaces, 2D, facing and left/right ------------------------------------------

# SPIN-49 ground-truth keypoints of the torso corners (LSP order: r hip 27, l hip 28, r shoulder 33,
# l shoulder 34) and the six left/right pairs of LSP-14 limb joints (right, left SPIN-49 indices).
RIGHT_SHOULDER, LEFT_SHOULDER, NECK = 33, 34, 37
LSP14_LIMB_PAIRS = (
    (25, 30),
    (26, 29),
    (27, 28),
    (31, 36),
    (32, 35),
    (33, 34),
)  # ankles knees hips wrists elbows shoulders


def pve_mm(predicted_vertices, true_vertices, predicted_spin49, true_spin49):
    """(...,) per-vertex error in mm: mean distance between corresponding vertices of two meshes
    of the same body model (inputs in metres), each mesh first moved so that the midpoint of its
    own LSP hips (SPIN-49 keypoints 27, 28) is at the origin, as for MPJPE. No rotation alignment."""
    pred = jnp.asarray(predicted_vertices) - hip_midpoint(predicted_spin49)
    true = jnp.asarray(true_vertices) - hip_midpoint(true_spin49)
    return joint_errors_mm(pred, true).mean(axis=-1)


def _angle_deg(a, b):
    cosine = jnp.sum(a * b, axis=-1) / jnp.maximum(
        jnp.linalg.norm(a, axis=-1) * jnp.linalg.norm(b, axis=-1), 1e-12
    )
    return jnp.degrees(jnp.arccos(jnp.clip(cosine, -1.0, 1.0)))


def torso_normal(joints_spin49):
    """(..., 3) unit normal of the torso: leftward x up, where up runs from the hip midpoint to
    the shoulder midpoint and leftward from the right hip + shoulder to the left hip + shoulder.
    For a body in SMPL's frame (y up, left on +x) this is +z, the way it faces."""
    joints = jnp.asarray(joints_spin49)
    hips = joints[..., (RIGHT_HIP, LEFT_HIP), :].mean(axis=-2)
    shoulders = joints[..., (RIGHT_SHOULDER, LEFT_SHOULDER), :].mean(axis=-2)
    leftward = (joints[..., LEFT_HIP, :] + joints[..., LEFT_SHOULDER, :]) - (
        joints[..., RIGHT_HIP, :] + joints[..., RIGHT_SHOULDER, :]
    )
    normal = jnp.cross(leftward, shoulders - hips)
    return normal / jnp.maximum(jnp.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)


def facing_error_deg(predicted_spin49, true_spin49):
    """(...,) angle in degrees between the predicted and the true torso normals (`torso_normal`),
    both in the camera frame (no alignment): 0 when the fit faces the way the person does, 180
    when it faces the opposite way. Over 90 counts as facing the wrong way."""
    return _angle_deg(torso_normal(predicted_spin49), torso_normal(true_spin49))


def left_right_swaps(predicted_spin49, true_spin49):
    """(..., 6) bool: which of the six left/right pairs of LSP-14 limb joints (ankles, knees,
    hips, wrists, elbows, shoulders) the fit has swapped. Both skeletons hip-centred, in the
    camera frame, no rotation alignment; a pair (r, l) is swapped when exchanging the predicted
    joints brings them closer to the truth:
        |p_r - t_l| + |p_l - t_r|  <  |p_r - t_r| + |p_l - t_l|.
    The left/right swap rate of a set of fits is the mean of this over fits and pairs."""
    pred, true = hip_centred(predicted_spin49), hip_centred(true_spin49)
    right, left = (jnp.asarray([pair[i] for pair in LSP14_LIMB_PAIRS]) for i in (0, 1))

    def distance(a, b):
        return jnp.linalg.norm(jnp.take(pred, a, axis=-2) - jnp.take(true, b, axis=-2), axis=-1)

    kept = distance(right, right) + distance(left, left)
    exchanged = distance(right, left) + distance(left, right)
    return exchanged < kept


def posture_deg(joints_spin49) -> dict:
    """How a body stands, from its LSP-14 joints in the camera frame (x right, y down, z away from
    the camera), in degrees; each entry (...,):

    - knee_flexion: angle between thigh and shank, mean of both legs (0: straight legs);
    - hip_flexion: angle between the torso (hip midpoint to neck) and the thighs pointing up, mean
      of both legs (0: legs in line with the torso; ~90 sitting);
    - lean_depth: the torso's tilt in depth, as the side view shows it: 0 upright, positive when
      its top is nearer the camera than its hips;
    - lean_image: the torso's tilt in the image plane (0 upright, positive leaning to the image's
      right)."""
    joints = jnp.asarray(joints_spin49)
    legs = ((RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE), (LEFT_HIP, LEFT_KNEE, LEFT_ANKLE))
    torso = joints[..., NECK, :] - hip_midpoint(joints)[..., 0, :]
    knee = [
        _angle_deg(joints[..., k, :] - joints[..., h, :], joints[..., a, :] - joints[..., k, :])
        for h, k, a in legs
    ]
    hip = [_angle_deg(torso, joints[..., h, :] - joints[..., k, :]) for h, k, _ in legs]
    up = -torso[..., 1]
    return {
        "knee_flexion": (knee[0] + knee[1]) / 2,
        "hip_flexion": (hip[0] + hip[1]) / 2,
        "lean_depth": jnp.degrees(jnp.arctan2(-torso[..., 2], up)),
        "lean_image": jnp.degrees(jnp.arctan2(torso[..., 0], up)),
    }


def posture_errors(predicted_spin49, true_spin49) -> dict:
    """Per body (...,), in degrees, how a fit's posture (`posture_deg`) departs from the truth's:
    knee_error and lean_depth_error / lean_image_error (absolute differences), hip_excess (the
    fit's hip flexion minus the truth's: positive when it bends more at the hips)."""
    pred, true = posture_deg(predicted_spin49), posture_deg(true_spin49)
    return {
        "knee_error": jnp.abs(pred["knee_flexion"] - true["knee_flexion"]),
        "hip_excess": pred["hip_flexion"] - true["hip_flexion"],
        "lean_depth_error": jnp.abs(pred["lean_depth"] - true["lean_depth"]),
        "lean_image_error": jnp.abs(pred["lean_image"] - true["lean_image"]),
    }


def keypoint_error_px(predicted_2d, keypoints, slots=LSP14_IN_SPIN49, crop_size: int = 224):
    """(...,) mean distance in pixels of a `crop_size` crop between predicted 2D keypoints
    (..., 49, 2) and the target keypoints (..., 49, 3: x, y in [-1, 1], confidence) over the
    given SPIN-49 keypoints (default LSP-14) where the confidence is positive; NaN where none is."""
    keypoints = jnp.asarray(keypoints)
    index = jnp.asarray(slots)
    predicted = jnp.take(jnp.asarray(predicted_2d), index, axis=-2)
    target = jnp.take(keypoints, index, axis=-2)
    visible = (target[..., 2] > 0).astype(predicted.dtype)
    distance = jnp.linalg.norm(predicted - target[..., :2], axis=-1) * (crop_size / 2)
    count = visible.sum(axis=-1)
    return jnp.where(count > 0, (visible * distance).sum(axis=-1) / jnp.maximum(count, 1), jnp.nan)
