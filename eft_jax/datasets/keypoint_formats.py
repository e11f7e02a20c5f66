"""Native 2D keypoint orders and where they go in SPIN's 49 slots.

SPIN-49 (`eft_jax.body.SPIN49_NAMES`, SPIN's `constants.JOINT_NAMES`) is 25 OpenPose BODY_25
slots followed by 24 "ground-truth" slots. The facts (SPIN's `datasets/preprocess/*.py`):

- COCO-17 goes into the ground-truth slots (coco.py, `joints_idx`); COCO's hips go to the
  LSP hip slots;
- MPII-16 goes into the ground-truth slots (mpii.py; pelvis / thorax to the MPII slots, upper
  neck to "Neck (LSP)", head top to "Top of Head (LSP)");
- LSP-14 is the first 14 ground-truth slots (lsp_dataset.py, hr_lspet.py);
- OpenPose BODY_25 detections are the first 25 slots as they are; OpenPose-18 (its COCO model,
  the order of EFT's `joint_validity_openpose18`) goes to the same OpenPose slots by name.

`joint_validity_openpose18` is computed as EFT's exporter does it (`eft/utils/exportDB.py`):
the ground-truth slots' confidences, picked in OpenPose-18 order through EFT's
`JOINT_MAP_SPIN24_TO_OPENPOSE18` (`eft/cores/jointorders.py`), where "OP_Neck" is the LSP neck.
"""

from __future__ import annotations

import numpy as np

from eft_jax.body import SPIN49_NAMES

NUM_SPIN49 = 49
GT_OFFSET = 25  # the 24 ground-truth slots start here


def _slots(names) -> np.ndarray:
    return np.array([SPIN49_NAMES.index(name) for name in names], dtype=np.int32)


COCO17_ORDER = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
COCO17_TO_SPIN49 = _slots(
    (
        "Nose", "Left Eye", "Right Eye", "Left Ear", "Right Ear", "Left Shoulder",
        "Right Shoulder", "Left Elbow", "Right Elbow", "Left Wrist", "Right Wrist", "Left Hip",
        "Right Hip", "Left Knee", "Right Knee", "Left Ankle", "Right Ankle",
    )
)  # fmt: skip

MPII16_ORDER = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis",
    "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder",
    "left_shoulder", "left_elbow", "left_wrist",
)  # fmt: skip
MPII16_TO_SPIN49 = _slots(
    (
        "Right Ankle", "Right Knee", "Right Hip", "Left Hip", "Left Knee", "Left Ankle",
        "Pelvis (MPII)", "Thorax (MPII)", "Neck (LSP)", "Top of Head (LSP)", "Right Wrist",
        "Right Elbow", "Right Shoulder", "Left Shoulder", "Left Elbow", "Left Wrist",
    )
)  # fmt: skip

LSP14_ORDER = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top",
)  # fmt: skip
LSP14_TO_SPIN49 = np.arange(GT_OFFSET, GT_OFFSET + 14, dtype=np.int32)

OPENPOSE25_ORDER = tuple(name[3:] for name in SPIN49_NAMES[:25])  # "Nose", "Neck", "RShoulder", ...
OPENPOSE25_TO_SPIN49 = np.arange(25, dtype=np.int32)

OPENPOSE18_ORDER = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip",
    "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
)  # fmt: skip
OPENPOSE18_TO_SPIN49 = _slots(tuple("OP " + name for name in OPENPOSE18_ORDER))

# EFT's JOINT_MAP_SPIN24_TO_OPENPOSE18 as SPIN-49 slots: the ground-truth joint standing for each
# OpenPose-18 joint (EFT names the LSP neck "OP_Neck").
SPIN49_GT_FOR_OPENPOSE18 = _slots(
    (
        "Nose", "Neck (LSP)", "Right Shoulder", "Right Elbow", "Right Wrist", "Left Shoulder",
        "Left Elbow", "Left Wrist", "Right Hip", "Right Knee", "Right Ankle", "Left Hip",
        "Left Knee", "Left Ankle", "Right Eye", "Left Eye", "Right Ear", "Left Ear",
    )
)  # fmt: skip

FORMATS = {
    "coco17": (COCO17_ORDER, COCO17_TO_SPIN49),
    "mpii16": (MPII16_ORDER, MPII16_TO_SPIN49),
    "lsp14": (LSP14_ORDER, LSP14_TO_SPIN49),
    "openpose25": (OPENPOSE25_ORDER, OPENPOSE25_TO_SPIN49),
    "openpose18": (OPENPOSE18_ORDER, OPENPOSE18_TO_SPIN49),
    "spin49": (tuple(SPIN49_NAMES), np.arange(NUM_SPIN49, dtype=np.int32)),
}


def format_names(fmt: str) -> tuple[str, ...]:
    """Joint names of a native format, in its order."""
    return _format(fmt)[0]


def spin49_slots(fmt: str) -> np.ndarray:
    """(K,) SPIN-49 slot of each native joint."""
    return _format(fmt)[1].copy()


def _format(fmt: str):
    try:
        return FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown keypoint format {fmt!r}; known: {sorted(FORMATS)}") from None


def to_spin49(keypoints, fmt: str) -> np.ndarray:
    """Native keypoints (..., K, 3) [x, y, confidence] -> (..., 49, 3) in SPIN's slots.

    Slots the format does not provide are (0, 0, 0). Coordinates are copied unchanged (image
    pixels stay image pixels). Native confidences are kept; COCO visibility flags should be
    turned into 0 / 1 first (see `coco_keypoints`).
    """
    names, slots = _format(fmt)
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.ndim < 2 or keypoints.shape[-2:] != (len(names), 3):
        raise ValueError(
            f"{fmt} keypoints must have shape (..., {len(names)}, 3); got {keypoints.shape}"
        )
    out = np.zeros(keypoints.shape[:-2] + (NUM_SPIN49, 3), np.float64)
    out[..., slots, :] = keypoints
    return out


def from_spin49(spin49, fmt: str) -> np.ndarray:
    """(..., 49, D) -> (..., K, D) in a native order (the inverse selection of `to_spin49`)."""
    _, slots = _format(fmt)
    spin49 = np.asarray(spin49)
    if spin49.ndim < 2 or spin49.shape[-2] != NUM_SPIN49:
        raise ValueError(f"expected (..., 49, D) keypoints; got {spin49.shape}")
    return spin49[..., slots, :]


def joint_validity_openpose18(spin49, include_openpose: bool = False) -> np.ndarray:
    """(..., 49, 3) keypoints -> (..., 18) validity in OpenPose-18 order, as EFT exports it.

    EFT takes the ground-truth slots' confidences (0 / 1 for annotated data sets) through
    `JOINT_MAP_SPIN24_TO_OPENPOSE18`; here they are made binary (confidence > 0 -> 1.0, else
    0.0). With include_openpose, a joint is also valid when its OpenPose slot has confidence
    (useful for inputs that are OpenPose detections only, which EFT's rule marks all invalid).
    """
    spin49 = np.asarray(spin49, np.float64)
    if spin49.ndim < 2 or spin49.shape[-2:] != (NUM_SPIN49, 3):
        raise ValueError(f"expected (..., 49, 3) keypoints; got {spin49.shape}")
    valid = spin49[..., SPIN49_GT_FOR_OPENPOSE18, 2] > 0
    if include_openpose:
        valid |= spin49[..., OPENPOSE18_TO_SPIN49, 2] > 0
    return valid.astype(np.float64)
