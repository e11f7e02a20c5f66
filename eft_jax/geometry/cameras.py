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

CROP_SIZE = 224  # constants.IMG_RES (eft/cores/constants.py:2); crop coordinates are x / 112 - 1


def weak_perspective(points: jax.Array, camera: jax.Array) -> jax.Array:
    """(..., K, 3) points and (..., 3) cameras [s, tx, ty] -> (..., K, 2) crop coordinates."""
    scale = camera[..., None, :1]
    translation = camera[..., None, 1:]
    return scale * points[..., :2] + translation
