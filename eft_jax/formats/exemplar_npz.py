"""Exemplars: the record layout every reader yields, their validation, and the `.npz` file of crops.

An *exemplar* is a dict

    {'id': str, 'image': (res, res, 3) float32 (ImageNet-normalised RGB crop),
     'keypoints': (49, 3) float32 (x, y in [-1, 1] of the crop, confidence),
     'center': (2,) float64 image pixels, 'scale': float (box side / 200 px),
     'annotId': int (COCO annotation id; 0 when there is none, as EFT writes it),
     'imageName': str (the source image, relative to its images folder; '' when unknown)}

and an exemplar that cannot be fitted is a *skip record*

    {'id': str, 'skip_reason': str, 'annotId': int, 'imageName': str}

Readers yield one or the other for every input person, in input order (`is_skip` tells them
apart), so nothing is silently lost.

The `.npz` file (`write_exemplars_npz` / `read_exemplars_npz`):

    images      (N, res, res, 3)  uint8: RGB crops 0..255 (normalised when read), or
                                  float16/32/64: crops already normalised with ImageNet mean/std
    keypoints   (N, 49, 3)        SPIN-49, x, y normalised to [-1, 1] of the crop, confidence
    ids         (N,) str          optional; default '000000', '000001', ...
    center      (N, 2)            optional; image pixels of the box centre
    scale       (N,)              optional; box side / 200 px
    image_names (N,) str          optional; source image names
    annot_ids   (N,) int          optional; COCO annotation ids

Without center / scale a crop is its own image: center ((res-1)/2, (res-1)/2), scale res/200.
Files are read with allow_pickle=False.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from eft_jax.datasets.crops import normalize_image

NUM_KEYPOINTS = 49
OPTIONAL_KEYS = ("ids", "center", "scale", "image_names", "annot_ids")


class ExemplarFileError(ValueError):
    """A malformed exemplar `.npz` file or arrays."""


def skip_record(exemplar_id: str, reason: str, annot_id: int = 0, image_name: str = "") -> dict:
    """The record of an exemplar that was not fitted, with why."""
    return {
        "id": str(exemplar_id),
        "skip_reason": str(reason),
        "annotId": int(annot_id),
        "imageName": str(image_name),
    }


def is_skip(item: dict) -> bool:
    """True for a skip record, False for an exemplar or a fit result."""
    return "skip_reason" in item


def exemplar_problem(image, keypoints) -> str | None:
    """Why an exemplar cannot be fitted, or None when it can.

    Checks: image shape (H, W, 3) and finite values; keypoints (49, 3); finite coordinates on
    every joint with confidence; finite, non-negative confidences; at least one joint with
    confidence > 0.
    """
    image = np.asarray(image)
    keypoints = np.asarray(keypoints)
    if image.ndim != 3 or image.shape[2] != 3:
        return f"image has shape {image.shape}, expected (H, W, 3)"
    if np.issubdtype(image.dtype, np.floating) and not np.all(np.isfinite(image)):
        return "image has NaN or infinite values"
    if keypoints.shape != (NUM_KEYPOINTS, 3):
        return f"keypoints have shape {keypoints.shape}, expected ({NUM_KEYPOINTS}, 3)"
    confidence = keypoints[:, 2]
    if not np.all(np.isfinite(confidence)):
        return "keypoint confidences have NaN or infinite values"
    if np.any(confidence < 0):
        return "keypoint confidences are negative"
    used = confidence > 0
    if not np.any(used):
        return "no keypoint has confidence > 0"
    if not np.all(np.isfinite(keypoints[used, :2])):
        bad = np.flatnonzero(used & ~np.all(np.isfinite(keypoints[:, :2]), axis=1))
        return f"keypoints with confidence have NaN or infinite coordinates (slots {bad.tolist()})"
    return None


def write_exemplars_npz(
    path: str | Path,
    images,
    keypoints,
    *,
    ids=None,
    center=None,
    scale=None,
    image_names=None,
    annot_ids=None,
    compress: bool = True,
) -> Path:
    """Write crops and keypoints (layout in the module docstring); validates before writing."""
    arrays = {"images": np.asarray(images), "keypoints": np.asarray(keypoints)}
    for key, value in (
        ("ids", ids),
        ("center", center),
        ("scale", scale),
        ("image_names", image_names),
        ("annot_ids", annot_ids),
    ):
        if value is not None:
            arrays[key] = np.asarray(value)
    if "ids" in arrays:
        arrays["ids"] = arrays["ids"].astype(str)
    if "image_names" in arrays:
        arrays["image_names"] = arrays["image_names"].astype(str)
    _validate(arrays, "arrays to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:  # np.savez would append '.npz' to other suffixes
        (np.savez_compressed if compress else np.savez)(handle, **arrays)
    return path


def read_exemplars_npz(path: str | Path) -> dict:
    """Read and validate an exemplar file; returns its arrays, with `ids` always present."""
    path = Path(path)
    if not path.is_file():
        raise ExemplarFileError(f"{path}: no such exemplar file")
    if not zipfile.is_zipfile(path):
        raise ExemplarFileError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except ValueError as error:
        raise ExemplarFileError(
            f"{path}: cannot read without pickle (object arrays? store strings as unicode): {error}"
        ) from error
    except Exception as error:
        raise ExemplarFileError(
            f"{path}: not a readable .npz file ({type(error).__name__}: {error})"
        ) from error
    _validate(arrays, str(path))
    if "ids" not in arrays:
        arrays["ids"] = np.array([f"{i:06d}" for i in range(len(arrays["images"]))])
    return arrays


def _validate(arrays: dict, where: str) -> None:
    for key in ("images", "keypoints"):
        if key not in arrays:
            raise ExemplarFileError(f"{where}: missing '{key}' (has {sorted(arrays)})")
    unknown = set(arrays) - {"images", "keypoints", *OPTIONAL_KEYS}
    if unknown:
        raise ExemplarFileError(f"{where}: unknown keys {sorted(unknown)}")
    images, keypoints = arrays["images"], arrays["keypoints"]
    if images.ndim != 4 or images.shape[3] != 3 or images.shape[1] != images.shape[2]:
        raise ExemplarFileError(f"{where}: 'images' must be (N, res, res, 3); got {images.shape}")
    if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
        raise ExemplarFileError(
            f"{where}: 'images' must be uint8 (RGB 0..255) or float (normalised); got {images.dtype}"
        )
    n = images.shape[0]
    if keypoints.shape != (n, NUM_KEYPOINTS, 3) or not np.issubdtype(keypoints.dtype, np.floating):
        raise ExemplarFileError(
            f"{where}: 'keypoints' must be float ({n}, {NUM_KEYPOINTS}, 3); "
            f"got {keypoints.dtype} {keypoints.shape}"
        )
    expected = {
        "ids": (n,),
        "center": (n, 2),
        "scale": (n,),
        "image_names": (n,),
        "annot_ids": (n,),
    }
    for key, shape in expected.items():
        if key in arrays and arrays[key].shape != shape:
            raise ExemplarFileError(
                f"{where}: '{key}' must have shape {shape}; got {arrays[key].shape}"
            )
    for key in ("ids", "image_names"):
        if key in arrays and arrays[key].dtype.kind != "U":
            raise ExemplarFileError(f"{where}: '{key}' must be strings; got {arrays[key].dtype}")
    if "annot_ids" in arrays and arrays["annot_ids"].dtype.kind not in "iu":
        raise ExemplarFileError(
            f"{where}: 'annot_ids' must be integers; got {arrays['annot_ids'].dtype}"
        )
    if "ids" in arrays and len(set(arrays["ids"].tolist())) != n:
        raise ExemplarFileError(f"{where}: 'ids' are not unique")
    if ("center" in arrays) != ("scale" in arrays):
        raise ExemplarFileError(f"{where}: 'center' and 'scale' go together; only one is present")


def iter_exemplars_npz(source: str | Path | dict) -> Iterator[dict]:
    """Yield an exemplar (or a skip record with its reason) per row of an exemplar file.

    `source` is a path or the dict `read_exemplars_npz` returns. uint8 crops are normalised;
    float crops are taken as already normalised.
    """
    arrays = read_exemplars_npz(source) if not isinstance(source, dict) else source
    if isinstance(source, dict):
        _validate(arrays, "exemplar arrays")
    images, keypoints = arrays["images"], arrays["keypoints"]
    n, res = images.shape[0], images.shape[1]
    ids = arrays["ids"] if "ids" in arrays else np.array([f"{i:06d}" for i in range(n)])
    for i in range(n):
        annot_id = int(arrays["annot_ids"][i]) if "annot_ids" in arrays else 0
        image_name = str(arrays["image_names"][i]) if "image_names" in arrays else ""
        if "center" in arrays:
            center = np.asarray(arrays["center"][i], np.float64)
            scale = float(arrays["scale"][i])
        else:
            center, scale = np.full(2, (res - 1) / 2.0), res / 200.0
        image = images[i]
        image = normalize_image(image) if image.dtype == np.uint8 else image.astype(np.float32)
        kps = keypoints[i].astype(np.float32)
        problem = exemplar_problem(image, kps)
        if problem is None and not (np.all(np.isfinite(center)) and scale > 0):
            problem = f"invalid box: center {center.tolist()}, scale {scale}"
        if problem is not None:
            yield skip_record(ids[i], problem, annot_id, image_name)
            continue
        yield {
            "id": str(ids[i]),
            "image": image,
            "keypoints": kps,
            "center": center,
            "scale": scale,
            "annotId": annot_id,
            "imageName": image_name,
        }
