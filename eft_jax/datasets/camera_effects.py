"""What a camera does to a picture, for synthetic images: colour cast, motion blur, defocus,
sensor noise and JPEG compression (Pillow, which eft-jax depends on), all deterministic by rng.

    image = degrade(rng, image_float_0_255)        # -> uint8, the same size
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from eft_jax.datasets.backgrounds import gaussian_blur

MOTION_BLUR_PROBABILITY = 0.25
MAX_MOTION_BLUR = 6.0  # pixels of travel at 128 px, scaled with the image
DEFOCUS_PROBABILITY = 0.25
MAX_DEFOCUS = 1.2  # Gaussian sigma in pixels at 128 px
JPEG_PROBABILITY = 0.75
JPEG_QUALITY = (20, 95)
MAX_NOISE = 6.0  # std of the sensor noise, in 0-255 units


def motion_blur(image: np.ndarray, length: float, angle: float) -> np.ndarray:
    """The mean of the image shifted along a line of `length` pixels at `angle` (edges extended)."""
    steps = max(2, int(np.ceil(length)) + 1)
    size_y, size_x = image.shape[:2]
    out = np.zeros_like(image)
    for t in np.linspace(-0.5, 0.5, steps):
        dx, dy = int(round(t * length * np.cos(angle))), int(round(t * length * np.sin(angle)))
        rows = np.clip(np.arange(size_y) + dy, 0, size_y - 1)
        cols = np.clip(np.arange(size_x) + dx, 0, size_x - 1)
        out += image[rows][:, cols]
    return out / steps


def jpeg(image_uint8: np.ndarray, quality: int) -> np.ndarray:
    """Encode to JPEG at `quality` and decode again."""
    buffer = io.BytesIO()
    Image.fromarray(image_uint8).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def degrade(rng, image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 255] -> uint8 after a colour cast and contrast change, maybe
    motion blur, maybe defocus, sensor noise and maybe JPEG compression."""
    scale = image.shape[0] / 128
    gain = rng.uniform(0.9, 1.1, 3) * rng.uniform(0.8, 1.15)
    mean = image.mean()
    image = (image - mean) * rng.uniform(0.75, 1.15) + mean
    image = image * gain.astype(np.float32)
    if rng.random() < MOTION_BLUR_PROBABILITY:
        image = motion_blur(image, rng.uniform(1.5, MAX_MOTION_BLUR) * scale, rng.uniform(0, np.pi))
    if rng.random() < DEFOCUS_PROBABILITY:
        image = gaussian_blur(image, rng.uniform(0.4, MAX_DEFOCUS) * scale)
    image = image + rng.normal(0.0, rng.uniform(0.0, MAX_NOISE), image.shape).astype(np.float32)
    out = np.clip(np.round(image), 0, 255).astype(np.uint8)
    if rng.random() < JPEG_PROBABILITY:
        out = jpeg(out, rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    return out
