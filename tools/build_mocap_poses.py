"""Build `eft_jax/datasets/assets/mocap_poses.npz`: pybullet's DeepMimic humanoid clips retargeted to SMPL's 24 joints.

    pip install pybullet          # build time only; never a runtime dependency
    python tools/build_mocap_poses.py

Source: `pybullet_data/data/motions/humanoid3d_<clip>.txt` (DeepMimic motion files, zlib licence,
see `eft_jax/datasets/assets/MOCAP_NOTICE.md`). Only the clips in `CLIPS` are read; the others are reserved.

Frame layout (44 numbers), as read by pybullet's own
`pybullet_envs/deep_mimic/env/humanoid_pose_interpolator.py` (`Slerp`, which reorders each
quaternion `[f[i+1], f[i+2], f[i+3], f[i]]` into pybullet's x y z w):

    0 duration | 1-3 root position | 4-7 root quaternion (w x y z) | 8-11 chest | 12-15 neck |
    16-19 right hip | 20 right knee | 21-24 right ankle | 25-28 right shoulder | 29 right elbow |
    30-33 left hip | 34 left knee | 35-38 left ankle | 39-42 left shoulder | 43 left elbow

The humanoid (`pybullet_data/humanoid/humanoid.urdf`): every joint origin has rpy 0, so at the zero
pose all joint frames are aligned with the world axes; y is up (chest at +y, hips at -y), the right
hip sits at +z and the left at -z, the feet boxes stick out along +x: the body faces +x with its
right on +z. Knees and elbows are revolute about the joint's z (the body's right-left axis); a
flexed knee has a negative angle (the shin swings back, -x), a flexed elbow a positive one. The
arms hang straight down at the zero pose (elbow and wrist offsets along -y), unlike SMPL's T-pose.

Retargeting. C maps DeepMimic axes to SMPL's (facing +x -> +z, up +y -> +y, right +z -> -x), a
proper rotation. A DeepMimic local rotation R becomes C R C^T in SMPL's axes (joint frames are
world-aligned at rest in both models). Then:
- root -> pelvis (global orientation; the world is y up in both);
- chest -> spine1, spine2, spine3, each a third of the chest's axis-angle (their composition is
  exactly the chest rotation); neck -> neck; head identity;
- hips, knees (angle about -x in SMPL, so a flexed knee is positive), ankles -> same names;
- shoulders: SMPL's rest arm points sideways, DeepMimic's down, so R_smpl = (C R C^T) O with O the
  rest offset that lowers the SMPL arm to hang down (left: -90 deg about z, right: +90 deg);
- elbows: expressed in the offset shoulder frame, O^T (C R C^T) O;
- collars, wrists, hands, feet (toes) identity.
Frames are subsampled every `STRIDE`-th and near-duplicates (all joints within `DEDUPE_RAD` of the
last kept pose of the clip) are dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from eft_jax.body.joint_sets import SMPL_JOINT_NAMES

CLIPS = ("walk", "run", "jump", "kick", "punch", "roll", "spin", "crawl", "dance_a", "getup_faceup")
STRIDE = 2
DEDUPE_RAD = 0.05
ASSET_PATH = (
    Path(__file__).resolve().parents[1] / "eft_jax" / "datasets" / "assets" / "mocap_poses.npz"
)

# DeepMimic axes -> SMPL axes: columns are the images of DeepMimic's x, y, z.
C = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])

_QUAT = {  # joint -> first index of its w x y z quaternion in a frame
    "root": 4,
    "chest": 8,
    "neck": 12,
    "right_hip": 16,
    "right_ankle": 21,
    "right_shoulder": 25,
    "left_hip": 30,
    "left_ankle": 35,
    "left_shoulder": 39,
}
_ANGLE = {"right_knee": 20, "right_elbow": 29, "left_knee": 34, "left_elbow": 43}
_REST_OFFSET = {  # SMPL T-pose arm -> arm hanging down
    "left": Rotation.from_rotvec([0.0, 0.0, -np.pi / 2]),
    "right": Rotation.from_rotvec([0.0, 0.0, np.pi / 2]),
}
_C = Rotation.from_matrix(C)


def _to_smpl(rotation: Rotation) -> Rotation:
    return _C * rotation * _C.inv()


def _quat(frame, joint) -> Rotation:
    i = _QUAT[joint]
    w, x, y, z = frame[i : i + 4]
    return Rotation.from_quat([x, y, z, w])  # scipy: x y z w


def retarget_frame(frame) -> np.ndarray:
    """One DeepMimic frame (44 numbers) -> SMPL pose (24, 3) axis-angle."""
    frame = np.asarray(frame, np.float64)
    if frame.shape != (44,):
        raise ValueError(f"expected a 44-number DeepMimic humanoid frame, got {frame.shape}")
    pose = np.zeros((24, 3))
    index = SMPL_JOINT_NAMES.index

    pose[index("pelvis")] = _to_smpl(_quat(frame, "root")).as_rotvec()
    chest = _to_smpl(_quat(frame, "chest")).as_rotvec()
    for spine in ("spine1", "spine2", "spine3"):
        pose[index(spine)] = chest / 3.0
    pose[index("neck")] = _to_smpl(_quat(frame, "neck")).as_rotvec()
    for side in ("left", "right"):
        pose[index(f"{side}_hip")] = _to_smpl(_quat(frame, f"{side}_hip")).as_rotvec()
        pose[index(f"{side}_ankle")] = _to_smpl(_quat(frame, f"{side}_ankle")).as_rotvec()
        knee = Rotation.from_rotvec([0.0, 0.0, frame[_ANGLE[f"{side}_knee"]]])
        pose[index(f"{side}_knee")] = _to_smpl(knee).as_rotvec()
        offset = _REST_OFFSET[side]
        shoulder = _to_smpl(_quat(frame, f"{side}_shoulder")) * offset
        pose[index(f"{side}_shoulder")] = shoulder.as_rotvec()
        elbow = Rotation.from_rotvec([0.0, 0.0, frame[_ANGLE[f"{side}_elbow"]]])
        pose[index(f"{side}_elbow")] = (offset.inv() * _to_smpl(elbow) * offset).as_rotvec()
    return pose


def _angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-joint rotation angle between two (24, 3) axis-angle poses."""
    return (Rotation.from_rotvec(a).inv() * Rotation.from_rotvec(b)).magnitude()


