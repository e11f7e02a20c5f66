"""Poses of the lifelike synthetic style: joint limits, plausibility, interpolation, the mix of
sources, and the reserved evaluation clips never reaching the sampler."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from eft_jax import body
from eft_jax.body.joint_sets import SMPL_JOINT_NAMES
from eft_jax.datasets import mocap_poses, pose_sampling
from eft_jax.datasets.joint_limits import EULER_ORDER, JOINT_LIMITS, joint_rotations
from eft_jax.datasets.mocap_poses import RESERVED_CLIPS, load_mocap_poses
from eft_jax.datasets.pose_sampling import (
    PoseMix,
    is_plausible,
    load_training_pose_table,
    random_pose,
    sample_pose,
    slerp_poses,
)
from eft_jax.datasets.synthetic import make_sample
from eft_jax.geometry.rotations import axis_angle_to_rotmat

pytestmark = pytest.mark.fast_compiles

J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


@pytest.fixture(scope="module")
def rest_joints(open_body):
    out = body.forward(open_body, np.zeros((24, 3), np.float32), np.zeros(10, np.float32))
    return np.asarray(out.joints)


@pytest.fixture(scope="module")
def random_rotmats(rest_joints):
    poses = [random_pose(np.random.default_rng(seed), rest_joints) for seed in range(150)]
    return np.asarray(axis_angle_to_rotmat(np.stack(poses)), np.float64)


def _euler_xyz(rotmats, joint):
    """Angles about x, y, z of (N, 3, 3) rotations in the joint's Euler order."""
    order = EULER_ORDER[joint]
    angles = Rotation.from_matrix(rotmats).as_euler(order)
    return angles[:, [order.index(axis) for axis in "XYZ"]]


def test_random_poses_respect_the_joint_limits(random_rotmats):
    for joint in range(1, 24):
        angles = _euler_xyz(random_rotmats[:, joint], joint)
        lo, hi = JOINT_LIMITS[joint, :, 0], JOINT_LIMITS[joint, :, 1]
        assert np.all(angles >= lo - 1e-3) and np.all(angles <= hi + 1e-3), SMPL_JOINT_NAMES[joint]
        spread = angles.max(axis=0) - angles.min(axis=0)
        assert np.all(spread[hi > lo] > 0.25 * (hi - lo)[hi > lo]), SMPL_JOINT_NAMES[joint]


def test_random_knees_and_elbows_bend_the_right_way(random_rotmats):
    shin = random_rotmats[:, [J["left_knee"], J["right_knee"]]] @ np.asarray([0.0, -1.0, 0.0])
    assert np.all(shin[..., 2] <= 1e-6)  # the shin swings backwards (-z), never forwards
    assert shin[..., 2].min() < -0.9  # and some knees bend a lot
    left = random_rotmats[:, J["left_elbow"]] @ np.asarray([1.0, 0.0, 0.0])
    right = random_rotmats[:, J["right_elbow"]] @ np.asarray([-1.0, 0.0, 0.0])
    assert np.all(left[:, 2] >= -1e-6) and np.all(right[:, 2] >= -1e-6)  # forearms forwards


def test_the_mocap_lies_inside_the_limits():
    poses, _ = load_mocap_poses()
    rotmats = np.asarray(axis_angle_to_rotmat(poses), np.float64)
    slack = np.radians(10.0)
    for name in (
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "spine1",
        "spine2",
        "spine3",
        "left_elbow",
        "right_elbow",
    ):
        joint = J[name]
        angles = _euler_xyz(rotmats[:, joint], joint)
        inside = np.all(
            (angles >= JOINT_LIMITS[joint, :, 0] - slack)
            & (angles <= JOINT_LIMITS[joint, :, 1] + slack),
            axis=1,
        )
        assert inside.mean() >= 0.97, (name, inside.mean())


