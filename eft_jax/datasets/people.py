"""Annotated people on full images, and the step that turns them into exemplars.

Every reader (`coco`, `mpii`, `lspet`, `openpose`, `spin_npz`, ...) first turns its files into a
list, in input order, of `AnnotatedPerson` (SPIN-49 keypoints in image pixels + SPIN's crop box)
or skip records (`formats.exemplar.Skip`) for people it cannot use, with the reason.
`iter_exemplars` then decodes each image once, crops it and yields an `Exemplar` or a skip record
per item, still in input order.

What becomes a skip here (the rules every reader shares; a dataset's own rules, such as COCO's
selections, are in its module):

- keypoints with confidence but NaN / infinite coordinates;
- fewer confident keypoints than the reader asks for (`min_keypoints`);
- a box of zero or negative size, or non-finite;
- an image file that is missing or cannot be decoded;
- a confident keypoint more than one image size (its longer side) outside the image;
- a confident keypoint farther than `MAX_OFFSET` crop half-widths from the crop's centre, that is
  more than half a crop outside it (|x| or |y| > 2 in normalised crop coordinates): such a point
  is an annotation error, and fitting it would pull the whole body off the picture.

Errors that concern the whole dataset (a missing root or images folder, a malformed annotation
file) are `DatasetError`s raised before anything is fitted.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from eft_jax.body.joint_sets import NUM_SPIN49
from eft_jax.errors import InputError
from eft_jax.formats.exemplar import Exemplar, Skip
from eft_jax.formats.images import ImageReadError, load_rgb
from eft_jax.geometry import CROP_SIZE
from eft_jax.geometry.crops import BOX_RESCALE, box_from_keypoints, crop_exemplar

MAX_OFFSET = 2.0  # normalised crop units; the crop spans [-1, 1]


class DatasetError(InputError, ValueError):
    """A dataset that cannot be read: missing folders or files, malformed annotation files."""


def require_dir(path: Path, what: str) -> Path:
    """`path` when it is a folder; otherwise a DatasetError naming it and what it should hold."""
    path = Path(path)
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "does not exist"
        raise DatasetError(f"{path}: {what} {state}")
    return path


def require_file(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"{path}: {what} does not exist"
            if not path.exists()
            else f"{path}: {what} is not a file"
        )
    return path


@dataclasses.dataclass(frozen=True)
class AnnotatedPerson:
    """One person: SPIN-49 keypoints (49, 3) in image pixels and the crop box (center, scale);
    the intrinsics of the camera that took the image, when the input gives them (pixels)."""

    id: str
    image_name: str  # relative to the dataset's images folder
    keypoints: np.ndarray
    center: np.ndarray
    scale: float
    annot_id: int = 0
    focal_length: np.ndarray | None = None  # (f_x, f_y)
    principal_point: np.ndarray | None = None  # (p_x, p_y)


def person_or_skip(
    person_id,
    image_name: str,
    keypoints,
    *,
    box: tuple | None = None,
    annot_id: int = 0,
    min_keypoints: int = 1,
    rescale: float = BOX_RESCALE,
    focal_length=None,
    principal_point=None,
) -> AnnotatedPerson | Skip:
    """An AnnotatedPerson, or a skip record saying why not (module docstring).

    keypoints: (49, 3) SPIN-49 in image pixels. box: (center, scale), or None for SPIN's box from
    the confident keypoints (their bounding box's centre, 1.2 x its longer side).
    focal_length ((f_x, f_y) or one number) and principal_point ((p_x, p_y)): the camera's
    intrinsics in pixels, when the input has them (for camera=full_frame).
    """
    skip = lambda reason: Skip(person_id, reason, annot_id, image_name)  # noqa: E731
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.shape != (NUM_SPIN49, 3):
        return skip(f"keypoints have shape {keypoints.shape}, expected ({NUM_SPIN49}, 3)")
    confidence = keypoints[:, 2]
    if not np.all(np.isfinite(confidence)) or np.any(confidence < 0):
        return skip("keypoint confidences are NaN, infinite or negative")
    used = confidence > 0
    if not np.all(np.isfinite(keypoints[used, :2])):
        return skip("keypoints have NaN or infinite coordinates")
    if int(used.sum()) < min_keypoints:
        return skip(f"{int(used.sum())} keypoints annotated (need {min_keypoints})")
    keypoints = np.where(used[:, None], keypoints, 0.0)
    try:
        if box is None:
            center, scale = box_from_keypoints(keypoints, rescale)
        else:
            center, scale = np.asarray(box[0], np.float64).reshape(2), float(box[1])
    except ValueError as error:
        return skip(f"no crop box: {error}")
    if not (np.all(np.isfinite(center)) and math.isfinite(scale) and scale > 0):
        return skip(f"no crop box: center {np.asarray(center).tolist()}, scale {scale}")
    if focal_length is not None:
        focal_length = np.broadcast_to(np.asarray(focal_length, np.float64), (2,)).copy()
    if principal_point is not None:
        principal_point = np.asarray(principal_point, np.float64).reshape(2)
    return AnnotatedPerson(
        str(person_id),
        str(image_name),
        keypoints,
        center,
        float(scale),
        int(annot_id),
        focal_length,
        principal_point,
    )


def iter_exemplars(
    items: Iterable[AnnotatedPerson | Skip],
    images_dir: str | Path,
    *,
    crop_size: int = CROP_SIZE,
    antialias: bool = True,
    image_loader: Callable[[Path], np.ndarray] = load_rgb,
    max_offset: float = MAX_OFFSET,
) -> Iterator[Exemplar | Skip]:
    """Yield an Exemplar or a skip record per item, in order (skip records pass through).

    Images come from `images_dir / person.image_name`; consecutive people in one image decode it
    once.
    """
    images_dir = Path(images_dir)
    cached_path, cached_image = None, None
    for person in items:
        if isinstance(person, Skip):
            yield person
            continue
        skip = lambda reason, p=person: Skip(p.id, reason, p.annot_id, p.image_name)  # noqa: E731
        image_path = images_dir / person.image_name
        if image_path != cached_path:
            try:
                cached_image = image_loader(image_path)
            except ImageReadError as error:
                cached_image = error
            cached_path = image_path
        if isinstance(cached_image, Exception):
            yield skip(f"image unreadable: {cached_image}")
            continue
        height, width = cached_image.shape[:2]
        points = person.keypoints[person.keypoints[:, 2] > 0, :2]
        margin = max(height, width)  # a point beyond one image size off the picture is an error
        if np.any((points < -margin) | (points > np.array([width, height]) + margin)):
            yield skip(
                f"keypoints far outside the {width}x{height} image (more than {margin} px off it)"
            )
            continue
        crop, keypoints = crop_exemplar(
            cached_image,
            person.keypoints,
            person.center,
            person.scale,
            crop_size,
            antialias=antialias,
        )
        used = keypoints[:, 2] > 0
        far = used & np.any(np.abs(keypoints[:, :2]) > max_offset, axis=1)
        if far.any():
            worst = float(np.abs(keypoints[far, :2]).max())
            yield skip(
                f"keypoints far outside the crop (keypoints {np.flatnonzero(far).tolist()}, up to "
                f"{worst:.3g} crop half-widths from its centre; limit {max_offset})"
            )
            continue
        yield Exemplar(
            person.id,
            crop,
            keypoints,
            person.center,
            person.scale,
            person.annot_id,
            person.image_name,
            image_size=(width, height),
            focal_length=person.focal_length,
            principal_point=person.principal_point,
        )
