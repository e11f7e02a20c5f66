"""Weak-perspective projection into the normalised crop, as EFT's loss and released fits use it.

EFT projects with `weakProjection_gpu` (facebookresearch/eft, eft/utils/geometry.py:243-250;
called from eft/train/eftFitter.py:272): scale first, then translate,

    x_2d = s * X[:, :2] + [tx, ty]            (x_2d in [-1, 1] of the 224 px crop)

which is also how EFT's released fits are drawn (`convert_smpl_to_bbox`, eft/utils/imutils.py).
SPIN's training loss instead goes through a perspective camera with focal length 5000 px whose
weak-perspective limit is s * (X[:, :2] + [tx, ty]); the two agree when tx = ty = 0 and differ
by the factor s on the translation otherwise. eft-jax fits, stores, draws and reports cameras in
EFT's convention.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

CROP_SIZE = 224  # constants.IMG_RES (eft/cores/constants.py:2); crop coordinates are x / 112 - 1
SPIN_FOCAL_LENGTH = 5000.0  # constants.FOCAL_LENGTH in SPIN / EFT


def weak_perspective(points: jax.Array, camera: jax.Array) -> jax.Array:
    """(..., K, 3) points and (..., 3) cameras [s, tx, ty] -> (..., K, 2) crop coordinates."""
    scale = camera[..., None, :1]
    translation = camera[..., None, 1:]
    return scale * points[..., :2] + translation


def weak_to_perspective_translation(
    camera,
    *,
    focal: float = SPIN_FOCAL_LENGTH,
    crop_size: float = CROP_SIZE,
    convention: str = "eft",
):
    """Camera translation of the perspective camera whose weak-perspective limit is `camera`.

    convention='spin': SPIN's t = [tx, ty, 2 f / (crop_size * s)] (SPIN train/trainer.py:164-166),
    whose projection tends to s * (X + [tx, ty]). convention='eft' (eft-jax's stored cameras,
    s * X + [tx, ty]): t = [tx / s, ty / s, 2 f / (crop_size * s)]. The two agree when tx = ty = 0.
    """
    camera = jnp.asarray(camera, jnp.float32)
    s, tx, ty = camera[..., 0], camera[..., 1], camera[..., 2]
    tz = 2.0 * focal / (crop_size * s + 1e-9)
    if convention == "spin":
        return jnp.stack([tx, ty, tz], axis=-1)
    if convention == "eft":
        return jnp.stack([tx / s, ty / s, tz], axis=-1)
    raise ValueError(f"convention must be 'eft' or 'spin', got {convention!r}")


def perspective_to_weak(
    translation, *, focal: float = SPIN_FOCAL_LENGTH, crop_size: float = CROP_SIZE
):
    """EFT-convention weak-perspective camera [s, tx, ty] of a perspective camera translation
    (focal `focal` px at `crop_size` px, principal point at the crop centre): the inverse of
    `weak_to_perspective_translation(convention='eft')`, s = 2 f / (crop_size t_z), t = s t_xy."""
    translation = jnp.asarray(translation)
    s = 2.0 * focal / (crop_size * translation[..., 2])
    return jnp.stack([s, s * translation[..., 0], s * translation[..., 1]], axis=-1)