def test_plausibility_rejects_limbs_through_the_body(rest_joints, random_rotmats):
    assert all(is_plausible(r, rest_joints) for r in random_rotmats)
    rest = np.broadcast_to(np.eye(3), (24, 3, 3)).copy()
    assert is_plausible(rest, rest_joints)
    through_chest = rest.copy()  # the left arm turned to point right, through the chest
    through_chest[J["left_shoulder"]] = Rotation.from_euler("Y", 180, degrees=True).as_matrix()
    assert not is_plausible(through_chest, rest_joints)
    hand_in_head = rest.copy()  # upper arm up, forearm folded back onto the head
    hand_in_head[J["left_shoulder"]] = Rotation.from_euler("Z", 80, degrees=True).as_matrix()
    hand_in_head[J["left_elbow"]] = Rotation.from_euler("Z", 120, degrees=True).as_matrix()
    assert not is_plausible(hand_in_head, rest_joints)
    crossed = rest.copy()  # the left leg swung 40 degrees across the right one
    crossed[J["left_hip"]] = Rotation.from_euler("Z", -40, degrees=True).as_matrix()
    assert not is_plausible(crossed, rest_joints)
    angles = np.zeros((24, 3))
    angles[J["left_shoulder"]] = [0.0, 0.0, np.radians(90.0)]  # arm overhead: fine
    assert is_plausible(joint_rotations(angles), rest_joints)


def test_slerp_ends_and_midpoint():
    poses, _ = load_mocap_poses(["walk", "kick"])
    a, b = poses[0], poses[-1]
    np.testing.assert_allclose(slerp_poses(a, b, 0.0), a, atol=1e-5)
    np.testing.assert_allclose(slerp_poses(a, b, 1.0), b, atol=1e-5)
    ra, rb = Rotation.from_rotvec(a), Rotation.from_rotvec(b)
    rm = Rotation.from_rotvec(slerp_poses(a, b, 0.5))
    np.testing.assert_allclose((ra.inv() * rm).magnitude(), (rm.inv() * rb).magnitude(), atol=1e-4)


def test_sampler_mixes_sources_deterministically(rest_joints):
    table = pose_sampling.training_pose_table()
    mix = PoseMix(clip=0.5, interpolated=0.3, random=0.2)
    draws = [
        sample_pose(np.random.default_rng(seed), table, mix, rest_joints) for seed in range(300)
    ]
    again = sample_pose(np.random.default_rng(7), table, mix, rest_joints)
    np.testing.assert_array_equal(again.pose, draws[7].pose)
    sources = np.asarray([d.source for d in draws])
    for name, p in (("clip", 0.5), ("interpolated", 0.3), ("random", 0.2)):
        assert abs(np.mean(sources == name) - p) < 4 * np.sqrt(p * (1 - p) / 300), name
    for d in draws:
        if d.source == "clip":
            np.testing.assert_array_equal(d.pose, table.poses[d.frames[0]])
        if d.source == "interpolated":
            assert d.clips[0] != d.clips[1]
    only_walk = sample_pose(
        np.random.default_rng(1), table, PoseMix(0, 1, 0), rest_joints, clips=["walk"]
    )
    assert only_walk.clips == ("walk", "walk")
    with pytest.raises(ValueError):
        PoseMix(0, 0, 0).probabilities()


def test_reserved_clips_never_reach_the_sampler(monkeypatch, rest_joints):
    real = mocap_poses._asset()
    names = list(real["clips"]) + list(RESERVED_CLIPS)
    reserved_poses = np.random.default_rng(0).normal(0, 0.5, (50, 24, 3)).astype(np.float32)
    fake = dict(real)
    fake["clips"] = np.asarray(names)
    fake["poses"] = np.concatenate([real["poses"], reserved_poses])
    fake["clip_index"] = np.concatenate(
        [real["clip_index"], len(real["clips"]) + np.arange(50) % len(RESERVED_CLIPS)]
    )
    fake["frame_index"] = np.concatenate([real["frame_index"], np.arange(50)])
    monkeypatch.setattr(mocap_poses, "_asset", lambda: fake)

    assert not set(RESERVED_CLIPS) & set(mocap_poses.mocap_clips())
    for clip in RESERVED_CLIPS:
        with pytest.raises(KeyError, match="reserved"):
            load_mocap_poses([clip])
    table = load_training_pose_table()
    assert len(table.poses) == len(real["poses"]) and not set(RESERVED_CLIPS) & set(table.clips)
    for seed in range(200):
        draw = sample_pose(np.random.default_rng(seed), table, PoseMix(1, 1, 1), rest_joints)
        assert not set(RESERVED_CLIPS) & set(draw.clips)
        assert not np.any(np.all(np.abs(reserved_poses - draw.pose) < 1e-6, axis=(1, 2)))
    with pytest.raises(KeyError, match="reserved"):
        sample_pose(np.random.default_rng(0), table, PoseMix(), rest_joints, clips=["backflip"])
    with pytest.raises(KeyError):
        make_sample(0, style="lifelike", crop_size=32, clips=["cartwheel"])
