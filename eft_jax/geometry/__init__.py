"""Geometry: rotation representations and the weak-perspective crop camera."""

from eft_jax.geometry.cameras import CROP_SIZE, weak_perspective

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
    "axis_angle_to_quaternion",
    "axis_angle_to_rotmat",
    "quaternion_to_axis_angle",
    "rot6d_to_rotmat",
    "rotmat_to_axis_angle",
    "rotmat_to_quaternion",
    "rotmat_to_rot6d",
    "skew",
    "weak_perspective",
]
