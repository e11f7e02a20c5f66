"""Named joint sets and how each is read off a posed body.

Every joint set is a selection from one *source* array that the forward pass assembles:

    source = [ 24 skeleton joints | 11 vertex keypoints | 9 extra-regressor joints ]
               0 .. 23              24 .. 34              35 .. 43

- skeleton joints: SMPL's 24 joints after skinning;
- vertex keypoints: single mesh vertices for the OpenPose / COCO face and foot points, in
  `VERTEX_KEYPOINT_NAMES` order (SMPL: the vertex ids smplx uses; open model: its own ids);
- extra joints: SPIN's `J_regressor_extra.npy` (9 x V), in `EXTRA_JOINT_NAMES` order. The
  official SMPL file has no such regressor: the user supplies SPIN's file, and without it the
  slots that need it are marked unavailable (never approximated silently).

SPIN-49 follows SPIN's `constants.JOINT_NAMES`: 25 OpenPose joints, then 24 "ground-truth"
joints (a superset of LSP, MPII, H36M and COCO face joints).
"""

from __future__ import annotations

import numpy as np

SMPL_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip

SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

NUM_SMPL_JOINTS = 24

VERTEX_KEYPOINT_NAMES = (
    "nose", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
    "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)  # fmt: skip

# SMPL vertex ids of the keypoints above (smplx's `vertex_ids['smplh']`, which SPIN uses).
SMPL_VERTEX_KEYPOINT_IDS = (332, 6260, 2800, 4071, 583, 3216, 3226, 3387, 6617, 6624, 6787)

EXTRA_JOINT_NAMES = (
    "right_hip_lsp", "left_hip_lsp", "neck_lsp", "head_top_lsp", "pelvis_mpii", "thorax_mpii",
    "spine_h36m", "jaw_h36m", "head_h36m",
)  # fmt: skip

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


# SPIN-49 slot -> the slot of its left/right counterpart (itself for central joints): the slot a
# keypoint moves to when the image is mirrored horizontally (SPIN's constants.J49_FLIP_PERM).
SPIN49_MIRROR = np.array([SPIN49_NAMES.index(_mirrored_name(n)) for n in SPIN49_NAMES], dtype=np.int32)

# LSP-14 is SPIN-49's first 14 ground-truth slots (SPIN's J24_TO_J14).
LSP14_NAMES = SPIN49_NAMES[25:39]
LSP14_SOURCE = SPIN49_SOURCE[25:39]

COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip


def coco17_source(has_extra: bool) -> np.ndarray:
    """Source indices of COCO-17.

    COCO's hip keypoints sit lower and wider than SMPL's hip joints; SPIN places them in the
    LSP hip slots, which need the extra regressor. Without it the SMPL hip joints stand in
    (an approximation of a few centimetres, stated here and in the README).
    """
    hips = (
        (_extra("left_hip_lsp"), _extra("right_hip_lsp"))
        if has_extra
        else (_skeleton("left_hip"), _skeleton("right_hip"))
    )
    return np.array(
        [
            _vertex("nose"), _vertex("left_eye"), _vertex("right_eye"), _vertex("left_ear"),
            _vertex("right_ear"), _skeleton("left_shoulder"), _skeleton("right_shoulder"),
            _skeleton("left_elbow"), _skeleton("right_elbow"), _skeleton("left_wrist"),
            _skeleton("right_wrist"), *hips, _skeleton("left_knee"), _skeleton("right_knee"),
            _skeleton("left_ankle"), _skeleton("right_ankle"),
        ],
        dtype=np.int32,
    )  # fmt: skip


H36M17_NAMES = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)  # fmt: skip