def build(motions_dir: Path, stride: int = STRIDE, dedupe_rad: float = DEDUPE_RAD) -> dict:
    poses, clip_index, frame_index = [], [], []
    for c, clip in enumerate(CLIPS):
        frames = json.loads((motions_dir / f"humanoid3d_{clip}.txt").read_text())["Frames"]
        last = None
        for f in range(0, len(frames), stride):
            pose = retarget_frame(frames[f])
            if last is not None and _angle_between(last, pose).max() < dedupe_rad:
                continue
            poses.append(pose)
            clip_index.append(c)
            frame_index.append(f)
            last = pose
    return {
        "poses": np.asarray(poses, np.float32),
        "clip_index": np.asarray(clip_index, np.int16),
        "frame_index": np.asarray(frame_index, np.int16),
        "clips": np.asarray(CLIPS),
        "stride": np.int32(stride),
        "dedupe_rad": np.float32(dedupe_rad),
    }


def main() -> None:
    import pybullet_data  # build time only

    motions_dir = Path(pybullet_data.getDataPath()) / "data" / "motions"
    data = build(motions_dir)
    ASSET_PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(ASSET_PATH, **data)
    counts = np.bincount(data["clip_index"], minlength=len(CLIPS))
    print(f"wrote {ASSET_PATH} ({ASSET_PATH.stat().st_size} bytes, {len(data['poses'])} poses)")
    for clip, count in zip(CLIPS, counts):
        print(f"  {clip}: {count}")


if __name__ == "__main__":
    main()
