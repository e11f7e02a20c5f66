"""Real motion-capture poses in SMPL's 24-joint layout (axis-angle, root first).

The committed asset `assets/mocap_poses.npz` holds pybullet's DeepMimic humanoid clips (walk, run,
jump, kick, punch, roll, spin, crawl, dance_a, getup_faceup) retargeted to SMPL's joints by
`python tools/build_mocap_poses.py` (see that module for the retargeting, and
`assets/MOCAP_NOTICE.md` for provenance and licence). The pelvis row is the clip's global root
orientation in SMPL's frame (y up; a body facing +z has an identity pelvis).

    poses, clip_names = load_mocap_poses()             # (N, 24, 3) float32, (N,) str
    poses, _ = load_mocap_poses(["walk", "run"])
    mirrored = mirror_pose(poses[0])                   # the body's x-reflection
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

from eft_jax.body.joint_sets import SMPL_JOINT_NAMES

MOCAP_POSES_PATH = Path(__file__).parent / "assets" / "mocap_poses.npz"

# SMPL joint index -> its left/right counterpart (itself for the central joints).
MIRROR_PERMUTATION = tuple(
    SMPL_JOINT_NAMES.index(
        name.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
    )
    for name in SMPL_JOINT_NAMES
)


@lru_cache(maxsize=1)
def _asset() -> dict:
    with np.load(MOCAP_POSES_PATH, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def mocap_clips() -> tuple[str, ...]:
    """Names of the clips in the asset, in stored order."""
    return tuple(str(c) for c in _asset()["clips"])


def load_mocap_poses(clips: Iterable[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Poses (N, 24, 3) float32 and the clip name of each (N,), optionally only some clips."""
    asset = _asset()
    known = mocap_clips()
    names = np.asarray(known)[asset["clip_index"]]
    if clips is None:
        keep = np.ones(len(names), bool)
    else:
        clips = [clips] if isinstance(clips, str) else list(clips)
        unknown = [c for c in clips if c not in known]
        if unknown:
            raise KeyError(f"unknown mocap clip(s) {unknown}; known: {', '.join(known)}")
        keep = np.isin(names, clips)
    return asset["poses"][keep].copy(), names[keep]


def load_mocap_frame_indices(clips: Iterable[str] | None = None) -> np.ndarray:
    """Source frame index (in the clip's motion file) of each pose `load_mocap_poses` returns."""
    asset = _asset()
    if clips is None:
        return asset["frame_index"].astype(np.int64)
    _, names = load_mocap_poses(clips)  # validates names
    all_names = np.asarray(mocap_clips())[asset["clip_index"]]
    return asset["frame_index"][np.isin(all_names, list(set(names)))].astype(np.int64)


def mirror_pose(pose) -> np.ndarray:
    """Left/right mirror of SMPL pose(s) (..., 24, 3): swap left/right joints, negate y and z.

    Reflecting the body through x -> -x conjugates every rotation by diag(-1, 1, 1), which maps an
    axis-angle (x, y, z) to (x, -y, -z).
    """
    pose = np.asarray(pose)
    mirrored = pose[..., MIRROR_PERMUTATION, :].copy()
    mirrored[..., 1:] *= -1
    return mirrored
