"""OpenPose JSON (`<image>_keypoints.json`, one file per image, several people each) -> annotated
people.

Joint mapping: BODY_25 (75 numbers per person) goes into SPIN-49's OpenPose keypoints 0..24 as it is;
COCO-18 (54 numbers, OpenPose's COCO model) into the same keypoints by name
(`body.joint_sets.OPENPOSE18_TO_SPIN49`). Confidences are OpenPose's. Each detected joint with a
ground-truth counterpart (`body.joint_sets.OPENPOSE_INDICES_WITH_GT`: nose, eyes, ears, shoulders,
elbows, wrists, hips, knees, ankles) is copied into that ground-truth keypoint too, with its
confidence: EFT's loss gives the OpenPose keypoints weight 0 (`loss.openpose_weight`, EFT's
`--openpose_train_weight 0`), so without the copy a detection-only exemplar would have nothing to
fit.

The box is EFT's for OpenPose input: the mean of the joints with confidence > 0.2 as the centre
and 1.2 x the longer side of their bounding box / 200 as the scale. A person needs at least
`MIN_KEYPOINTS` such joints; joints with confidence <= 0.2 keep their confidence (the loss
weights them by it) but do not shape the box.

Layout under a root: root/images/<name>.<jpg|png|...> and root/keypoints/<name>_keypoints.json
(OpenPose's `--write_json` folder). Person ids: '<name>_<index in the file>'; an image without
an OpenPose file, or whose file lists no people, is one skip record with id '<name>'.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eft_jax.body.joint_sets import OPENPOSE_INDICES_WITH_GT, to_spin49
from eft_jax.datasets.people import AnnotatedPerson, DatasetError, person_or_skip, require_dir
from eft_jax.formats.exemplar import Skip
from eft_jax.geometry.crops import box_from_keypoints

MIN_CONFIDENCE = 0.2  # EFT's demo: joints above it define the box
MIN_KEYPOINTS = 6
FORMATS = {75: "openpose25", 54: "openpose18"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def openpose_to_spin49(keypoints, fmt: str) -> np.ndarray:
    """(K, 3) OpenPose joints -> (49, 3): the OpenPose keypoints, plus the ground-truth copies."""
    spin = to_spin49(keypoints, fmt)
    op_indices, gt_indices = OPENPOSE_INDICES_WITH_GT.T
    spin[gt_indices] = spin[op_indices]
    return spin


def read_openpose_file(path: str | Path, image_name: str) -> list[AnnotatedPerson | Skip]:
    """The people of one OpenPose JSON file (see the module docstring)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DatasetError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from error
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not UTF-8 text ({error})") from error
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise DatasetError(
            f"{path}: not an OpenPose file (expected an object with a 'people' list)"
        )
    stem = Path(image_name).stem
    if not data["people"]:
        return [Skip(stem, f"no people detected in {path.name}", 0, image_name)]
    items = []
    for index, person in enumerate(data["people"]):
        raw = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if not isinstance(raw, list) or len(raw) not in FORMATS:
            raise DatasetError(
                f"{path}: people[{index}].pose_keypoints_2d must be 75 (BODY_25) or 54 (COCO-18) "
                f"numbers; got {type(raw).__name__}{f' of {len(raw)}' if isinstance(raw, list) else ''}"
            )
        try:
            keypoints = np.asarray(raw, np.float64).reshape(-1, 3)
        except (TypeError, ValueError):
            raise DatasetError(
                f"{path}: people[{index}].pose_keypoints_2d has non-numbers"
            ) from None
        person_id = f"{stem}_{index}"
        if not np.all(np.isfinite(keypoints)):
            items.append(Skip(person_id, "keypoints have NaN or infinite values", 0, image_name))
            continue
        confident = keypoints[keypoints[:, 2] > MIN_CONFIDENCE]
        if len(confident) < MIN_KEYPOINTS:
            items.append(
                Skip(
                    person_id,
                    f"{len(confident)} keypoints with confidence > {MIN_CONFIDENCE} (need {MIN_KEYPOINTS})",
                    0,
                    image_name,
                )
            )
            continue
        try:
            box = box_from_keypoints(keypoints, min_confidence=MIN_CONFIDENCE, center="mean")
        except ValueError as error:
            items.append(Skip(person_id, f"no crop box: {error}", 0, image_name))
            continue
        spin = openpose_to_spin49(keypoints, FORMATS[len(raw)])
        items.append(person_or_skip(person_id, image_name, spin, box=box))
    return items


def read_split(root: str | Path, split: str | None = None, selection: str | None = None):
    """(items, images folder) of OpenPose output under `root` (module docstring), in image order."""
    root = require_dir(root, "OpenPose root folder")
    if split is not None or selection is not None:
        raise DatasetError("OpenPose input has no splits or selections")
    images_dir = require_dir(root / "images", "images folder")
    keypoints_dir = require_dir(
        root / "keypoints", "OpenPose keypoints folder (--write_json output)"
    )
    images = sorted(p.name for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    items = []
    for name in images:
        json_path = keypoints_dir / f"{Path(name).stem}_keypoints.json"
        if not json_path.is_file():
            items.append(Skip(Path(name).stem, f"no OpenPose file {json_path.name}", 0, name))
            continue
        items.extend(read_openpose_file(json_path, name))
    return items, images_dir
