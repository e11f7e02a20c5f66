"""The crop camera (weak perspective into the normalised crop, as EFT's loss and released fits use
it) and the full-frame camera (a pinhole camera over the whole image, CLIFF's).

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

import flax.struct
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


# -- the full-frame camera ---------------------------------------------------------------------
#
# CLIFF (huawei-noah/noah-research, CLIFF/common/utils.py `cam_crop2full`) and CameraHMR fit in
# the whole image: a pinhole camera with identity rotation, focal length f (pixels; the image
# diagonal unless known) and principal point p (the image centre unless known), the body at a
# translation T in the camera frame. A regressor's crop camera [s, tx, ty] is turned into T
# through the crop's box (centre c, side b pixels): the crop camera is the weak-perspective limit
# of the full-frame one, u ~= c + (b / 2) (s X + t), whence
#
#     T_z = 2 f / (b s),   T_x = 2 (c_x - p_x) / (b s) + tx / s,   T_y = 2 (c_y - p_y) / (b s) + ty / s
#
# (CLIFF's formula in SPIN's camera convention s (X + t) has tx where EFT's s X + t has tx / s).
# Full-frame pixels u are compared with the keypoints in the crop's normalised coordinates
# (u - c) / (b / 2): a residual of one pixel in the image weighs 2 / b, the same as one pixel of
# the box in the crop camera's loss, so the loss weights and the stop threshold keep their meaning.


@flax.struct.dataclass
class FullFrame:
    """Where a crop's box sits in its image and the pinhole camera that took the image, in image
    pixels (pixel-index convention of `geometry.crops`: pixel (row i, column j) centred at
    (x=j, y=i)). Leading batch axes are allowed on every field."""

    box_center: jax.Array  # (..., 2) the box's centre c
    box_size: jax.Array  # (...,) the box's side b = 200 scale
    focal: jax.Array  # (..., 2) focal lengths f_x, f_y
    principal_point: jax.Array  # (..., 2) p


def pinhole(points: jax.Array, translation: jax.Array, focal, principal_point) -> jax.Array:
    """(..., K, 3) points seen by a pinhole camera with identity rotation at `translation` (..., 3):
    (..., K, 2) pixels u = f (X + T)_xy / (X + T)_z + p."""
    camera_points = points + translation[..., None, :]
    return (
        focal[..., None, :] * camera_points[..., :2] / camera_points[..., 2:]
        + principal_point[..., None, :]
    )


def crop_to_full_translation(camera: jax.Array, frame: FullFrame) -> jax.Array:
    """(..., 3) crop cameras [s, tx, ty] (EFT's convention) -> (..., 3) translations T in the
    camera frame of the full image whose projection tends to the crop camera's (CLIFF's
    `cam_crop2full`; the module's formula, with T_xy = (c - p + b t / 2) T_z / f when f_x != f_y;
    f_x sets the depth)."""
    s = camera[..., 0]
    tz = 2.0 * frame.focal[..., 0] / (frame.box_size * s + 1e-9)
    shift = (
        frame.box_center - frame.principal_point + 0.5 * frame.box_size[..., None] * camera[..., 1:]
    )
    return jnp.concatenate([shift * tz[..., None] / frame.focal, tz[..., None]], axis=-1)


def full_to_crop_camera(translation: jax.Array, frame: FullFrame) -> jax.Array:
    """(..., 3) translations T in the full image's camera frame -> (..., 3) crop cameras
    [s, tx, ty] (EFT's convention) of their weak-perspective limit in the box: the inverse of
    `crop_to_full_translation`."""
    tz = translation[..., 2]
    s = 2.0 * frame.focal[..., 0] / (frame.box_size * tz)
    shift = translation[..., :2] * frame.focal / tz[..., None]
    t = (shift - (frame.box_center - frame.principal_point)) * 2.0 / frame.box_size[..., None]
    return jnp.concatenate([s[..., None], t], axis=-1)


def image_to_crop(pixels: jax.Array, frame: FullFrame) -> jax.Array:
    """(..., K, 2) image pixels -> (..., K, 2) normalised coordinates of the box,
    n = (u - c) / (b / 2) (`geometry.crops`'s convention, unrotated)."""
    return (pixels - frame.box_center[..., None, :]) / (0.5 * frame.box_size[..., None, None])


def full_frame_projection(points: jax.Array, camera: jax.Array, frame: FullFrame) -> jax.Array:
    """(..., K, 3) points and (..., 3) crop cameras [s, tx, ty] -> (..., K, 2) crop coordinates
    of their full-perspective projection into the whole image: the crop camera becomes a
    translation (`crop_to_full_translation`), the points go through the pinhole camera, and the
    pixels are expressed in the box (`image_to_crop`), where EFT's loss compares them."""
    translation = crop_to_full_translation(camera, frame)
    pixels = pinhole(points, translation, frame.focal, frame.principal_point)
    return image_to_crop(pixels, frame)
