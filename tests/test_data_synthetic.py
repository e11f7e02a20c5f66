"""Synthetic humans: determinism, keypoints vs. rendering, occlusion, framing, ranges, upright;
the basic style unchanged bit for bit; the lifelike style's fields, truncation and variety."""

from pathlib import Path

import numpy as np
import pytest

from eft_jax import body
from eft_jax.body.mirror import mirror_pose
from eft_jax.datasets import synthetic_body
from eft_jax.datasets.mocap_poses import load_mocap_poses
from eft_jax.datasets.pose_sampling import PoseMix
from eft_jax.datasets.synthetic import make_sample, make_samples
from eft_jax.datasets.synthetic_lifelike import LifelikeOptions
from eft_jax.geometry import weak_perspective
from eft_jax.geometry.rotations import axis_angle_to_rotmat

SEEDS = list(range(8))
FIXTURES = Path(__file__).parent / "fixtures"
PELVIS, HEAD = 39, 43  # SPIN-49: 'Pelvis (MPII)', 'Head (H36M)'


@pytest.fixture(scope="module")
def model():
    return synthetic_body.default_model()


@pytest.fixture(scope="module")
def batch():
    return make_samples(SEEDS, with_vertices=True)


def _pixels(xy, size=224):
    px = (np.asarray(xy) + 1.0) * 0.5 * size
    return px[..., 1].astype(int), px[..., 0].astype(int)  # rows, cols


def test_shapes_and_dtypes(batch, model):
    n = len(SEEDS)
    assert batch["image"].shape == (n, 224, 224, 3) and batch["image"].dtype == np.uint8
    assert batch["keypoints"].shape == (n, 49, 3)
    assert batch["pose"].shape == (n, 24, 3) and batch["rotmats"].shape == (n, 24, 3, 3)
    assert batch["betas"].shape == (n, 10) and batch["camera"].shape == (n, 3)
    assert batch["joints"].shape == (n, 24, 3) and batch["joints3d_spin49"].shape == (n, 49, 3)
    assert batch["vertices"].shape == (n, model.num_vertices, 3)
    assert set(np.unique(batch["keypoints"][..., 2])) <= {0.0, 1.0}
    # root-relative ground truth
    np.testing.assert_allclose(batch["joints"][:, 0], 0.0, atol=1e-6)
    assert "vertices" not in make_sample(0)


def test_deterministic_by_seed(batch):
    again = make_sample(SEEDS[3])
    np.testing.assert_array_equal(again["image"], batch["image"][3])
    np.testing.assert_array_equal(again["keypoints"], batch["keypoints"][3])
    np.testing.assert_array_equal(again["pose"], batch["pose"][3])
    assert not np.array_equal(batch["image"][0], batch["image"][1])
    assert not np.allclose(batch["keypoints"][0], batch["keypoints"][1])


def test_keypoints_are_the_projected_ground_truth(batch, model):
    out = body.forward(model, batch["rotmats"], batch["betas"])
    projected = np.asarray(weak_perspective(out.spin49, batch["camera"]))
    np.testing.assert_allclose(projected, batch["keypoints"][..., :2], atol=1e-4)
    # the axis-angle pose is the same rotations
    np.testing.assert_allclose(
        np.asarray(axis_angle_to_rotmat(batch["pose"])), batch["rotmats"], atol=1e-4
    )
    # stored 3D joints are the model's, minus the pelvis
    root = np.asarray(out.joints)[:, :1]
    np.testing.assert_allclose(batch["joints"], np.asarray(out.joints) - root, atol=1e-5)
    np.testing.assert_allclose(batch["joints3d_spin49"], np.asarray(out.spin49) - root, atol=1e-5)
    np.testing.assert_allclose(batch["vertices"], np.asarray(out.vertices) - root, atol=1e-5)


def test_visible_keypoints_lie_on_unoccluded_body_pixels(batch):
    total_visible = 0
    for i in range(len(SEEDS)):
        kp = batch["keypoints"][i]
        visible = kp[:, 2] > 0
        rows, cols = _pixels(kp[visible, :2])
        assert np.all((rows >= 0) & (rows < 224) & (cols >= 0) & (cols < 224))
        assert np.all(batch["silhouette"][i][rows, cols])
        assert not np.any(batch["occluder_mask"][i][rows, cols])
        total_visible += visible.sum()
        # keypoints under an occluder are flagged
        rows, cols = _pixels(np.clip(kp[:, :2], -1, 0.999))
        assert not np.any(visible & batch["occluder_mask"][i][rows, cols])
    assert total_visible > 0.5 * 49 * len(SEEDS)  # most keypoints of a posed body are visible


