"""Named joint sets and how each is read off a posed body.

Every joint set is a selection from one *source* array that the forward pass assembles:

    source = [ 24 skeleton joints | 11 vertex keypoints | 9 extra-regressor joints ]
               0 .. 23              24 .. 34              35 .. 43

- skeleton joints: SMPL's 24 joints after skinning;
- vertex keypoints: single mesh vertices for the OpenPose / COCO face and foot points, in
  `VERTEX_KEYPOINT_NAMES` order (SMPL: the vertex ids smplx uses; open model: its own ids);
- extra joints: SPIN's `J_regressor_extra.npy` (9 x V), in `EXTRA_JOINT_NAMES` order. The
  official SMPL file has no such regressor: the user supplies SPIN's file, and without it the
  keypoints that need it are marked unavailable (never approximated silently).

SPIN-49 follows SPIN's `constants.JOINT_NAMES`: 25 OpenPose joints, then 24 "ground-truth"
joints (a superset of LSP, MPII, H36M and COCO face joints).

The second half of this module is the one home of the datasets' native 2D keypoint orders and
their SPIN-49 keypoints (`to_spin49`, `from_spin49`, `joint_validity_openpose18`); the readers in
`eft_jax.datasets` and the writers in `eft_jax.formats` import them from here.
"""

from __future__ import annotations

import numpy as np

SMPL_JOINT_NAMES = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)

SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

NUM_SMPL_JOINTS = 24

VERTEX_KEYPOINT_NAMES = (
    "nose",
    "right_eye",
    "left_eye",
    "right_ear",
    "left_ear",
    "left_big_toe",
    "left_small_toe",
    "left_heel",
    "right_big_toe",
    "right_small_toe",
    "right_heel",
)

# SMPL vertex ids of the keypoints above (smplx's `vertex_ids['smplh']`, which SPIN uses).
SMPL_VERTEX_KEYPOINT_IDS = (332, 6260, 2800, 4071, 583, 3216, 3226, 3387, 6617, 6624, 6787)

EXTRA_JOINT_NAMES = (
    "right_hip_lsp",
    "left_hip_lsp",
    "neck_lsp",
    "head_top_lsp",
    "pelvis_mpii",
    "thorax_mpii",
    "spine_h36m",
    "jaw_h36m",
    "head_h36m",
)

_VERTEX_OFFSET = NUM_SMPL_JOINTS
_EXTRA_OFFSET = NUM_SMPL_JOINTS + len(VERTEX_KEYPOINT_NAMES)
SOURCE_SIZE = _EXTRA_OFFSET + len(EXTRA_JOINT_NAMES)


def _skeleton(name):
    return SMPL_JOINT_NAMES.index(name)


def _vertex(name):
    return _VERTEX_OFFSET + VERTEX_KEYPOINT_NAMES.index(name)


def _extra(name):
    return _EXTRA_OFFSET + EXTRA_JOINT_NAMES.index(name)


# (SPIN name, source index), in SPIN's order.
_SPIN49 = (
    ("OP Nose", _vertex("nose")),
    ("OP Neck", _skeleton("neck")),
    ("OP RShoulder", _skeleton("right_shoulder")),
    ("OP RElbow", _skeleton("right_elbow")),
    ("OP RWrist", _skeleton("right_wrist")),
    ("OP LShoulder", _skeleton("left_shoulder")),
    ("OP LElbow", _skeleton("left_elbow")),
    ("OP LWrist", _skeleton("left_wrist")),
    ("OP MidHip", _skeleton("pelvis")),
    ("OP RHip", _skeleton("right_hip")),
    ("OP RKnee", _skeleton("right_knee")),
    ("OP RAnkle", _skeleton("right_ankle")),
    ("OP LHip", _skeleton("left_hip")),
    ("OP LKnee", _skeleton("left_knee")),
    ("OP LAnkle", _skeleton("left_ankle")),
    ("OP REye", _vertex("right_eye")),
    ("OP LEye", _vertex("left_eye")),
    ("OP REar", _vertex("right_ear")),
    ("OP LEar", _vertex("left_ear")),
    ("OP LBigToe", _vertex("left_big_toe")),
    ("OP LSmallToe", _vertex("left_small_toe")),
    ("OP LHeel", _vertex("left_heel")),
    ("OP RBigToe", _vertex("right_big_toe")),
    ("OP RSmallToe", _vertex("right_small_toe")),
    ("OP RHeel", _vertex("right_heel")),
    ("Right Ankle", _skeleton("right_ankle")),
    ("Right Knee", _skeleton("right_knee")),
    ("Right Hip", _extra("right_hip_lsp")),
    ("Left Hip", _extra("left_hip_lsp")),
    ("Left Knee", _skeleton("left_knee")),
    ("Left Ankle", _skeleton("left_ankle")),
    ("Right Wrist", _skeleton("right_wrist")),
    ("Right Elbow", _skeleton("right_elbow")),
    ("Right Shoulder", _skeleton("right_shoulder")),
    ("Left Shoulder", _skeleton("left_shoulder")),
    ("Left Elbow", _skeleton("left_elbow")),
    ("Left Wrist", _skeleton("left_wrist")),
    ("Neck (LSP)", _extra("neck_lsp")),
    ("Top of Head (LSP)", _extra("head_top_lsp")),
    ("Pelvis (MPII)", _extra("pelvis_mpii")),
    ("Thorax (MPII)", _extra("thorax_mpii")),
    ("Spine (H36M)", _extra("spine_h36m")),
    ("Jaw (H36M)", _extra("jaw_h36m")),
    ("Head (H36M)", _extra("head_h36m")),
    ("Nose", _vertex("nose")),
    ("Left Eye", _vertex("left_eye")),
    ("Right Eye", _vertex("right_eye")),
    ("Left Ear", _vertex("left_ear")),
    ("Right Ear", _vertex("right_ear")),
)

