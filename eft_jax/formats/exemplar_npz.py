"""The `.npz` file of exemplar crops (records: `eft_jax.formats.exemplar`).

The `.npz` file (`write_exemplars_npz` / `read_exemplars_npz`):

    images      (N, S, S, 3)  uint8: RGB crops 0..255 (normalised when read), or
                                  float16/32/64: crops already normalised with ImageNet mean/std
    keypoints   (N, 49, 3)        SPIN-49, x, y normalised to [-1, 1] of the crop, confidence
    ids         (N,) str          optional; default '000000', '000001', ...
    center      (N, 2)            optional; image pixels of the box centre
    scale       (N,)              optional; box side / 200 px
    image_names (N,) str          optional; source image names
    annot_ids   (N,) int          optional; COCO annotation ids
    image_size       (N, 2)       optional; (width, height) of the source images, pixels
    focal_length     (N, 2)       optional; (f_x, f_y) of the camera that took them, pixels
    principal_point  (N, 2)       optional; (p_x, p_y), pixels (the last three serve
                                  camera=full_frame, docs/camera.md; NaN rows: not given)

Without center / scale a crop is its own image: center ((S-1)/2, (S-1)/2), scale S/200.
Files are read with allow_pickle=False.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from eft_jax.body.joint_sets import NUM_SPIN49 as NUM_KEYPOINTS
from eft_jax.errors import InputError
from eft_jax.formats.exemplar import Exemplar, Skip
from eft_jax.geometry.crops import normalize_image

CAMERA_KEYS = ("image_size", "focal_length", "principal_point")
OPTIONAL_KEYS = ("ids", "center", "scale", "image_names", "annot_ids", *CAMERA_KEYS)


class ExemplarFileError(InputError, ValueError):
    """A malformed exemplar `.npz` file or arrays."""


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
    image_size=None,
    focal_length=None,
    principal_point=None,
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
        ("image_size", image_size),
        ("focal_length", focal_length),
        ("principal_point", principal_point),
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


def load_npz_arrays(path: str | Path, error_type: type[Exception], what: str) -> dict:
    """Every array of an `.npz` file, read without pickle; `error_type` naming the file and the
    problem for a missing, truncated or pickled file (`what` names the kind of file)."""
    path = Path(path)
    if not path.is_file():
        raise error_type(f"{path}: no such {what}")
    if not zipfile.is_zipfile(path):
        raise error_type(f"{path}: not a readable .npz file (not a zip archive; truncated?)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except ValueError as error:
        raise error_type(
            f"{path}: cannot read without pickle (object arrays? store strings as unicode): {error}"
        ) from error
    except Exception as error:
        raise error_type(
            f"{path}: not a readable .npz file ({type(error).__name__}: {error})"
        ) from error


def read_exemplars_npz(path: str | Path) -> dict:
    """Read and validate an exemplar file; returns its arrays, with `ids` always present."""
    path = Path(path)
    arrays = load_npz_arrays(path, ExemplarFileError, "exemplar file")
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
        **{key: (n, 2) for key in CAMERA_KEYS},
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


def iter_exemplars_npz(source: str | Path | dict) -> Iterator[Exemplar | Skip]:
    """Yield an `Exemplar` (or a skip record with its reason) per row of an exemplar file.

    `source` is a path or the dict `read_exemplars_npz` returns. uint8 crops are normalised;
    float crops are taken as already normalised. Rows with an invalid box are skipped here; the
    data checks on crops and keypoints are the engine's (`formats.exemplar.exemplar_problem`).
    """
    arrays = read_exemplars_npz(source) if not isinstance(source, dict) else source
    if isinstance(source, dict):
        _validate(arrays, "exemplar arrays")
    images, keypoints = arrays["images"], arrays["keypoints"]
    n = images.shape[0]
    ids = arrays["ids"] if "ids" in arrays else np.array([f"{i:06d}" for i in range(n)])
    for i in range(n):
        annot_id = int(arrays["annot_ids"][i]) if "annot_ids" in arrays else 0
        image_name = str(arrays["image_names"][i]) if "image_names" in arrays else ""
        center, scale = None, None
        if "center" in arrays:
            center = np.asarray(arrays["center"][i], np.float64)
            scale = float(arrays["scale"][i])
            if not (np.all(np.isfinite(center)) and scale > 0):
                yield Skip(
                    ids[i],
                    f"invalid box: center {center.tolist()}, scale {scale}",
                    annot_id,
                    image_name,
                )
                continue
        image = images[i]
        image = normalize_image(image) if image.dtype == np.uint8 else image.astype(np.float32)
        camera = {key: _given(arrays, key, i) for key in CAMERA_KEYS}
        if camera["image_size"] is not None:
            camera["image_size"] = tuple(int(v) for v in camera["image_size"])
        yield Exemplar(
            str(ids[i]),
            image,
            keypoints[i].astype(np.float32),
            center,
            scale,
            annot_id,
            image_name,
            **camera,
        )


def _given(arrays: dict, key: str, row: int) -> np.ndarray | None:
    """Row `row` of the optional (N, 2) array `key`, or None when the file has none there."""
    if key not in arrays:
        return None
    value = np.asarray(arrays[key][row], np.float64)
    return value if np.all(np.isfinite(value)) else None