def test_forced_occluder_hides_a_keypoint():
    seed = 5
    free = make_sample(seed, occluders=[])
    assert not free["occluder_mask"].any()
    k = int(np.flatnonzero(free["keypoints"][:, 2])[0])
    row, col = _pixels(free["keypoints"][k, :2])
    box = (col - 4.0, row - 4.0, col + 5.0, row + 5.0)
    hidden = make_sample(seed, occluders=[{"shape": "rect", "box": box, "color": (255, 0, 255)}])
    assert hidden["keypoints"][k, 2] == 0
    np.testing.assert_array_equal(hidden["image"][row, col], [255, 0, 255])
    # everything else is the same sample
    np.testing.assert_array_equal(hidden["keypoints"][:, :2], free["keypoints"][:, :2])
    others = np.ones(49, bool)
    others[k] = False
    rows, cols = _pixels(np.clip(free["keypoints"][:, :2], -1, 0.999))
    others &= ~hidden["occluder_mask"][rows, cols]
    np.testing.assert_array_equal(hidden["keypoints"][others, 2], free["keypoints"][others, 2])
    np.testing.assert_array_equal(
        hidden["image"][~hidden["occluder_mask"]], free["image"][~hidden["occluder_mask"]]
    )


def test_body_fills_a_spin_crop(batch, model):
    available = np.asarray(model.spin49_available)
    for i in range(len(SEEDS)):
        xy = batch["keypoints"][i][available, :2]
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        side = (hi - lo).max() / 2.0  # fraction of the crop side
        assert 0.9 / 1.2 - 1e-4 <= side <= 1.1 / 1.2 + 1e-4
        assert np.all(np.abs((lo + hi) / 2) <= 0.1 + 1e-5)
        fraction = batch["silhouette"][i].mean()
        assert 0.05 < fraction < 0.7


def test_parameter_ranges(batch):
    assert np.all(np.abs(batch["betas"]) <= synthetic_body.BETA_LIMIT)
    assert batch["betas"].std() > 0.3
    poses, _ = load_mocap_poses()
    for i in range(len(SEEDS)):
        clip_pose = poses[batch["frame"][i]]
        if batch["mirrored"][i]:
            clip_pose = mirror_pose(clip_pose)
        clip_rot = np.asarray(axis_angle_to_rotmat(clip_pose))
        rel = np.einsum("jba,jbc->jac", clip_rot[1:], batch["rotmats"][i][1:])
        angle = np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1))
        assert angle.max() <= synthetic_body.JOINT_NOISE + 1e-3
        # root: Rx(pi) Ry(yaw) R_clip, so Rx(pi) R_root R_clip^T is a rotation about y
        rx = np.diag([1.0, -1.0, -1.0])
        yaw_rot = rx @ batch["rotmats"][i][0] @ clip_rot[0].T
        np.testing.assert_allclose(yaw_rot[1], [0, 1, 0], atol=1e-4)


def test_walking_bodies_are_upright():
    walk = make_samples(range(100, 106), clips=["walk"])
    assert set(walk["clip"]) == {"walk"}
    kp = walk["keypoints"]
    assert np.all(kp[:, HEAD, 1] < kp[:, PELVIS, 1] - 0.2)  # head above pelvis (y down)
    assert np.all(walk["joints"][:, 15, 1] < -0.3)  # SMPL head joint above the pelvis in metres


def test_basic_style_is_unchanged_bit_for_bit():
    """tests/make_synthetic_fixture.py stored these samples before the lifelike style existed."""
    with np.load(FIXTURES / "synthetic_basic.npz") as stored:
        for seed, size in stored["cases"]:
            sample = make_sample(int(seed), crop_size=int(size), style="basic")
            for field in ("image", "keypoints", "pose", "betas", "camera", "joints3d_spin49"):
                np.testing.assert_array_equal(
                    sample[field],
                    stored[f"{seed}_{size}_{field}"],
                    err_msg=f"seed {seed}, {size} px, {field}",
                )
    np.testing.assert_array_equal(
        make_sample(3, crop_size=32)["image"],
        make_sample(3, crop_size=32, style="basic")["image"],
    )


