"""Geometry: rotation representations, the weak-perspective crop camera, Procrustes alignment."""

from eft_jax.geometry.cameras import (
    CROP_SIZE,
    SPIN_FOCAL_LENGTH,
    perspective_to_weak,
    weak_perspective,
    weak_to_perspective_translation,
)
from eft_jax.geometry.procrustes import similarity_align
from eft_jax.geometry.rotations import (
    axis_angle_to_quaternion,
    axis_angle_to_rotmat,
    quaternion_to_axis_angle,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_quaternion,
    rotmat_to_rot6d,
    skew,
)

__all__ = [
    "CROP_SIZE",
    "SPIN_FOCAL_LENGTH",
    "axis_angle_to_quaternion",
    "axis_angle_to_rotmat",
    "perspective_to_weak",
    "quaternion_to_axis_angle",
    "rot6d_to_rotmat",
    "rotmat_to_axis_angle",
    "rotmat_to_quaternion",
    "rotmat_to_rot6d",
    "similarity_align",
    "skew",
    "weak_perspective",
    "weak_to_perspective_translation",
]
