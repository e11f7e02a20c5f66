"""3DPW (the official `sequenceFiles/<split>/*.pkl`) -> annotated people with SMPL ground truth.

Fields read per sequence file (as SPIN's `datasets/preprocess/pw3d.py` reads them):
`sequence` (name), `poses` (per person: frames x 72 axis-angle), `betas` (per person: >= 10),
`poses2d` (per person: frames x 3 x 18, OpenPose COCO-18 with confidences), `cam_poses` (frames x
4 x 4 camera extrinsics), `campose_valid` (per person: frames), `genders` (per person: 'm' / 'f'),
and `cam_intrinsics` (3 x 3, the sequence's camera matrix K) when present: every person carries
its focal length (K[0, 0], K[1, 1]) and principal point (K[0, 2], K[1, 2]) for camera=full_frame.
The files are Python pickles; they are read with eft-jax's restricted unpickler
(`eft_jax.safe_pickle`), so a crafted file cannot run code.

Joint mapping: COCO-18 (`body.joint_sets.OPENPOSE18_TO_SPIN49`) into the OpenPose keypoints, copied to
the ground-truth keypoints as for OpenPose input (`datasets.openpose.openpose_to_spin49`).
Kept, as SPIN: frames where the camera pose is valid for that person; the box is the bounding
box of the joints with confidence > 0 (centre, 1.2 x longer side / 200). Ground truth per kept
person (`Pw3dSet.truth`, for evaluation): pose (72, the global orientation rotated into the
camera frame by `cam_poses`, as SPIN does), betas (first 10), gender.

Layout under a root: root/sequenceFiles/{train,validation,test}/*.pkl and
root/imageFiles/<sequence>/image_00000.jpg ...; imageName is 'imageFiles/<sequence>/image_%05d.jpg'.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from eft_jax.datasets.openpose import openpose_to_spin49
from eft_jax.datasets.people import AnnotatedPerson, DatasetError, person_or_skip, require_dir
from eft_jax.formats.exemplar import Skip
from eft_jax.geometry import axis_angle_to_rotmat, rotmat_to_axis_angle
from eft_jax.safe_pickle import PickleFileError, load_data_pickle

SPLITS = ("train", "validation", "test")
KEYS = ("sequence", "poses", "betas", "poses2d", "cam_poses", "campose_valid", "genders")


@dataclasses.dataclass
class Pw3dSet:
    items: list[AnnotatedPerson | Skip]
    truth: dict  # person id -> {"pose": (72,), "betas": (10,), "gender": "m" | "f"}


def _camera_frame_pose(poses: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """(F, 72) world-frame poses -> camera frame: global orientation R_cam @ R_root."""
    root = np.asarray(axis_angle_to_rotmat(poses[:, :3].astype(np.float32)), np.float64)
    rotated = extrinsics[:, :3, :3] @ root
    out = poses.astype(np.float64).copy()
    out[:, :3] = np.asarray(rotmat_to_axis_angle(rotated.astype(np.float32)), np.float64)
    return out


def read_sequence(path: str | Path) -> Pw3dSet:
    """The people of one 3DPW sequence file, in (person, frame) order."""
    path = Path(path)
    try:
        data = load_data_pickle(path)
    except PickleFileError as error:
        raise DatasetError(str(error)) from error
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a dict of 3DPW fields; got {type(data).__name__}")
    missing = [key for key in KEYS if key not in data]
    if missing:
        raise DatasetError(f"{path}: missing {missing} (has {sorted(data)})")
    sequence = str(data["sequence"])
    people = len(data["poses"])
    cam_poses = np.asarray(data["cam_poses"], np.float64)
    frames = cam_poses.shape[0]
    if cam_poses.shape != (frames, 4, 4):
        raise DatasetError(f"{path}: 'cam_poses' must be (frames, 4, 4); got {cam_poses.shape}")
    intrinsics = {}
    if "cam_intrinsics" in data:
        K = np.asarray(data["cam_intrinsics"], np.float64)
        if K.shape != (3, 3) or not np.all(np.isfinite(K)) or not (K[0, 0] > 0 and K[1, 1] > 0):
            raise DatasetError(
                f"{path}: 'cam_intrinsics' must be a 3 x 3 camera matrix with positive focal "
                f"lengths; got {K.tolist() if K.size <= 9 else K.shape}"
            )
        intrinsics = {
            "focal_length": (K[0, 0], K[1, 1]),
            "principal_point": (K[0, 2], K[1, 2]),
        }
    for key in ("betas", "poses2d", "campose_valid", "genders"):
        if len(data[key]) != people:
            raise DatasetError(f"{path}: '{key}' has {len(data[key])} people, 'poses' {people}")
    items, truth = [], {}
    for person in range(people):
        poses = np.asarray(data["poses"][person], np.float64)
        poses2d = np.asarray(data["poses2d"][person], np.float64)
        valid = np.asarray(data["campose_valid"][person]).astype(bool)
        betas = np.asarray(data["betas"][person], np.float64).ravel()
        if (
            poses.shape != (frames, 72)
            or poses2d.shape != (frames, 3, 18)
            or valid.shape != (frames,)
        ):
            raise DatasetError(
                f"{path}: person {person}: poses {poses.shape}, poses2d {poses2d.shape}, campose_valid "
                f"{valid.shape}; expected ({frames}, 72), ({frames}, 3, 18), ({frames},)"
            )
        if betas.size < 10:
            raise DatasetError(
                f"{path}: person {person}: 'betas' has {betas.size} values, expected >= 10"
            )
        camera_poses = _camera_frame_pose(poses, cam_poses)
        for frame in np.flatnonzero(valid):
            person_id = f"{sequence}_{person}_{frame:05d}"
            image_name = f"imageFiles/{sequence}/image_{frame:05d}.jpg"
            item = person_or_skip(
                person_id,
                image_name,
                openpose_to_spin49(poses2d[frame].T, "openpose18"),
                min_keypoints=2,
                **intrinsics,
            )
            items.append(item)
            if not isinstance(item, Skip):
                truth[person_id] = {
                    "pose": camera_poses[frame],
                    "betas": betas[:10],
                    "gender": str(data["genders"][person]),
                }
    return Pw3dSet(items, truth)


def read_pw3d(root: str | Path, split: str = "test") -> Pw3dSet:
    """Every sequence of a split, in file-name order."""
    root = require_dir(root, "3DPW root folder")
    if split not in SPLITS:
        raise DatasetError(f"unknown 3DPW split {split!r}; known: {list(SPLITS)}")
    folder = require_dir(root / "sequenceFiles" / split, f"3DPW sequenceFiles/{split} folder")
    files = sorted(folder.glob("*.pkl"))
    if not files:
        raise DatasetError(f"{folder}: no .pkl sequence files")
    items, truth = [], {}
    for path in files:
        sequence = read_sequence(path)
        items.extend(sequence.items)
        truth.update(sequence.truth)
    return Pw3dSet(items, truth)


def read_split(root: str | Path, split: str | None = None, selection: str | None = None):
    """(items, images folder) of 3DPW under `root` (module docstring); split defaults to test."""
    if selection is not None:
        raise DatasetError("3DPW has no selections")
    dataset = read_pw3d(root, split or "test")
    require_dir(Path(root) / "imageFiles", "3DPW imageFiles folder")
    return dataset.items, Path(root)