def test_unknown_style_and_misplaced_options_are_refused():
    with pytest.raises(ValueError, match="unknown synthetic style"):
        make_sample(0, style="photoreal")
    with pytest.raises(ValueError, match="lifelike"):
        make_sample(0, crop_size=32, options=LifelikeOptions())
    with pytest.raises(ValueError, match="basic"):
        make_sample(0, style="lifelike", crop_size=32, occluders=[])


@pytest.fixture(scope="module")
def lifelike():
    return [make_sample(seed, style="lifelike", crop_size=64) for seed in range(24)]


def test_lifelike_is_deterministic_and_differs_from_basic(lifelike):
    again = make_sample(5, style="lifelike", crop_size=64)
    for field in ("image", "keypoints", "pose", "betas", "camera"):
        np.testing.assert_array_equal(again[field], lifelike[5][field])
    assert not np.array_equal(make_sample(5, crop_size=64)["image"], again["image"])
    assert not np.array_equal(lifelike[0]["image"], lifelike[1]["image"])


def test_lifelike_keypoints_are_the_projected_ground_truth(lifelike, model):
    rotmats = np.stack([s["rotmats"] for s in lifelike])
    betas = np.stack([s["betas"] for s in lifelike])
    cameras = np.stack([s["camera"] for s in lifelike])
    out = body.forward(model, rotmats, betas)
    projected = np.asarray(weak_perspective(out.spin49, cameras))
    np.testing.assert_allclose(
        projected, np.stack([s["keypoints"][:, :2] for s in lifelike]), atol=1e-4
    )
    for s in lifelike:
        assert np.isfinite(s["keypoints"]).all() and s["image"].dtype == np.uint8


def test_lifelike_visibility_of_truncated_and_occluded_keypoints(model):
    options = LifelikeOptions(truncation_probability=1.0, occluder_counts=(0.0, 0.0, 1.0))
    available = np.asarray(model.spin49_available)
    outside_seen, truncated = 0, 0
    for seed in range(8):
        s = make_sample(seed, style="lifelike", crop_size=64, options=options)
        truncated += s["truncated"]
        kp = s["keypoints"]
        inside = np.all(np.abs(kp[:, :2]) < 1.0, axis=-1)
        assert not np.any(kp[~inside, 2]), seed  # outside the crop: never visible
        outside_seen += int((~inside & available).sum())
        assert (inside & available).sum() >= 0.4 * available.sum()
        visible = kp[:, 2] > 0
        rows, cols = _pixels(kp[visible, :2], 64)
        assert np.all(s["silhouette"][rows, cols]) and not np.any(s["occluder_mask"][rows, cols])
        assert s["occluder_mask"].any()
    assert truncated >= 6  # (a crop that cannot keep 40 % inside falls back to an untruncated one)
    assert outside_seen > 8  # truncation does push keypoints out of the crop


def test_lifelike_variety(lifelike):
    sources = {s["pose_source"] for s in lifelike}
    assert sources == {"clip", "interpolated", "random"}
    assert {s["mirrored"] for s in lifelike} == {True, False}
    assert any(s["truncated"] for s in lifelike) and not all(s["truncated"] for s in lifelike)
    for s in lifelike:
        assert (s["frame"] == -1) == (s["pose_source"] == "random")
    # a body is not one colour per part: pixels of one sample's body vary within their part
    body_pixels = lifelike[0]["image"][lifelike[0]["silhouette"]].astype(float)
    assert body_pixels.std(axis=0).mean() > 10
    # headings spread all round: the pelvis' forward axis points every way in the image plane
    forward = np.stack([s["rotmats"][0][:, 2] for s in lifelike])  # body +z in camera frame
    angles = np.arctan2(forward[:, 0], forward[:, 2])
    assert np.histogram(angles, bins=4, range=(-np.pi, np.pi))[0].min() >= 2


def test_lifelike_pose_mix_is_configurable():
    only_random = LifelikeOptions(pose_mix=PoseMix(clip=0, interpolated=0, random=1))
    for seed in range(3):
        s = make_sample(seed, style="lifelike", crop_size=32, options=only_random)
        assert s["pose_source"] == "random" and s["clip"] == ""
    only_walk = make_sample(
        0,
        style="lifelike",
        crop_size=32,
        clips=["walk"],
        options=LifelikeOptions(pose_mix=PoseMix(1, 0, 0)),
    )
    assert only_walk["clip"] == "walk"
