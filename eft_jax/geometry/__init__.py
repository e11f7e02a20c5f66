"""Geometry: rotation representations (and, later, cameras and Procrustes alignment)."""

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
    "axis_angle_to_quaternion",
    "axis_angle_to_rotmat",
    "quaternion_to_axis_angle",
    "rot6d_to_rotmat",
    "rotmat_to_axis_angle",
    "rotmat_to_quaternion",
    "rotmat_to_rot6d",
    "skew",
]
