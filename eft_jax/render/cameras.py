"""Cameras for rendering: 3D points -> (pixel positions, depths) in `rasterizer`'s convention.

Pixel coordinates: u to the right, v down, pixel (i, j) centred at (j + 0.5, i + 0.5).
Depth: camera-space z, smaller is nearer (the camera looks along +z, as in SPIN / EFT).

Weak perspective follows `eft_jax.geometry.weak_perspective` exactly: crop coordinates
x_2d = s * X[:, :2] + [tx, ty] in [-1, 1], x = -1 the left edge and y = -1 the top edge, so
u = (x + 1) / 2 * W, v = (y + 1) / 2 * H. There is no y flip: like SPIN / EFT, a body that should
appear upright has its root already rotated by pi about x (its head at negative y), which is
what the regressor and the fits produce. So a fit's projected keypoints land on its rendering.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from eft_jax.geometry import CROP_SIZE, weak_perspective
from eft_jax.geometry.cameras import SPIN_FOCAL_LENGTH, weak_to_perspective_translation  # noqa: F401 (re-exported)


class PerspectiveCamera(NamedTuple):
    """Pinhole camera: x_cam = R X + t; u = f_x x/z + c_x, v = f_y y/z + c_y (pixels)."""

    focal: jax.Array  # () or (2,) focal length(s) in pixels
    principal: jax.Array  # (2,) principal point in pixels
    translation: jax.Array  # (3,)
    rotation: jax.Array | None = None  # (3, 3), identity when None


def weak_perspective_to_pixels(points, camera, height: int, width: int):
    """(..., V, 3) points, (..., 3) camera [s, tx, ty] -> ((..., V, 2) pixels, (..., V) depth)."""
    points = jnp.asarray(points, jnp.float32)
    xy = weak_perspective(points, jnp.asarray(camera, jnp.float32))
    return crop_to_pixels(xy, height, width), points[..., 2]


def crop_to_pixels(xy, height: int, width: int):
    """Normalised crop coordinates (..., 2) in [-1, 1] -> pixel coordinates (..., 2)."""
    return (jnp.asarray(xy, jnp.float32) + 1.0) * 0.5 * jnp.asarray([width, height], jnp.float32)


def perspective_to_pixels(points, camera: PerspectiveCamera):
    """(V, 3) points -> ((V, 2) pixels, (V,) camera-space depth z)."""
    points = jnp.asarray(points, jnp.float32)
    if camera.rotation is not None:
        points = points @ jnp.asarray(camera.rotation, jnp.float32).T
    cam = points + jnp.asarray(camera.translation, jnp.float32)
    z = cam[:, 2]
    safe_z = jnp.where(jnp.abs(z) > 1e-9, z, 1e-9)
    uv = jnp.asarray(camera.focal, jnp.float32) * cam[:, :2] / safe_z[:, None]
    return uv + jnp.asarray(camera.principal, jnp.float32), z


def spin_perspective_camera(
    camera, height: int, width: int, *, convention: str = "eft", focal: float = SPIN_FOCAL_LENGTH
) -> PerspectiveCamera:
    """The SPIN perspective camera (focal 5000 at 224 px, scaled to the image) for a crop camera."""
    translation = weak_to_perspective_translation(camera, focal=focal, convention=convention)
    scale = jnp.asarray([width, height], jnp.float32) / CROP_SIZE
    return PerspectiveCamera(
        focal=focal * scale,
        principal=jnp.asarray([width / 2.0, height / 2.0], jnp.float32),
        translation=translation,
    )


def box_view_camera(translation, frame, size: int) -> PerspectiveCamera:
    """The `PerspectiveCamera` that draws a full-frame fit (translation (3,) in the camera frame of
    its image, `geometry.FullFrame` `frame`) into its box's crop of size x size pixels: image
    pixel u lands at (u - c) size / b + size / 2 (c the box's centre, b its side), so the focal
    length is scaled by size / b and the principal point moves with the box."""
    factor = size / jnp.asarray(frame.box_size, jnp.float32)
    return PerspectiveCamera(
        focal=jnp.asarray(frame.focal, jnp.float32) * factor,
        principal=(
            jnp.asarray(frame.principal_point, jnp.float32)
            - jnp.asarray(frame.box_center, jnp.float32)
        )
        * factor
        + size / 2.0,
        translation=jnp.asarray(translation, jnp.float32),
    )


def side_view(vertices, angle: float = jnp.pi / 2, center=None):
    """Rotate (..., V, 3) vertices by `angle` about the vertical (y) axis through their centre.

    The centre is the middle of the bounding box unless given, so the rotated mesh stays where
    it was in the image.
    """
    vertices = jnp.asarray(vertices, jnp.float32)
    if center is None:
        center = 0.5 * (vertices.min(axis=-2, keepdims=True) + vertices.max(axis=-2, keepdims=True))
    c, s = jnp.cos(angle), jnp.sin(angle)
    rot = jnp.asarray([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], jnp.float32)
    return (vertices - center) @ rot.T + center
