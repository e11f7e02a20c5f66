"""Real motion-capture poses in SMPL's 24-joint layout (axis-angle, root first).

The committed asset `assets/mocap_poses.npz` holds pybullet's DeepMimic humanoid clips (walk, run,
jump, kick, punch, roll, spin, crawl, dance_a, getup_faceup) retargeted to SMPL's joints by
`python tools/build_mocap_poses.py` (see that module for the retargeting, and
`assets/MOCAP_NOTICE.md` for provenance and licence). The pelvis row is the clip's global root
orientation in SMPL's frame (y up; a body facing +z has an identity pelvis).

    poses, clip_names = load_mocap_poses()             # (N, 24, 3) float32, (N,) str
    poses, _ = load_mocap_poses(["walk", "run"])
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

MOCAP_POSES_PATH = Path(__file__).parent / "assets" / "mocap_poses.npz"
# Clips kept for evaluation: no pose sampler, training run or tuning may use them. The committed
# asset does not hold them; every reader here leaves them out should one ever be added.
RESERVED_CLIPS = ("dance_b", "cartwheel", "backflip", "spinkick", "getup_facedown")


@lru_cache(maxsize=1)
def _asset() -> dict:
    with np.load(MOCAP_POSES_PATH, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _frame_clip_names() -> np.ndarray:
    asset = _asset()
    return np.asarray([str(c) for c in asset["clips"]])[asset["clip_index"]]


def mocap_clips() -> tuple[str, ...]:
    """Names of the asset's clips in stored order, the `RESERVED_CLIPS` left out."""
    return tuple(str(c) for c in _asset()["clips"] if str(c) not in RESERVED_CLIPS)


def _selected(clips: Iterable[str] | None) -> np.ndarray:
    """(N_asset,) bool: the frames of `clips` (all allowed clips when None)."""
    known = mocap_clips()
    if clips is not None:
        clips = [clips] if isinstance(clips, str) else list(clips)
        reserved = [c for c in clips if c in RESERVED_CLIPS]
        if reserved:
            raise KeyError(f"mocap clip(s) {reserved} are reserved for evaluation")
        unknown = [c for c in clips if c not in known]
        if unknown:
            raise KeyError(f"unknown mocap clip(s) {unknown}; known: {', '.join(known)}")
    return np.isin(_frame_clip_names(), known if clips is None else clips)


def load_mocap_poses(clips: Iterable[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Poses (N, 24, 3) float32 and the clip name of each (N,), optionally only some clips.
    Frames of the `RESERVED_CLIPS` are never returned (asking for one is a KeyError)."""
    keep = _selected(clips)
    return _asset()["poses"][keep].copy(), _frame_clip_names()[keep]


def load_mocap_frame_indices(clips: Iterable[str] | None = None) -> np.ndarray:
    """Source frame index (in the clip's motion file) of each pose `load_mocap_poses` returns."""
    return _asset()["frame_index"][_selected(clips)].astype(np.int64)
