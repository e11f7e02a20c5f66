"""Image files in and out: decode to RGB uint8, write PNG (Pillow).

`load_rgb` applies the EXIF orientation tag, as OpenCV's `cv2.imread` (which SPIN and EFT use to
read COCO / MPII / LSP images) does, so keypoint annotations made on the displayed image line up.
Every failure is an `ImageReadError` naming the file and what is wrong with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eft_jax.errors import InputError


class ImageReadError(InputError, ValueError):
    """An image file that is missing, unreadable or not an image."""


def _pil():
    try:
        from PIL import Image, ImageOps
    except ImportError as error:  # pragma: no cover - Pillow is a dependency
        raise ImportError(
            "eft-jax reads and writes images with Pillow: pip install pillow"
        ) from error
    return Image, ImageOps


def load_rgb(path: str | Path, *, apply_exif_orientation: bool = True) -> np.ndarray:
    """Decode an image file to an (H, W, 3) uint8 RGB array.

    Grey, palette, RGBA (alpha dropped), CMYK and 16-bit images are converted to 8-bit RGB.
    Raises `ImageReadError` (with the path) for a missing file, a directory, or undecodable bytes.
    """
    Image, ImageOps = _pil()
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such image file")
    if not path.is_file():
        raise ImageReadError(f"{path}: is not a file")
    try:
        with Image.open(path) as image:
            image.load()
            if apply_exif_orientation:
                image = ImageOps.exif_transpose(image)
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                # 16/32-bit grey: scale to 8 bits instead of clipping at 255.
                array = np.asarray(image, dtype=np.float64)
                top = 65535.0 if array.max(initial=0) > 255 else 255.0
                grey = np.clip(np.round(array * (255.0 / top)), 0, 255).astype(np.uint8)
                return np.repeat(grey[..., None], 3, axis=-1)
            if image.mode != "RGB":
                image = image.convert("RGB")
            array = np.asarray(image, dtype=np.uint8)
    except ImageReadError:
        raise
    except Exception as error:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError, ...
        raise ImageReadError(
            f"{path}: cannot decode image ({type(error).__name__}: {error})"
        ) from error
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageReadError(f"{path}: decoded to an unexpected shape {array.shape}")
    return np.ascontiguousarray(array)


def save_png(path: str | Path, image) -> Path:
    """Write an (H, W, 3) or (H, W) image as PNG.

    uint8 arrays are written as they are; float arrays are taken to be in [0, 1] and are clipped
    and rounded to 8 bits. Parent folders are created.
    """
    Image, _ = _pil()
    path = Path(path)
    array = np.asarray(image)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(
            f"save_png needs an (H, W), (H, W, 3) or (H, W, 4) image; got {array.shape}"
        )
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"save_png needs uint8 or float in [0, 1]; got dtype {array.dtype}")
        if not np.all(np.isfinite(array)):
            raise ValueError("save_png: the image has NaN or infinite values")
        array = np.clip(np.round(array * 255.0), 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array)).save(path, format="PNG")
    return path
