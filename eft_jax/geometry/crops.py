"""Person crops in SPIN's convention: a box `center` (x, y) and `scale` (box side / 200 px).

Coordinates (the facts are SPIN's `utils/imutils.py` and `datasets/base_dataset.py`):

- image points are in pixels, pixel-index convention: the centre of pixel (row i, column j) is
  (x=j, y=i), as COCO keypoints and SPIN's `transform` use them;
- a box of side h = 200 * scale centred on `center` is mapped onto the crop;
- keypoints in the crop are normalised to [-1, 1] (SPIN's `j2d_processing`: 2 * u / S - 1 with u
  in crop pixels, S the crop size), so  n = 2 (x - center) / h  (rotated, when a rotation is
  given), independent of the crop resolution;
- crop pixel (r, c) shows the image at n = (2 (c + 0.5) / S - 1, 2 (r + 0.5) / S - 1), so a
  keypoint and the image content under it land on the same crop position;
- image regions outside the picture read as zeros (black) before normalisation, as in SPIN.

SPIN snaps the box to whole pixels and truncates transformed keypoints to integers; this module
uses the exact affine map instead (so image -> crop -> image round-trips exactly). The two agree
to within about half a pixel.

Crops are bilinear samples of the image. When the box is larger than the crop, the image is
first averaged over k x k pixel blocks (k = floor(box side / S)) and each crop pixel then
averages 2 x 2 bilinear samples when a factor is left: a box filter standing in for the
antialiasing of SPIN's `imresize`. Everything is numpy, vectorised and deterministic.
"""

from __future__ import annotations

import math

import numpy as np

from eft_jax.geometry import CROP_SIZE

BOX_RESCALE = 1.2  # SPIN/EFT: the box is the person's extent enlarged by 1.2
SCALE_UNIT = 200.0  # scale = box side / 200 px
IMG_NORM_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMG_NORM_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _rotation(rotation_deg: float) -> np.ndarray:
    """2x2 rotation applied to image offsets, with SPIN's sign (`get_transform` uses -rot)."""
    angle = -math.radians(float(rotation_deg))
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def crop_transform(
    center, scale, crop_size: int = CROP_SIZE, rotation_deg: float = 0.0
) -> np.ndarray:
    """3x3 affine matrix from image pixels to crop pixels (u in [0, crop_size]); SPIN's
    `get_transform` without its integer rounding."""
    center = np.asarray(center, np.float64).reshape(2)
    h = SCALE_UNIT * float(scale)
    if not h > 0:
        raise ValueError(f"crop scale must be positive; got {scale}")
    t = np.eye(3)
    t[:2, :2] = _rotation(rotation_deg) * (crop_size / h)
    t[:2, 2] = crop_size / 2.0 - t[:2, :2] @ center
    return t


def _broadcast_box(points, center, scale):
    points = np.asarray(points, np.float64)
    if points.ndim < 2 or points.shape[-1] < 2:
        raise ValueError(f"points must have shape (..., K, 2 or more); got {points.shape}")
    center = np.asarray(center, np.float64)
    scale = np.asarray(scale, np.float64)
    if center.shape[-1:] != (2,):
        raise ValueError(f"center must have shape (..., 2); got {center.shape}")
    if np.any(~(scale > 0)):
        raise ValueError(f"crop scale must be positive and finite; got {scale}")
    h = SCALE_UNIT * scale
    return points, center[..., None, :], h[..., None, None]


def image_to_crop(points, center, scale, rotation_deg: float = 0.0) -> np.ndarray:
    """Image pixels -> normalised crop coordinates in [-1, 1].

    points: (..., K, D) with D >= 2; columns past the first two (e.g. confidence) are copied.
    center: (..., 2); scale: (...) — one box per leading index.
    """
    points, center, h = _broadcast_box(points, center, scale)
    offset = points[..., :2] - center
    xy = 2.0 * (offset @ _rotation(rotation_deg).T) / h
    return np.concatenate([xy, points[..., 2:]], axis=-1)


def crop_to_image(points, center, scale, rotation_deg: float = 0.0) -> np.ndarray:
    """Normalised crop coordinates in [-1, 1] -> image pixels (the inverse of `image_to_crop`).

    Use it to draw fits (e.g. projected joints) on the original image.
    """
    points, center, h = _broadcast_box(points, center, scale)
    xy = (0.5 * h * points[..., :2]) @ _rotation(rotation_deg) + center
    return np.concatenate([xy, points[..., 2:]], axis=-1)


def box_from_xywh(bbox, rescale: float = BOX_RESCALE) -> tuple[np.ndarray, float]:
    """Center and scale from an [x, y, width, height] box (SPIN's and EFT's COCO rule):
    center = box centre, scale = rescale * max(width, height) / 200."""
    x, y, w, h = (float(v) for v in np.asarray(bbox, np.float64).reshape(4))
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"box has non-finite values: {[x, y, w, h]}")
    if w <= 0 or h <= 0:
        raise ValueError(f"box has no area: width {w}, height {h}")
    return np.array([x + w / 2.0, y + h / 2.0]), rescale * max(w, h) / SCALE_UNIT