SPIN49_NAMES = tuple(name for name, _ in _SPIN49)
SPIN49_SOURCE = np.array([index for _, index in _SPIN49], dtype=np.int32)
SPIN49_NEEDS_EXTRA = SPIN49_SOURCE >= _EXTRA_OFFSET


def _mirrored_name(name: str) -> str:
    """A SPIN-49 name with left and right exchanged ("OP RHip" <-> "OP LHip", "Right Knee" <->
    "Left Knee"); central joints keep their name."""
    if name.startswith("OP ") and name[3] in "RL" and name[4].isupper():
        return "OP " + {"R": "L", "L": "R"}[name[3]] + name[4:]
    return name.replace("Right", "@").replace("Left", "Right").replace("@", "Left")


# SMPL joint -> the index of its left/right counterpart (itself for the central joints).
SMPL_MIRROR = np.array(
    [
        SMPL_JOINT_NAMES.index(
            name.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
        )
        for name in SMPL_JOINT_NAMES
    ],
    dtype=np.int32,
)

# SPIN-49 keypoint -> the index of its left/right counterpart (itself for central joints): the keypoint a
# keypoint moves to when the image is mirrored horizontally (SPIN's constants.J49_FLIP_PERM).
SPIN49_MIRROR = np.array(
    [SPIN49_NAMES.index(_mirrored_name(n)) for n in SPIN49_NAMES], dtype=np.int32
)

# LSP-14 is SPIN-49's first 14 ground-truth keypoints (SPIN's J24_TO_J14).
LSP14_IN_SPIN49 = np.arange(25, 39, dtype=np.int32)  # SPIN-49 keypoints of LSP-14, in LSP's order
LSP14_NAMES = tuple(SPIN49_NAMES[slot] for slot in LSP14_IN_SPIN49)
LSP14_SOURCE = SPIN49_SOURCE[LSP14_IN_SPIN49]

COCO17_NAMES = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)


def coco17_source(has_extra: bool) -> np.ndarray:
    """Source indices of COCO-17.

    COCO's hip keypoints sit lower and wider than SMPL's hip joints; SPIN places them in the
    LSP hip keypoints, which need the extra regressor. Without it the SMPL hip joints stand in
    (an approximation of a few centimetres, stated here and in the README).
    """
    hips = (
        (_extra("left_hip_lsp"), _extra("right_hip_lsp"))
        if has_extra
        else (_skeleton("left_hip"), _skeleton("right_hip"))
    )
    return np.array(
        [
            _vertex("nose"),
            _vertex("left_eye"),
            _vertex("right_eye"),
            _vertex("left_ear"),
            _vertex("right_ear"),
            _skeleton("left_shoulder"),
            _skeleton("right_shoulder"),
            _skeleton("left_elbow"),
            _skeleton("right_elbow"),
            _skeleton("left_wrist"),
            _skeleton("right_wrist"),
            *hips,
            _skeleton("left_knee"),
            _skeleton("right_knee"),
            _skeleton("left_ankle"),
            _skeleton("right_ankle"),
        ],
        dtype=np.int32,
    )


# The rows of SPIN's J_regressor_h36m.npy. Its legs are the reverse of Human3.6M's usual labels
# (rows 1-3 the left leg, 4-6 the right): SPIN's H36M_TO_J17 below takes LSP's right hip from row 4
# and its left hip from row 1.
H36M17_NAMES = (
    "pelvis",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_hip",
    "right_knee",
    "right_ankle",
    "spine",
    "thorax",
    "neck_nose",
    "head",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)

