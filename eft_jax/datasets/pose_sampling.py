"""Body poses for synthetic humans: mocap frames, interpolations between frames of different
clips, and joint-limited random poses, mixed in given proportions.

    table = training_pose_table()                      # the allowed mocap clips, never the reserved
    draw = sample_pose(rng, table, PoseMix(), rest_joints)
    draw.pose                                          # (24, 3) axis-angle, root in SMPL's frame

- "clip": a clip uniformly, then one of its frames (as the basic style draws);
- "interpolated": two frames of two different clips (of one clip when only one is allowed),
  blended joint by joint by spherical linear interpolation (slerp) at a uniform t, root included;
- "random": every non-root joint's three angles drawn inside `joint_limits.JOINT_LIMITS`, each
  from a normal distribution around a relaxed standing pose (`NEUTRAL_DEGREES`: arms hanging,
  elbows a little bent, every other angle 0) with a standard deviation of `RANDOM_SPREAD` of the
  joint's range, truncated to the range (drawn again until inside): most joints stay near
  standing, a few move far, as in everyday poses. The root is upright with a small tilt; a pose that drives an arm or a leg through the
  torso, a hand into the head or one leg through the other (`is_plausible`, on the skeleton) is
  drawn again.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import NamedTuple

import jax
import numpy as np

from eft_jax.body.joint_sets import SMPL_JOINT_NAMES, SMPL_PARENTS
from eft_jax.datasets.joint_limits import JOINT_LIMITS, joint_rotations
from eft_jax.datasets.mocap_poses import load_mocap_poses
from eft_jax.geometry import rotations

POSE_SOURCES = ("clip", "interpolated", "random")
RANDOM_SPREAD = 0.3  # std of a random joint angle / its range
NEUTRAL_DEGREES = {
    "left_shoulder": (0, 0, -65),
    "right_shoulder": (0, 0, 65),
    "left_elbow": (0, -20, 0),
    "right_elbow": (0, 20, 0),
}  # (x, y, z)
ROOT_TILT = np.radians((10.0, 6.0))  # std of a random pose's forward and sideways tilt
MAX_ROOT_TILT = np.radians(25.0)
MAX_REDRAWS = 50  # random poses drawn before giving up on plausibility (then: the rest pose)

_to_quaternion = jax.jit(rotations.axis_angle_to_quaternion)
_to_axis_angle = jax.jit(rotations.quaternion_to_axis_angle)
_rotmat_to_axis_angle = jax.jit(rotations.rotmat_to_axis_angle)

_J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
# The torso as an elliptic cylinder in spine2's frame (metres): half width, half depth, half height.
TORSO_HALF_AXES = (0.15, 0.10, 0.27)
HEAD_RADIUS = 0.11  # a sphere HEAD_CENTRE_HEIGHT above the head joint, in the head's frame
HEAD_CENTRE_HEIGHT = 0.09
THIGH_RADIUS = 0.08


@dataclasses.dataclass(frozen=True)
class PoseMix:
    """Proportions of the pose sources (normalised when drawn)."""

    clip: float = 0.5
    interpolated: float = 0.25
    random: float = 0.25

    def probabilities(self) -> np.ndarray:
        p = np.asarray([self.clip, self.interpolated, self.random], np.float64)
        if np.any(p < 0) or p.sum() <= 0:
            raise ValueError(f"pose mix proportions must be >= 0 and not all 0, got {self}")
        return p / p.sum()


class PoseTable(NamedTuple):
    poses: np.ndarray  # (N, 24, 3) float32 axis-angle
    clips: np.ndarray  # (N,) clip name of each frame


class PoseDraw(NamedTuple):
    pose: np.ndarray  # (24, 3) float32 axis-angle, root in SMPL's frame (y up)
    source: str  # one of POSE_SOURCES
    clips: tuple  # the clip(s) the pose came from (empty for a random pose)
    frames: tuple  # their frame indices in the table (empty for a random pose)


def load_training_pose_table() -> PoseTable:
    """The frames of the allowed mocap clips (never the reserved ones: `load_mocap_poses`)."""
    poses, clips = load_mocap_poses()
    return PoseTable(poses.astype(np.float32), clips)


@lru_cache(maxsize=1)
def training_pose_table() -> PoseTable:
    return load_training_pose_table()


def _clip_frame(rng, table: PoseTable, names) -> int:
    frames = np.flatnonzero(table.clips == names[rng.integers(len(names))])
    return int(frames[rng.integers(len(frames))])


def slerp_poses(pose_a, pose_b, t: float) -> np.ndarray:
    """Per-joint spherical linear interpolation of two (24, 3) axis-angle poses, t in [0, 1]."""
    qa = np.asarray(_to_quaternion(np.asarray(pose_a, np.float32)), np.float64)
    qb = np.asarray(_to_quaternion(np.asarray(pose_b, np.float32)), np.float64)
    dot = np.sum(qa * qb, axis=-1, keepdims=True)
    qb = np.where(dot < 0, -qb, qb)  # the shorter arc
    dot = np.clip(np.abs(dot), -1.0, 1.0)
    angle = np.arccos(dot)
    sin = np.sin(angle)
    close = sin < 1e-6
    wa = np.where(close, 1.0 - t, np.sin((1.0 - t) * angle) / np.where(close, 1.0, sin))
    wb = np.where(close, t, np.sin(t * angle) / np.where(close, 1.0, sin))
    q = wa * qa + wb * qb
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return np.asarray(_to_axis_angle(q.astype(np.float32)), np.float32)


def skeleton(rotmats, rest_joints) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics of the bare skeleton: (24, 3, 3) local rotations, (24, 3) rest joints
    -> (24, 3, 3) global rotations, (24, 3) joint positions (root at the origin)."""
    global_rot = np.zeros((24, 3, 3))
    position = np.zeros((24, 3))
    for j, parent in enumerate(SMPL_PARENTS):
        if parent < 0:
            global_rot[j] = rotmats[j]
            continue
        global_rot[j] = global_rot[parent] @ rotmats[j]
        position[j] = position[parent] + global_rot[parent] @ (rest_joints[j] - rest_joints[parent])
    return global_rot, position


