"""The committed mocap pose asset (pybullet's DeepMimic clips retargeted to SMPL's 24 joints).

No pybullet needed: the asset is built by `python tools/build_mocap_poses.py`.
"""

import numpy as np
import pytest

from eft_jax import body
from eft_jax.body.joint_sets import SMPL_JOINT_NAMES, SMPL_MIRROR
from eft_jax.body.mirror import mirror_pose
from eft_jax.datasets import mocap_poses
from eft_jax.datasets.mocap_poses import MOCAP_POSES_PATH, load_mocap_poses

pytestmark = pytest.mark.fast_compiles

J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
ALLOWED = {
    "walk",
    "run",
    "jump",
    "kick",
    "punch",
    "roll",
    "spin",
    "crawl",
    "dance_a",
    "getup_faceup",
}


@pytest.fixture(scope="module")
def model(open_body):
    return open_body


def _joints(model, poses):
    poses = np.asarray(poses, np.float32)
    betas = np.zeros((len(poses), model.num_betas), np.float32)
    return np.asarray(body.forward(model, poses, betas).joints)


def test_asset_loads_with_allowed_clips_only():
    assert MOCAP_POSES_PATH.stat().st_size < 2_000_000
    poses, names = load_mocap_poses()
    assert poses.dtype == np.float32 and poses.ndim == 3 and poses.shape[1:] == (24, 3)
    assert names.shape == (len(poses),) and len(poses) > 200
    assert np.isfinite(poses).all()
    assert set(mocap_poses.mocap_clips()) == ALLOWED
    assert set(names) == ALLOWED
    assert len(mocap_poses.load_mocap_frame_indices()) == len(poses)
    # every axis-angle is a proper rotation angle (<= pi)
    assert np.linalg.norm(poses, axis=-1).max() <= np.pi + 1e-4


def test_clip_selection():
    walk, names = load_mocap_poses(["walk"])
    assert len(walk) > 10 and set(names) == {"walk"}
    both, names = load_mocap_poses(["walk", "run"])
    assert set(names) == {"walk", "run"} and len(both) > len(walk)
    assert len(mocap_poses.load_mocap_frame_indices(["walk"])) == len(walk)
    with pytest.raises(KeyError):
        load_mocap_poses(["backflip"])


def test_identity_joints():
    poses, _ = load_mocap_poses()
    for name in (
        "head",
        "left_collar",
        "right_collar",
        "left_wrist",
        "right_wrist",
        "left_hand",
        "right_hand",
        "left_foot",
        "right_foot",
    ):
        assert np.all(poses[:, J[name]] == 0), name
    # the chest rotation is split evenly over the three spine joints
    np.testing.assert_allclose(poses[:, J["spine1"]], poses[:, J["spine3"]], atol=1e-6)


def test_knees_bend_forward_only(model):
    poses, _ = load_mocap_poses()
    for side in ("left", "right"):
        knee = poses[:, J[f"{side}_knee"]]
        assert np.abs(knee[:, 1:]).max() < 1e-5  # a hinge about x
        assert knee[:, 0].min() > -0.15  # at most slight hyperextension
        assert knee[:, 0].max() > 1.0
    # In SMPL's convention a positive x knee rotation swings the shin back (-z): check on the
    # bundled body, with each clip's own knee angles and everything else at rest.
    test = np.zeros((len(poses), 24, 3), np.float32)
    test[:, [J["left_knee"], J["right_knee"]]] = poses[:, [J["left_knee"], J["right_knee"]]]
    joints = _joints(model, test)
    for side in ("left", "right"):
        dz = joints[:, J[f"{side}_ankle"], 2] - joints[:, J[f"{side}_knee"], 2]
        flexed = poses[:, J[f"{side}_knee"], 0] > 0.3
        assert np.all(dz[flexed] < -0.02)


def test_elbows_bend_forward_with_arms_down(model):
    poses, _ = load_mocap_poses()
    left, right = poses[:, J["left_elbow"]], poses[:, J["right_elbow"]]
    assert np.abs(left[:, [0, 2]]).max() < 1e-5 and np.abs(right[:, [0, 2]]).max() < 1e-5
    assert left[:, 1].max() < 0.05 and right[:, 1].min() > -0.05  # flexion only
    # with the arms hanging down, a flexed elbow brings the wrist forward (+z)
    test = np.zeros((len(poses), 24, 3), np.float32)
    test[:, J["left_shoulder"]] = (0, 0, -np.pi / 2)
    test[:, J["right_shoulder"]] = (0, 0, np.pi / 2)
    test[:, [J["left_elbow"], J["right_elbow"]]] = poses[:, [J["left_elbow"], J["right_elbow"]]]
    joints = _joints(model, test)
    for side, flex in (("left", -left[:, 1]), ("right", right[:, 1])):
        dz = joints[:, J[f"{side}_wrist"], 2] - joints[:, J[f"{side}_elbow"], 2]
        assert np.all(dz[flex > 0.3] > 0.02)


@pytest.mark.parametrize("clip, max_corr", [("walk", -0.8), ("run", -0.5)])
def test_gait_alternates_hip_flexion(clip, max_corr):
    poses, _ = load_mocap_poses([clip])
    # hip flexion (thigh forward) is a negative x rotation in SMPL's convention
    left, right = -poses[:, J["left_hip"], 0], -poses[:, J["right_hip"], 0]
    assert np.ptp(left) > 0.4 and np.ptp(right) > 0.4
    assert np.corrcoef(left, right)[0, 1] < max_corr


@pytest.mark.parametrize(
    "clip, foot_drop", [("walk", 0.5), ("run", 0.1)]
)  # a sprinter's heel rises
def test_upright_clips(model, clip, foot_drop):
    poses, _ = load_mocap_poses([clip])
    joints = _joints(model, poses)
    pelvis_y = joints[:, J["pelvis"], 1]
    for ankle in ("left_ankle", "right_ankle"):
        assert np.all(joints[:, J[ankle], 1] < pelvis_y - foot_drop)
    assert np.all(joints[:, J["head"], 1] > pelvis_y + 0.4)
    if clip == "walk":
        # facing about +z: the toes lie ahead of the ankles on average
        toes = joints[:, [J["left_foot"], J["right_foot"]], 2]
        ankles = joints[:, [J["left_ankle"], J["right_ankle"]], 2]
        assert np.mean(toes - ankles) > 0.05


def test_mirror_pose_reflects_body(model):
    poses, _ = load_mocap_poses()
    sample = poses[:: max(1, len(poses) // 16)][:16]
    np.testing.assert_array_equal(mirror_pose(mirror_pose(sample)), sample)
    joints = _joints(model, np.concatenate([sample, mirror_pose(sample)]))
    original, mirrored = joints[: len(sample)], joints[len(sample) :]
    reflected = original[:, SMPL_MIRROR] * np.array([-1.0, 1.0, 1.0])
    rest = _joints(model, np.zeros((1, 24, 3)))[0]
    asymmetry = np.abs(rest[SMPL_MIRROR] * [-1, 1, 1] - rest).max()
    np.testing.assert_allclose(mirrored, reflected, atol=asymmetry + 1e-4)
    assert np.abs(mirrored - original).max() > 0.1  # it is not a no-op