# SPIN's evaluation joint sets (nkolot/SPIN constants.py, used by eval.py). A prediction's joints
# are its H36M-17 joints (J_regressor_h36m on the mesh) picked with H36M_TO_J17 / J14; the
# benchmarks' 3D truth `S` (N, 24, 4) is in SPIN-49's 24 ground-truth keypoints, picked with
# J24_TO_J17 / J14. MPI-INF-3DHP uses all 17; Human3.6M and 3DPW the first 14 (LSP-14's order).
# Both are centred on their pelvis first: H36M-17 joint 0, ground-truth keypoint 14 (Pelvis (MPII)).
H36M_TO_J17 = np.array([6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10, 0, 7, 9], dtype=np.int32)
H36M_TO_J14 = H36M_TO_J17[:14]
J24_TO_J17 = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18, 14, 16, 17], dtype=np.int32)
J24_TO_J14 = J24_TO_J17[:14]
H36M_PELVIS = 0
J24_PELVIS = 14


# --- Native 2D keypoint orders and where they go in SPIN's 49 keypoints -------------------------------
#
# The facts (SPIN's `datasets/preprocess/*.py`):
# - COCO-17 goes into the ground-truth keypoints (coco.py, `joints_idx`); COCO's hips go to the LSP
#   hips;
# - MPII-16 goes into the ground-truth keypoints (mpii.py; pelvis / thorax to the MPII keypoints, upper neck
#   to "Neck (LSP)", head top to "Top of Head (LSP)");
# - LSP-14 is the first 14 ground-truth keypoints (lsp_dataset.py, hr_lspet.py);
# - OpenPose BODY_25 detections are the first 25 keypoints as they are; OpenPose-18 (its COCO model, the
#   order of EFT's `joint_validity_openpose18` and of 3DPW's `poses2d`) goes to the same OpenPose
#   keypoints by name.
#
# `joint_validity_openpose18` is computed as EFT's exporter does it (`eft/utils/exportDB.py`): the
# ground-truth keypoints' confidences, picked in OpenPose-18 order through EFT's
# `JOINT_MAP_SPIN24_TO_OPENPOSE18` (`eft/cores/jointorders.py`), where "OP_Neck" is the LSP neck.

NUM_SPIN49 = len(SPIN49_NAMES)
NUM_OPENPOSE_KEYPOINTS = 25  # SPIN-49 keypoints 0..24 are OpenPose BODY_25
GT_OFFSET = NUM_OPENPOSE_KEYPOINTS  # the 24 ground-truth keypoints start here
NUM_GT_KEYPOINTS = NUM_SPIN49 - GT_OFFSET


def _spin49_indices(names) -> np.ndarray:
    return np.array([SPIN49_NAMES.index(name) for name in names], dtype=np.int32)


COCO17_TO_SPIN49 = _spin49_indices(
    (
        "Nose",
        "Left Eye",
        "Right Eye",
        "Left Ear",
        "Right Ear",
        "Left Shoulder",
        "Right Shoulder",
        "Left Elbow",
        "Right Elbow",
        "Left Wrist",
        "Right Wrist",
        "Left Hip",
        "Right Hip",
        "Left Knee",
        "Right Knee",
        "Left Ankle",
        "Right Ankle",
    )
)
COCO17_LIMBS = np.arange(5, 17)  # COCO's 12 limb keypoints: shoulders .. ankles

MPII16_NAMES = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
)
MPII16_TO_SPIN49 = _spin49_indices(
    (
        "Right Ankle",
        "Right Knee",
        "Right Hip",
        "Left Hip",
        "Left Knee",
        "Left Ankle",
        "Pelvis (MPII)",
        "Thorax (MPII)",
        "Neck (LSP)",
        "Top of Head (LSP)",
        "Right Wrist",
        "Right Elbow",
        "Right Shoulder",
        "Left Shoulder",
        "Left Elbow",
        "Left Wrist",
    )
)

OPENPOSE25_NAMES = tuple(
    name[3:] for name in SPIN49_NAMES[:NUM_OPENPOSE_KEYPOINTS]
)  # "Nose", "Neck", ...
OPENPOSE25_TO_SPIN49 = np.arange(NUM_OPENPOSE_KEYPOINTS, dtype=np.int32)

OPENPOSE18_NAMES = (
    "Nose",
    "Neck",
    "RShoulder",
    "RElbow",
    "RWrist",
    "LShoulder",
    "LElbow",
    "LWrist",
    "RHip",
    "RKnee",
    "RAnkle",
    "LHip",
    "LKnee",
    "LAnkle",
    "REye",
    "LEye",
    "REar",
    "LEar",
)
OPENPOSE18_TO_SPIN49 = _spin49_indices(tuple("OP " + name for name in OPENPOSE18_NAMES))