def box_from_keypoints(
    keypoints, rescale: float = BOX_RESCALE, min_confidence: float = 0.0, center: str = "bbox"
) -> tuple[np.ndarray, float]:
    """Center and scale from 2D keypoints (K, 3) in image pixels.

    Keypoints with confidence > min_confidence count. scale = rescale * (longer side of their
    bounding box) / 200. center="bbox" (SPIN's LSP / LSPet preprocessing) takes the bounding
    box's centre; center="mean" (EFT's demo boxes from OpenPose, which use min_confidence 0.2)
    takes the keypoints' mean. Raises ValueError with fewer than two such keypoints or a
    zero-size box.
    """
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.ndim != 2 or keypoints.shape[1] != 3:
        raise ValueError(f"keypoints must have shape (K, 3); got {keypoints.shape}")
    valid = keypoints[:, 2] > min_confidence
    points = keypoints[valid, :2]
    if not np.all(np.isfinite(points)):
        raise ValueError("keypoints with confidence have non-finite coordinates")
    if len(points) < 2:
        raise ValueError(
            f"need at least 2 keypoints with confidence > {min_confidence}; got {len(points)}"
        )
    low, high = points.min(axis=0), points.max(axis=0)
    size = float((high - low).max())
    if not size > 0:
        raise ValueError("keypoints span a box of zero size")
    if center == "bbox":
        middle = (low + high) / 2.0
    elif center == "mean":
        middle = points.mean(axis=0)
    else:
        raise ValueError(f"center must be 'bbox' or 'mean'; got {center!r}")
    return middle, rescale * size / SCALE_UNIT


def box_corners(center, scale) -> np.ndarray:
    """[x0, y0, x1, y1] of the (unrotated) square box, in image pixels, for drawing."""
    center = np.asarray(center, np.float64).reshape(2)
    half = SCALE_UNIT * float(scale) / 2.0
    return np.concatenate([center - half, center + half])


