"""Geometry: rotation representations, the weak-perspective crop camera and the full-frame pinhole
camera, Procrustes alignment."""

from eft_jax.geometry.cameras import (
    CROP_SIZE,
    SPIN_FOCAL_LENGTH,
    FullFrame,
    crop_to_full_translation,
    full_frame_projection,
    full_to_crop_camera,
    image_to_crop,
    perspective_to_weak,
    pinhole,
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
    "FullFrame",
    "axis_angle_to_quaternion",
    "axis_angle_to_rotmat",
    "crop_to_full_translation",
    "full_frame_projection",
    "full_to_crop_camera",
    "image_to_crop",
    "perspective_to_weak",
    "pinhole",
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
