"""The left/right mirror of a SMPL pose: the pose of the body reflected through x -> -x.

Reflecting the body conjugates every joint rotation R by D = diag(-1, 1, 1) (D R D; an axis-angle
(x, y, z) becomes (x, -y, -z)) and exchanges left and right joints (`joint_sets.SMPL_MIRROR`).
This is exact for a left/right symmetric body; the bundled body is nearly so.
"""

from __future__ import annotations

import numpy as np

from eft_jax.body.joint_sets import SMPL_MIRROR

_REFLECT_X = np.diag([-1.0, 1.0, 1.0]).astype(np.float32)


def mirror_pose(pose) -> np.ndarray:
    """Mirror of axis-angle pose(s) (..., 24, 3): left/right joints exchanged, y and z negated."""
    pose = np.asarray(pose)
    mirrored = pose[..., SMPL_MIRROR, :].copy()
    mirrored[..., 1:] *= -1
    return mirrored


def mirror_rotmats(rotmats) -> np.ndarray:
    """Mirror of rotation-matrix pose(s) (..., 24, 3, 3): D R D per joint, left/right exchanged."""
    rotmats = np.asarray(rotmats)[..., SMPL_MIRROR, :, :]
    return _REFLECT_X @ rotmats @ _REFLECT_X
