"""SPIN's dataset `.npz` files (training layout, `datasets/preprocess/*.py` -> `dataset_extras/`)
-> annotated people.

Fields read (SPIN's `datasets/base_dataset.py`):

    imgname   (N,) str        image path relative to the dataset's image folder
    center    (N, 2)          box centre, image pixels
    scale     (N,)            box side / 200 px
    part      (N, 24, 3)      optional: the 24 ground-truth joints, image pixels + confidence
    openpose  (N, 25, 3)      optional: OpenPose BODY_25 detections, image pixels + confidence

Joint mapping: SPIN-49 is `concatenate([openpose, part])`, exactly as SPIN's dataset builds its
keypoints (no reordering). A missing `part` or `openpose` reads as zeros, as in SPIN. Other fields
(pose, shape, has_smpl, S, gender, ...) are ignored here. Files are read without pickle.

Layout: `--root` is the images folder `imgname` is relative to (SPIN's `DATASET_FOLDERS`), and
`--split` names the `.npz` (absolute, or relative to the root).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from eft_jax.body.joint_sets import GT_OFFSET, NUM_GT_KEYPOINTS, NUM_SPIN49
from eft_jax.datasets.people import AnnotatedPerson, DatasetError, person_or_skip, require_dir
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.exemplar_npz import load_npz_arrays

MIN_KEYPOINTS = 2


def load_spin_npz(path: str | Path, required=("imgname", "center", "scale")) -> dict:
    """The arrays of a SPIN `.npz` file, checked for the fields and shapes SPIN's code uses."""
    path = Path(path)
    arrays = load_npz_arrays(path, DatasetError, "SPIN .npz file")
    missing = [key for key in required if key not in arrays]
    if missing:
        raise DatasetError(f"{path}: missing {missing} (has {sorted(arrays)})")
    n = len(arrays[required[0]])
    shapes = {
        "imgname": (n,),
        "center": (n, 2),
        "scale": (n,),
        "part": (n, NUM_GT_KEYPOINTS, 3),
        "openpose": (n, GT_OFFSET, 3),
        "pose": (n, 72),
        "shape": (n, 10),
        "has_smpl": (n,),
    }
    for key, shape in shapes.items():
        if key in arrays and arrays[key].shape != shape:
            raise DatasetError(f"{path}: '{key}' must have shape {shape}; got {arrays[key].shape}")
    if "imgname" in arrays and arrays["imgname"].dtype.kind not in "US":
        raise DatasetError(f"{path}: 'imgname' must be strings; got {arrays['imgname'].dtype}")
    return arrays


def read_spin_npz(path: str | Path) -> list[AnnotatedPerson | Skip]:
    """An AnnotatedPerson or skip record per row (ids: the row number, '000000', ...)."""
    arrays = load_spin_npz(path)
    n = len(arrays["imgname"])
    keypoints = np.zeros((n, NUM_SPIN49, 3))
    if "openpose" in arrays:
        keypoints[:, :GT_OFFSET] = arrays["openpose"]
    if "part" in arrays:
        keypoints[:, GT_OFFSET:] = arrays["part"]
    names = arrays["imgname"].astype(str)
    return [
        person_or_skip(
            f"{i:06d}",
            names[i],
            keypoints[i],
            box=(arrays["center"][i], float(arrays["scale"][i])),
            min_keypoints=MIN_KEYPOINTS,
        )
        for i in range(n)
    ]


def read_split(root: str | Path, split: str | None = None, selection: str | None = None):
    """(items, images folder): `root` the images folder, `split` the .npz (module docstring)."""
    root = require_dir(root, "images folder")
    if split is None:
        raise DatasetError("--dataset spin-npz needs --split FILE.npz (SPIN's dataset file)")
    if selection is not None:
        raise DatasetError("SPIN .npz input has no selections")
    path = Path(split) if Path(split).is_absolute() else root / split
    return read_spin_npz(path), root


# --- SPIN's preprocessed evaluation files: Human3.6M and MPI-INF-3DHP ---------------------------
#
# Layouts (SPIN's datasets/preprocess/h36m.py and mpi_inf_3dhp.py, which write them to
# `dataset_extras/`): imgname, center, scale and S (N, 24, 4): 3D joints in metres in the 24
# ground-truth keypoints of SPIN-49 (root-relative, 4th column = 1 for the joints the set has);
# MPI-INF-3DHP's test file adds part (N, 24, 3), its 2D joints. Human3.6M's files have no 2D
# joints: its people are cropped for evaluation but have nothing EFT could fit.

EVALUATION_FILES = {"h36m": "h36m_valid_protocol1.npz", "mpi-inf-3dhp": "mpi_inf_3dhp_valid.npz"}


@dataclasses.dataclass
class EvaluationSet:
    items: list[AnnotatedPerson | Skip]  # every row, keypoints or not (a crop for the regressor)
    joints3d: (
        dict  # person id -> (24, 4) ground-truth joints (SPIN's 24 ground-truth joints) + validity
    )


def read_evaluation_npz(path: str | Path) -> EvaluationSet:
    """A SPIN evaluation file (Human3.6M protocol 1 / 2, MPI-INF-3DHP test) with its 3D truth."""
    path = Path(path)
    arrays = load_spin_npz(path, required=("imgname", "center", "scale", "S"))
    n = len(arrays["imgname"])
    if arrays["S"].shape != (n, NUM_GT_KEYPOINTS, 4):
        raise DatasetError(
            f"{path}: 'S' must have shape {(n, NUM_GT_KEYPOINTS, 4)}; got {arrays['S'].shape}"
        )
    keypoints = np.zeros((n, NUM_SPIN49, 3))
    if "part" in arrays:
        keypoints[:, GT_OFFSET:] = arrays["part"]
    names = arrays["imgname"].astype(str)
    items = [
        person_or_skip(
            f"{i:06d}",
            names[i],
            keypoints[i],
            box=(arrays["center"][i], float(arrays["scale"][i])),
            min_keypoints=0,
        )
        for i in range(n)
    ]
    return EvaluationSet(items, {f"{i:06d}": arrays["S"][i] for i in range(n)})


def evaluation_reader(name: str):
    """`read_split` of a SPIN evaluation set: `--root` the images folder, `--split` its .npz
    (default: SPIN's file name for the set, in the root)."""

    def read_split(root: str | Path, split: str | None = None, selection: str | None = None):
        root = require_dir(root, f"{name} images folder")
        if selection is not None:
            raise DatasetError(f"{name} has no selections")
        split = split or EVALUATION_FILES[name]
        path = Path(split) if Path(split).is_absolute() else root / split
        return read_evaluation_npz(path).items, root

    return read_split