def _bilinear_zero_padded(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of image (H, W, C) at float positions; outside the image reads zero."""
    height, width, channels = image.shape
    padded = np.zeros((height + 2, width + 2, channels), np.float32)
    padded[1:-1, 1:-1] = image
    flat = padded.reshape(-1, channels)
    xp = np.clip(x + 1.0, -1.0, width + 2.0)  # padded coordinates; far-away points read the border
    yp = np.clip(y + 1.0, -1.0, height + 2.0)
    x0 = np.floor(xp)
    y0 = np.floor(yp)
    wx = (xp - x0).astype(np.float32)[..., None]
    wy = (yp - y0).astype(np.float32)[..., None]
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)
    xa, xb = np.clip(x0, 0, width + 1), np.clip(x0 + 1, 0, width + 1)
    ya, yb = np.clip(y0, 0, height + 1) * (width + 2), np.clip(y0 + 1, 0, height + 1) * (width + 2)
    top = np.take(flat, ya + xa, axis=0)
    top += wx * (np.take(flat, ya + xb, axis=0) - top)
    bottom = np.take(flat, yb + xa, axis=0)
    bottom += wx * (np.take(flat, yb + xb, axis=0) - bottom)
    return top + wy * (bottom - top)


def _block_means(image: np.ndarray, x0: int, y0: int, k: int, rows: int, cols: int) -> np.ndarray:
    """(rows, cols, C) float32 means of the k x k pixel blocks whose top-left corners are
    (x0 + j k, y0 + i k); pixels off the image count as zero. Reads only the part of the image
    the blocks cover, so the cost follows the box, never the box's size off the image."""
    height, width, channels = image.shape
    out = np.zeros((rows, cols, channels), np.float32)
    ex = np.clip(x0 + k * np.arange(cols + 1), 0, width)
    ey = np.clip(y0 + k * np.arange(rows + 1), 0, height)
    jx = np.flatnonzero(ex[1:] > ex[:-1])  # blocks that overlap the image: a contiguous run
    iy = np.flatnonzero(ey[1:] > ey[:-1])
    if len(jx) == 0 or len(iy) == 0:
        return out
    region = image[ey[iy[0]] : ey[iy[-1] + 1], ex[jx[0]] : ex[jx[-1] + 1]]
    if k == 1:
        sums = region.astype(np.float32)
    else:
        sums = np.add.reduceat(region, ex[jx] - ex[jx[0]], axis=1, dtype=np.float32)
        sums = np.add.reduceat(sums, ey[iy] - ey[iy[0]], axis=0) * np.float32(1.0 / (k * k))
    out[iy[0] : iy[-1] + 1, jx[0] : jx[-1] + 1] = sums
    return out


def _subsample_mean(samples: np.ndarray, n: int) -> np.ndarray:
    """Mean over n x n groups of samples, (S n, S n, C) -> (S, S, C)."""
    rows = samples[0::n].copy()
    for i in range(1, n):
        rows += samples[i::n]
    groups = rows[:, 0::n].copy()
    for j in range(1, n):
        groups += rows[:, j::n]
    return groups * np.float32(1.0 / (n * n))


def crop_image(
    image,
    center,
    scale,
    crop_size: int = CROP_SIZE,
    rotation_deg: float = 0.0,
    antialias: bool = True,
) -> np.ndarray:
    """Crop an (H, W, C) image (uint8 or float, 0..255) to (S, S, C) float32, 0..255, S = crop_size.

    Not normalised: pass the result to `normalize_image`. Out-of-image regions are zero.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must have shape (H, W, C); got {image.shape}")
    center = np.asarray(center, np.float64).reshape(2)
    h = SCALE_UNIT * float(scale)
    if not (h > 0 and math.isfinite(h)) or not np.all(np.isfinite(center)):
        raise ValueError(f"invalid crop box: center {center}, scale {scale}")
    # Antialiasing: average k x k pixel blocks first (k = whole downscale factor), then take
    # n x n bilinear samples per crop pixel for the rest of the factor (n <= 2).
    k = max(1, int(h // crop_size)) if antialias else 1
    n = max(1, math.ceil(h / (k * crop_size) - 1e-9)) if antialias else 1
    # Normalised crop positions of the n x n samples per crop pixel, along one axis.
    steps = (np.arange(crop_size)[:, None] + (np.arange(n)[None, :] + 0.5) / n).reshape(-1)
    norm = 2.0 * steps / crop_size - 1.0
    nx, ny = norm[None, :], norm[:, None]  # (S n, S n) grid, rows = y
    rotation = 0.5 * h * _rotation(rotation_deg)  # image offset = (0.5 h) R^T n
    x = center[0] + (rotation[0, 0] * nx + rotation[1, 0] * ny)
    y = center[1] + (rotation[0, 1] * nx + rotation[1, 1] * ny)
    # Block means over a grid anchored just outside the samples (k + 1 pixels of margin).
    x0 = int(np.floor(x.min())) - k - 1
    y0 = int(np.floor(y.min())) - k - 1
    cols = math.ceil((np.ceil(x.max()) + k + 2 - x0) / k)
    rows = math.ceil((np.ceil(y.max()) + k + 2 - y0) / k)
    blocks = _block_means(image, x0, y0, k, rows, cols)
    # Block (i, j) is centred on image pixel (x0 + j k + (k - 1) / 2, y0 + i k + (k - 1) / 2).
    shift = (k - 1) / 2.0
    samples = _bilinear_zero_padded(blocks, (x - x0 - shift) / k, (y - y0 - shift) / k)
    if n > 1:
        samples = _subsample_mean(samples, n)
    return samples.astype(np.float32, copy=False)


def normalize_image(rgb) -> np.ndarray:
    """RGB in 0..255 (uint8 or float, (..., 3)) -> float32 normalised with ImageNet mean / std."""
    rgb = np.asarray(rgb, np.float32)
    if rgb.shape[-1] != 3:
        raise ValueError(f"normalize_image needs RGB (..., 3); got {rgb.shape}")
    return ((rgb / 255.0 - IMG_NORM_MEAN) / IMG_NORM_STD).astype(np.float32)


def denormalize_image(normalised) -> np.ndarray:
    """Inverse of `normalize_image`, to uint8 RGB (for pictures)."""
    normalised = np.asarray(normalised, np.float32)
    rgb = (normalised * IMG_NORM_STD + IMG_NORM_MEAN) * 255.0
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def crop_exemplar(
    image,
    keypoints,
    center,
    scale,
    crop_size: int = CROP_SIZE,
    rotation_deg: float = 0.0,
    antialias: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One person: image (H, W, 3) RGB + keypoints (K, 3) in image pixels -> (normalised crop
    (S, S, 3) float32, S = crop_size; keypoints (K, 3) float32 in [-1, 1] with confidence).

    Keypoints with confidence 0 get coordinates (0, 0) when theirs are not finite.
    """
    keypoints = np.asarray(keypoints, np.float64)
    crop = normalize_image(crop_image(image, center, scale, crop_size, rotation_deg, antialias))
    mapped = image_to_crop(keypoints, center, scale, rotation_deg)
    missing = (mapped[:, 2] <= 0)[:, None] & ~np.isfinite(mapped[:, :2])
    mapped[:, :2] = np.where(missing, 0.0, mapped[:, :2])
    return crop, mapped.astype(np.float32)
