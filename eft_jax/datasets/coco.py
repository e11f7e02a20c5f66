"""COCO keypoint annotations (person_keypoints_{train,val}{2014,2017}.json) -> annotated people.

Joint mapping: COCO-17 -> SPIN-49 ground-truth keypoints (`body.joint_sets.COCO17_TO_SPIN49`, SPIN's
`datasets/preprocess/coco.py` `joints_idx`; COCO's hips go to the LSP hips).

What is kept (SPIN's coco.py and EFT's `eft/db_processing/coco.py`):

- visibility flags v = 1, 2 become confidence 1, v = 0 confidence 0;
- `selection`: "coco-part" (SPIN's set, EFT's COCO2014-Part, 28k people in train2014) keeps a
  person when all 12 limb keypoints (COCO indices 5..16: shoulders, elbows, wrists, hips, knees,
  ankles) are annotated; "coco-all" (EFT's COCO2014-All, 79k) when 6 or more of them are. EFT's
  coco.py keeps SPIN's `< 12` test under "#Change the following to select a subset of coco"
  (eft/db_processing/coco.py:107-109 at c8400a6); the 6 is in its sibling scripts:
  `if sum(keypoints[5:,2]>0) < 6:   #At least 6 joints should be there` in deepfashion.py:89 and
  ochuman.py:62, and the same test commented out beside the `< 12` one in coco-wholebody.py:109;
- the box is the annotation's `bbox` [x, y, w, h]: center = its centre, scale =
  1.2 * max(w, h) / 200. `box="keypoints"` uses the annotated keypoints' bounding box instead.

An image entry may carry the intrinsics of the camera that took it (an eft-jax extension, for
`camera=full_frame`; docs/camera.md): `focal_length` (pixels; one number or [f_x, f_y]) and
`principal_point` ([p_x, p_y] pixels), each optional; a malformed one is a `CocoFormatError`.

Crowd annotations (iscrowd = 1) are dropped (SPIN drops them implicitly: they carry no
keypoints). Every dropped annotation becomes a skip record with its reason. A file that is not a
COCO keypoint file at all raises `CocoFormatError` naming the file and the problem.

Layout under a root (`read_split`): root/annotations/person_keypoints_<split>.json and the images
in root/<split>/ (COCO's own layout; imageName is the file name, as in EFT's files).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eft_jax.body.joint_sets import COCO17_LIMBS, to_spin49
from eft_jax.datasets.people import (
    AnnotatedPerson,
    DatasetError,
    person_or_skip,
    require_dir,
    require_file,
)
from eft_jax.formats.exemplar import Skip
from eft_jax.geometry.crops import BOX_RESCALE, box_from_keypoints, box_from_xywh

SELECTIONS = {"coco-all": 6, "coco-part": 12}  # limb keypoints a person needs (of 12)
SPLITS = ("train2014", "val2014", "train2017", "val2017")


class CocoFormatError(DatasetError):
    """A COCO annotation file that cannot be read as one."""


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
    *,
    selection: str = "coco-all",
    box: str = "bbox",
    rescale: float = BOX_RESCALE,
) -> list[AnnotatedPerson | Skip]:
    """Read a COCO keypoint file: an AnnotatedPerson or a skip record (with its reason) per
    annotation, in annotation order. `selection`: "coco-all" or "coco-part" (module docstring)."""
    path = Path(path)
    if box not in ("bbox", "keypoints"):
        raise ValueError(f"box must be 'bbox' or 'keypoints'; got {box!r}")
    if selection not in SELECTIONS:
        raise DatasetError(f"unknown COCO selection {selection!r}; known: {sorted(SELECTIONS)}")
    min_body_keypoints = SELECTIONS[selection]
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

    images, intrinsics = {}, {}
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
        intrinsics[image["id"]] = _image_intrinsics(image, f"{path}: images[{index}]")

    annotations = data["annotations"]
    if annotations and not any(isinstance(a, dict) and "keypoints" in a for a in annotations):
        raise CocoFormatError(
            f"{path}: no annotation has 'keypoints' - not a COCO keypoint file "
            "(person_keypoints_*.json, not instances_*.json)"
        )

    items = []
    seen = set()
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
            items.append(Skip(str(annot_id), reason, annot_id, image_name))

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
        body = int(coco[COCO17_LIMBS, 2].sum())
        if body < min_body_keypoints:
            skip(f"{body} of 12 limb keypoints annotated ({selection} needs {min_body_keypoints})")
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
        items.append(
            person_or_skip(
                annot_id,
                image_name,
                to_spin49(coco, "coco17"),
                box=(center, scale),
                annot_id=annot_id,
                **intrinsics[image_id],
            )
        )
    return items


def _image_intrinsics(image: dict, where: str) -> dict:
    """The optional `focal_length` and `principal_point` of an image entry (module docstring)."""
    found = {}
    focal = image.get("focal_length")
    if focal is not None:
        values = [focal] if _is_number(focal) else focal
        if not (
            isinstance(values, list)
            and len(values) in (1, 2)
            and all(_is_number(v) and np.isfinite(v) and v > 0 for v in values)
        ):
            raise CocoFormatError(
                f"{where}: 'focal_length' must be a positive number or [f_x, f_y]; got {focal!r}"
            )
        found["focal_length"] = np.broadcast_to(np.asarray(values, np.float64), (2,)).copy()
    principal = image.get("principal_point")
    if principal is not None:
        if not (
            isinstance(principal, list)
            and len(principal) == 2
            and all(_is_number(v) and np.isfinite(v) for v in principal)
        ):
            raise CocoFormatError(
                f"{where}: 'principal_point' must be [p_x, p_y] numbers; got {principal!r}"
            )
        found["principal_point"] = np.asarray(principal, np.float64)
    return found


def read_split(root: str | Path, split: str | None = None, selection: str | None = None):
    """(items, images folder) of COCO's layout under `root` (module docstring); split defaults
    to train2014 (EFT's released sets), selection to coco-all."""
    root = require_dir(root, "COCO root folder")
    split, selection = split or "train2014", selection or "coco-all"
    if split not in SPLITS:
        raise DatasetError(f"unknown COCO split {split!r}; known: {list(SPLITS)}")
    if selection not in SELECTIONS:
        raise DatasetError(f"unknown COCO selection {selection!r}; known: {sorted(SELECTIONS)}")
    annotations = require_file(
        root / "annotations" / f"person_keypoints_{split}.json",
        f"COCO {split} keypoint annotations",
    )
    images_dir = require_dir(root / split, f"COCO {split} images folder")
    return read_coco_keypoints(annotations, selection=selection), images_dir
