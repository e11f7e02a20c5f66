"""COCO keypoint annotation files (person_keypoints_*.json) -> exemplars.

What is kept (SPIN `datasets/preprocess/coco.py`, which EFT's `eft/db_processing/coco.py`
repeats for its COCO2014-Part set):

- visibility flags v = 1, 2 become confidence 1, v = 0 confidence 0;
- an annotation is kept when at least `min_body_keypoints` of the 12 body keypoints (COCO
  indices 5..16: shoulders, elbows, wrists, hips, knees, ankles) are annotated; SPIN and EFT
  use 12, all of them. (EFT's larger COCO2014-All set lowered the bar to about 6 keypoints;
  `min_body_keypoints=6` approximates it);
- the box is the annotation's `bbox` [x, y, w, h]: center = its centre, scale =
  1.2 * max(w, h) / 200. `box="keypoints"` uses the annotated keypoints' bounding box instead.

Crowd annotations (iscrowd = 1) are dropped too (SPIN drops them implicitly: they carry no
keypoints). Every dropped annotation becomes a skip record with its reason. A file that is not a
COCO keypoint file at all raises `CocoFormatError` naming the file and the problem.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eft_jax.datasets.crops import (
    BOX_RESCALE,
    box_from_keypoints,
    box_from_xywh,
    crop_exemplar,
)
from eft_jax.formats.exemplar_npz import exemplar_problem, skip_record
from eft_jax.formats.images import ImageReadError, load_rgb
from eft_jax.datasets.keypoint_formats import to_spin49
from eft_jax.geometry import CROP_SIZE

BODY_KEYPOINTS = slice(5, 17)  # COCO's 12 limb keypoints


class CocoFormatError(ValueError):
    """A COCO annotation file that cannot be read as one."""


@dataclass(frozen=True)
class CocoPerson:
    """One annotated person: SPIN-49 keypoints in image pixels and SPIN's crop box."""

    id: str  # exemplar id: str(annot_id)
    annot_id: int
    image_id: int
    image_name: str  # the image's file_name
    image_path: Path | None  # images_dir / file_name, when an images folder was given
    keypoints: np.ndarray  # (49, 3) image pixels, confidence 0 / 1
    center: np.ndarray  # (2,)
    scale: float
    bbox: tuple  # the annotation's [x, y, w, h]