def _segment_points(position, a: str, b: str, count: int = 4) -> np.ndarray:
    t = np.linspace(0.0, 1.0, count)[:, None]
    return position[_J[a]] * (1 - t) + position[_J[b]] * t


def _distance_to_segment(points, a, b) -> np.ndarray:
    ab = b - a
    t = np.clip((points - a) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=-1)


def is_plausible(rotmats, rest_joints) -> bool:
    """False when, on the posed skeleton, an arm or a leg passes through the torso, a hand
    through the head, or one leg through the other thigh."""
    global_rot, position = skeleton(rotmats, rest_joints)
    arms, legs = [], {}
    for side in ("left", "right"):
        arms += [
            _segment_points(position, f"{side}_shoulder", f"{side}_elbow")[1:],
            _segment_points(position, f"{side}_elbow", f"{side}_hand"),
        ]
        legs[side] = np.concatenate(
            [
                _segment_points(position, f"{side}_knee", f"{side}_ankle"),
                _segment_points(position, f"{side}_ankle", f"{side}_foot"),
            ]
        )
    arms = np.concatenate(arms)
    limbs = np.concatenate([arms, legs["left"], legs["right"]])

    torso = (limbs - position[_J["spine2"]]) @ global_rot[_J["spine2"]]  # into spine2's frame
    half_w, half_d, half_h = TORSO_HALF_AXES
    inside_torso = ((torso[:, 0] / half_w) ** 2 + (torso[:, 2] / half_d) ** 2 < 1.0) & (
        np.abs(torso[:, 1]) < half_h
    )
    if inside_torso.any():
        return False
    head = position[_J["head"]] + global_rot[_J["head"]] @ np.asarray(
        [0.0, HEAD_CENTRE_HEIGHT, 0.0]
    )
    if (np.linalg.norm(arms - head, axis=-1) < HEAD_RADIUS).any():
        return False
    for side, other in (("left", "right"), ("right", "left")):
        thigh = _distance_to_segment(
            legs[side], position[_J[f"{other}_hip"]], position[_J[f"{other}_knee"]]
        )
        if (thigh < THIGH_RADIUS).any():
            return False
    return True


def _neutral_angles() -> np.ndarray:
    angles = np.zeros((24, 3))
    for name, degrees in NEUTRAL_DEGREES.items():
        angles[_J[name]] = np.radians(degrees)
    return angles


def _truncated_normal(rng, mean, std, lo, hi) -> np.ndarray:
    value = rng.normal(mean, std)
    outside = (value < lo) | (value > hi)
    while outside.any():
        value[outside] = rng.normal(mean[outside], std[outside])
        outside = (value < lo) | (value > hi)
    return value


def random_pose(rng, rest_joints) -> np.ndarray:
    """(24, 3) axis-angle: a plausible joint-limited pose, the root upright with a small tilt."""
    lo, hi = JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1]
    neutral, spread = _neutral_angles(), RANDOM_SPREAD * (hi - lo)
    for _ in range(MAX_REDRAWS):
        angles = _truncated_normal(rng, neutral, spread, lo, hi)
        tilt = np.clip(rng.normal(0.0, ROOT_TILT), -MAX_ROOT_TILT, MAX_ROOT_TILT)
        angles[0] = [tilt[0], 0.0, tilt[1]]
        rotmats = joint_rotations(angles)
        if is_plausible(rotmats, rest_joints):
            break
    else:
        rotmats = np.broadcast_to(np.eye(3), (24, 3, 3))
    return np.asarray(_rotmat_to_axis_angle(rotmats.astype(np.float32)), np.float32)


def sample_pose(rng, table: PoseTable, mix: PoseMix, rest_joints, clips=None) -> PoseDraw:
    """One pose from `table` (clip frames and their interpolations; of `clips` only when given)
    or from the joint limits. `PoseDraw.frames` index `table`."""
    names = np.unique(table.clips if clips is None else np.asarray(list(clips)))
    unknown = set(names) - set(table.clips)
    if unknown:
        raise KeyError(
            f"unknown or reserved mocap clip(s) {sorted(unknown)}; "
            f"allowed: {', '.join(np.unique(table.clips))}"
        )
    source = POSE_SOURCES[int(rng.choice(3, p=mix.probabilities()))]
    if source == "clip":
        frame = _clip_frame(rng, table, names)
        return PoseDraw(table.poses[frame], source, (str(table.clips[frame]),), (frame,))
    if source == "interpolated":
        first = _clip_frame(rng, table, names)
        others = names[names != table.clips[first]] if len(names) > 1 else names
        second = _clip_frame(rng, table, others)
        pose = slerp_poses(table.poses[first], table.poses[second], float(rng.uniform()))
        return PoseDraw(
            pose, source, (str(table.clips[first]), str(table.clips[second])), (first, second)
        )
    return PoseDraw(random_pose(rng, rest_joints), source, (), ())