# EFT's JOINT_MAP_SPIN24_TO_OPENPOSE18 as SPIN-49 keypoints: the ground-truth joint standing for each
# OpenPose-18 joint (EFT names the LSP neck "OP_Neck").
SPIN49_GT_FOR_OPENPOSE18 = _spin49_indices(
    (
        "Nose",
        "Neck (LSP)",
        "Right Shoulder",
        "Right Elbow",
        "Right Wrist",
        "Left Shoulder",
        "Left Elbow",
        "Left Wrist",
        "Right Hip",
        "Right Knee",
        "Right Ankle",
        "Left Hip",
        "Left Knee",
        "Left Ankle",
        "Right Eye",
        "Left Eye",
        "Right Ear",
        "Left Ear",
    )
)

# OpenPose keypoints whose joint also has a ground-truth keypoint (the same anatomical point, as SPIN places
# COCO's joints): (OpenPose keypoint, ground-truth keypoint) pairs. Neck, mid-hip and the feet have none.
OPENPOSE_INDICES_WITH_GT = np.array(
    [
        (SPIN49_NAMES.index("OP " + op), SPIN49_NAMES.index(gt))
        for op, gt in (
            ("Nose", "Nose"),
            ("RShoulder", "Right Shoulder"),
            ("RElbow", "Right Elbow"),
            ("RWrist", "Right Wrist"),
            ("LShoulder", "Left Shoulder"),
            ("LElbow", "Left Elbow"),
            ("LWrist", "Left Wrist"),
            ("RHip", "Right Hip"),
            ("RKnee", "Right Knee"),
            ("RAnkle", "Right Ankle"),
            ("LHip", "Left Hip"),
            ("LKnee", "Left Knee"),
            ("LAnkle", "Left Ankle"),
            ("REye", "Right Eye"),
            ("LEye", "Left Eye"),
            ("REar", "Right Ear"),
            ("LEar", "Left Ear"),
        )
    ],
    dtype=np.int32,
)

KEYPOINT_FORMATS = {
    "coco17": (COCO17_NAMES, COCO17_TO_SPIN49),
    "mpii16": (MPII16_NAMES, MPII16_TO_SPIN49),
    "lsp14": (LSP14_NAMES, LSP14_IN_SPIN49),
    "openpose25": (OPENPOSE25_NAMES, OPENPOSE25_TO_SPIN49),
    "openpose18": (OPENPOSE18_NAMES, OPENPOSE18_TO_SPIN49),
    "spin49": (SPIN49_NAMES, np.arange(NUM_SPIN49, dtype=np.int32)),
}


def _keypoint_format(fmt: str):
    try:
        return KEYPOINT_FORMATS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown keypoint format {fmt!r}; known: {sorted(KEYPOINT_FORMATS)}"
        ) from None


def format_names(fmt: str) -> tuple[str, ...]:
    """Joint names of a native keypoint format, in its order."""
    return tuple(_keypoint_format(fmt)[0])


def spin49_indices(fmt: str) -> np.ndarray:
    """(K,) SPIN-49 keypoint of each native joint."""
    return _keypoint_format(fmt)[1].copy()


def to_spin49(keypoints, fmt: str) -> np.ndarray:
    """Native keypoints (..., K, 3) [x, y, confidence] -> (..., 49, 3) in SPIN-49 order.

    Slots the format does not provide are (0, 0, 0). Coordinates are copied unchanged (image
    pixels stay image pixels). Native confidences are kept; COCO visibility flags should be
    turned into 0 / 1 first (see `eft_jax.datasets.coco`).
    """
    names, slots = _keypoint_format(fmt)
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
    _, slots = _keypoint_format(fmt)
    spin49 = np.asarray(spin49)
    if spin49.ndim < 2 or spin49.shape[-2] != NUM_SPIN49:
        raise ValueError(f"expected (..., 49, D) keypoints; got {spin49.shape}")
    return spin49[..., slots, :]


def joint_validity_openpose18(spin49, include_openpose: bool = False) -> np.ndarray:
    """(..., 49, 3) keypoints -> (..., 18) validity in OpenPose-18 order, as EFT exports it.

    EFT takes the ground-truth keypoints' confidences (0 / 1 for annotated data sets) through
    `JOINT_MAP_SPIN24_TO_OPENPOSE18`; here they are made binary (confidence > 0 -> 1.0, else
    0.0). With include_openpose, a joint is also valid when its OpenPose keypoint has confidence
    (useful for inputs that are OpenPose detections only, which EFT's rule marks all invalid).
    """
    spin49 = np.asarray(spin49, np.float64)
    if spin49.ndim < 2 or spin49.shape[-2:] != (NUM_SPIN49, 3):
        raise ValueError(f"expected (..., 49, 3) keypoints; got {spin49.shape}")
    valid = spin49[..., SPIN49_GT_FOR_OPENPOSE18, 2] > 0
    if include_openpose:
        valid |= spin49[..., OPENPOSE18_TO_SPIN49, 2] > 0
    return valid.astype(np.float64)