def _load_json(path: Path):
    if not path.is_file():
        raise CocoFormatError(f"{path}: no such COCO annotation file")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise CocoFormatError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from error
    except UnicodeDecodeError as error:
        raise CocoFormatError(f"{path}: not UTF-8 text ({error})") from error


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_coco_keypoints(
    path: str | Path,
    images_dir: str | Path | None = None,
    *,
    min_body_keypoints: int = 12,
    box: str = "bbox",
    rescale: float = BOX_RESCALE,
) -> tuple[list[CocoPerson], list[dict]]:
    """Read a COCO keypoint file: (people kept, in annotation order; skip records, with reasons)."""
    path = Path(path)
    if box not in ("bbox", "keypoints"):
        raise ValueError(f"box must be 'bbox' or 'keypoints'; got {box!r}")
    if not 0 <= min_body_keypoints <= 12:
        raise ValueError(f"min_body_keypoints must be in 0..12; got {min_body_keypoints}")
    data = _load_json(path)
    if not isinstance(data, dict):
        raise CocoFormatError(f"{path}: top level is a {type(data).__name__}, expected an object")
    for key in ("images", "annotations"):
        if key not in data:
            raise CocoFormatError(f"{path}: missing '{key}' (has {sorted(data)})")
        if not isinstance(data[key], list):
            raise CocoFormatError(
                f"{path}: '{key}' is a {type(data[key]).__name__}, expected a list"
            )

    images = {}
    for index, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise CocoFormatError(
                f"{path}: images[{index}] needs 'id' and 'file_name'; got {image!r:.200}"
            )
        if not isinstance(image["file_name"], str) or not image["file_name"]:
            raise CocoFormatError(
                f"{path}: images[{index}] has an invalid file_name {image['file_name']!r}"
            )
        if not isinstance(image["id"], (int, str)) or isinstance(image["id"], bool):
            raise CocoFormatError(f"{path}: images[{index}] has an invalid id {image['id']!r}")
        images[image["id"]] = image["file_name"]

    annotations = data["annotations"]
    if annotations and not any(isinstance(a, dict) and "keypoints" in a for a in annotations):
        raise CocoFormatError(
            f"{path}: no annotation has 'keypoints' - not a COCO keypoint file "
            "(person_keypoints_*.json, not instances_*.json)"
        )

    people, skipped = [], []
    seen = set()
    images_dir = Path(images_dir) if images_dir is not None else None
    for index, annotation in enumerate(annotations):
        if not isinstance(annotation, dict):
            raise CocoFormatError(f"{path}: annotations[{index}] is a {type(annotation).__name__}")
        annot_id = annotation.get("id")
        if not isinstance(annot_id, int) or isinstance(annot_id, bool):
            raise CocoFormatError(
                f"{path}: annotations[{index}] has no integer 'id' (got {annot_id!r})"
            )
        if annot_id in seen:
            raise CocoFormatError(f"{path}: annotation id {annot_id} appears more than once")
        seen.add(annot_id)
        image_id = annotation.get("image_id")
        if not isinstance(image_id, (int, str)) or isinstance(image_id, bool):
            image_id = None  # unhashable or odd ids are reported as unknown below
        image_name = images.get(image_id, "")

        def skip(reason, annot_id=annot_id, image_name=image_name):
            skipped.append(skip_record(str(annot_id), reason, annot_id, image_name))

        if image_id not in images:
            skip(f"image_id {annotation.get('image_id')!r} is not in 'images'")
            continue
        if annotation.get("iscrowd", 0):
            skip("crowd annotation (iscrowd=1)")
            continue
        raw = annotation.get("keypoints")
        if not isinstance(raw, list) or len(raw) != 51 or not all(_is_number(v) for v in raw):
            skip("'keypoints' is not a list of 51 numbers")
            continue
        coco = np.asarray(raw, np.float64).reshape(17, 3)
        if not np.all(np.isfinite(coco)):
            skip("keypoints have NaN or infinite values")
            continue
        coco[:, 2] = (coco[:, 2] > 0).astype(np.float64)
        body = int(coco[BODY_KEYPOINTS, 2].sum())
        if body < min_body_keypoints:
            skip(f"{body} of 12 body keypoints annotated (need {min_body_keypoints})")
            continue
        bbox = annotation.get("bbox")
        try:
            if box == "bbox":
                if (
                    not isinstance(bbox, list)
                    or len(bbox) != 4
                    or not all(_is_number(v) for v in bbox)
                ):
                    raise ValueError(f"'bbox' is not [x, y, w, h] numbers (got {bbox!r})")
                center, scale = box_from_xywh(bbox, rescale)
            else:
                center, scale = box_from_keypoints(coco, rescale)
        except ValueError as error:
            skip(f"no crop box: {error}")
            continue
        if not (math.isfinite(scale) and scale > 0):
            skip(f"no crop box: scale {scale}")
            continue
        people.append(
            CocoPerson(
                id=str(annot_id),
                annot_id=annot_id,
                image_id=image_id,
                image_name=image_name,
                image_path=images_dir / image_name if images_dir is not None else None,
                keypoints=to_spin49(coco, "coco17"),
                center=center,
                scale=float(scale),
                bbox=tuple(float(v) for v in bbox) if isinstance(bbox, list) else (),
            )
        )
    return people, skipped


def iter_coco_exemplars(
    people: list[CocoPerson],
    images_dir: str | Path | None = None,
    *,
    res: int = CROP_SIZE,
    antialias: bool = True,
    image_loader: Callable[[Path], np.ndarray] = load_rgb,
) -> Iterator[dict]:
    """Yield an exemplar (see `exemplar_npz`) or a skip record per person, in order.

    Images come from `images_dir / image_name` (or each person's `image_path` when images_dir
    is None). A missing or unreadable image, or unusable keypoints, gives a skip record.
    Consecutive people in the same image decode it once.
    """
    cached_path, cached_image = None, None
    for person in people:
        if images_dir is not None:
            image_path = Path(images_dir) / person.image_name
        elif person.image_path is not None:
            image_path = person.image_path
        else:
            raise ValueError(
                "no images folder: pass images_dir (or read_coco_keypoints(..., images_dir))"
            )
        if image_path != cached_path:
            try:
                cached_image = image_loader(image_path)
            except ImageReadError as error:
                cached_path, cached_image = image_path, error
            else:
                cached_path = image_path
        if isinstance(cached_image, Exception):
            yield skip_record(
                person.id, f"image unreadable: {cached_image}", person.annot_id, person.image_name
            )
            continue
        crop, keypoints = crop_exemplar(
            cached_image, person.keypoints, person.center, person.scale, res, antialias=antialias
        )
        problem = exemplar_problem(crop, keypoints)
        if problem is not None:
            yield skip_record(person.id, problem, person.annot_id, person.image_name)
            continue
        yield {
            "id": person.id,
            "image": crop,
            "keypoints": keypoints,
            "center": np.asarray(person.center, np.float64),
            "scale": float(person.scale),
            "annotId": person.annot_id,
            "imageName": person.image_name,
        }
