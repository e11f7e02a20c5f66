"""A few named postures as SMPL axis-angle poses (24 x 3, root first).

SMPL's frame: y up, the body faces +z, its left is +x. At the zero pose (a T-pose) every joint
frame is aligned with these axes, so e.g. a rotation about +z lowers the right arm (along -x)
and raises the left one (along +x).
"""

from __future__ import annotations

import numpy as np

from eft_jax.body.joint_sets import SMPL_JOINT_NAMES


def _pose(**rotations) -> np.ndarray:
    pose = np.zeros((24, 3), np.float32)
    for joint, axis_angle in rotations.items():
        pose[SMPL_JOINT_NAMES.index(joint)] = axis_angle
    return pose


NAMED_POSES = {
    "t_pose": _pose(),
    "a_pose": _pose(left_shoulder=(0, 0, -0.8), right_shoulder=(0, 0, 0.8)),
    "arms_raised": _pose(left_shoulder=(0, 0, 1.2), right_shoulder=(0, 0, -1.2)),
    "walking": _pose(
        left_hip=(-0.5, 0, 0),
        right_hip=(0.35, 0, 0),
        left_knee=(0.3, 0, 0),
        right_knee=(0.7, 0, 0),
        left_shoulder=(0, 0, -1.2),
        right_shoulder=(0, 0, 1.2),
        left_elbow=(0, -0.5, 0),
        right_elbow=(0, 0.5, 0),
    ),
    "sitting": _pose(
        left_hip=(-1.5, 0, 0),
        right_hip=(-1.5, 0, 0),
        left_knee=(1.5, 0, 0),
        right_knee=(1.5, 0, 0),
        left_shoulder=(0, 0, -1.1),
        right_shoulder=(0, 0, 1.1),
    ),
    "torso_twist": _pose(
        spine1=(0, 0.3, 0),
        spine2=(0, 0.3, 0),
        spine3=(0, 0.3, 0),
        neck=(0, -0.4, 0),
        left_shoulder=(0, 0, -0.6),
        right_shoulder=(0, 0, 0.6),
    ),
}


def named_pose(name: str) -> np.ndarray:
    if name not in NAMED_POSES:
        raise KeyError(f"unknown pose {name!r}; known: {', '.join(NAMED_POSES)}")
    return NAMED_POSES[name].copy()
