"""MPII Human Pose (`mpii_human_pose_v1_u12_1.mat`) -> annotated people.

Joint mapping: MPII-16 (point ids 0..15: r ankle, r knee, r hip, l hip, l knee, l ankle, pelvis,
thorax, upper neck, head top, r wrist, r elbow, r shoulder, l shoulder, l elbow, l wrist) ->
SPIN-49 ground-truth keypoints (`body.joint_sets.MPII16_TO_SPIN49`, SPIN's
`datasets/preprocess/mpii.py` `joints_idx`: pelvis / thorax to the MPII keypoints, upper neck to
"Neck (LSP)", head top to "Top of Head (LSP)").

What is kept (SPIN's and EFT's mpii.py, which read the same fields from pose-hg-train's
`train.h5`): training images (`img_train == 1`), every annotated person (`annorect`) whose 16
joints are all annotated; every annotated joint gets confidence 1, as SPIN sets it (the file's
`is_visible` flag is not used); the box is the person's `objpos` (center) and `scale` (box side /
200 px, MPII's person scale). People without points, with fewer than 16 joints or without
objpos / scale are skip records with the reason.

Layout under a root: root/mpii_human_pose_v1_u12_1.mat (or in root/annot/, or in
root/mpii_human_pose_v1_u12_2/ as the official annotation archive unpacks) and root/images/.
Reading the `.mat` needs scipy (`scipy.io.loadmat`), which jax itself depends on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eft_jax.body.joint_sets import to_spin49
from eft_jax.datasets.people import AnnotatedPerson, DatasetError, person_or_skip, require_dir
from eft_jax.formats.exemplar import Skip

ANNOTATION_FILE = "mpii_human_pose_v1_u12_1.mat"
ARCHIVE_FOLDER = "mpii_human_pose_v1_u12_2"  # what the official annotation archive unpacks to
NUM_JOINTS = 16


def _list(value) -> list:
    """A squeezed MATLAB struct array as a list (a lone struct is one item, an empty array none)."""
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    return [value]


def _number(value) -> float | None:
    try:
        number = float(np.asarray(value, np.float64).reshape(()))
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _load(path: Path):
    try:
        from scipy.io import loadmat
    except ImportError as error:  # pragma: no cover - scipy comes with jax
        raise DatasetError(
            f"{path}: reading MPII's .mat needs scipy (pip install scipy)"
        ) from error
    try:
        data = loadmat(path, squeeze_me=True, struct_as_record=False)
    except Exception as error:  # truncated or not a MATLAB file: scipy raises several kinds
        raise DatasetError(
            f"{path}: not a readable MATLAB file ({type(error).__name__}: {error})"
        ) from error
    release = data.get("RELEASE")
    if release is None:
        raise DatasetError(
            f"{path}: no 'RELEASE' struct (has {sorted(k for k in data if not k.startswith('__'))})"
        )
    for field in ("annolist", "img_train"):
        if not hasattr(release, field):
            raise DatasetError(f"{path}: RELEASE has no '{field}' field")
    annolist, img_train = _list(release.annolist), np.atleast_1d(np.asarray(release.img_train))
    if len(annolist) != len(img_train):
        raise DatasetError(
            f"{path}: RELEASE.annolist has {len(annolist)} entries but img_train {len(img_train)}"
        )
    return annolist, img_train


def read_mpii(path: str | Path) -> list[AnnotatedPerson | Skip]:
    """An AnnotatedPerson or skip record per annotated person of the training images, in order."""
    path = Path(path)
    annolist, img_train = _load(path)
    items = []
    for index, (entry, train) in enumerate(zip(annolist, img_train)):
        if int(train) != 1:
            continue
        try:
            image_name = str(entry.image.name)
        except AttributeError:
            raise DatasetError(f"{path}: annolist[{index}] has no image.name") from None
        rects = _list(getattr(entry, "annorect", []))
        for rect_index, rect in enumerate(rects):
            person_id = f"{index}_{rect_index}"

            def skip(reason, i=person_id, name=image_name):
                items.append(Skip(i, reason, 0, name))

            points = getattr(getattr(rect, "annopoints", None), "point", None)
            if points is None:
                skip("no annotated points")
                continue
            joints = np.zeros((NUM_JOINTS, 3))
            for point in _list(points):
                joint, x, y = (_number(getattr(point, k, None)) for k in ("id", "x", "y"))
                if joint is None or not 0 <= joint < NUM_JOINTS or x is None or y is None:
                    raise DatasetError(
                        f"{path}: annolist[{index}].annorect[{rect_index}] has a malformed point"
                    )
                joints[int(joint)] = (x, y, 1.0)
            annotated = int(joints[:, 2].sum())
            if annotated < NUM_JOINTS:
                skip(f"{annotated} of {NUM_JOINTS} joints annotated (SPIN's MPII set needs all)")
                continue
            objpos = getattr(rect, "objpos", None)
            center = [_number(getattr(objpos, k, None)) for k in ("x", "y")]
            scale = _number(getattr(rect, "scale", None))
            if None in center or scale is None:
                skip("no objpos / scale (no crop box)")
                continue
            items.append(
                person_or_skip(
                    person_id, image_name, to_spin49(joints, "mpii16"), box=(center, scale)
                )
            )
    return items


def read_split(root: str | Path, split: str | None = None, selection: str | None = None):
    """(items, images folder) of MPII under `root` (module docstring)."""
    root = require_dir(root, "MPII root folder")
    if split not in (None, "train"):
        raise DatasetError(f"MPII has keypoints only for split 'train'; got {split!r}")
    if selection is not None:
        raise DatasetError(f"MPII has one selection (SPIN's: all 16 joints); got {selection!r}")
    folders = ("", "annot", ARCHIVE_FOLDER)
    for candidate in (root / folder / ANNOTATION_FILE for folder in folders):
        if candidate.is_file():
            break
    else:
        raise DatasetError(
            f"{root}: no {ANNOTATION_FILE} (in the root, root/annot/ or root/{ARCHIVE_FOLDER}/)"
        )
    images_dir = require_dir(root / "images", "MPII images folder")
    return read_mpii(candidate), images_dir
