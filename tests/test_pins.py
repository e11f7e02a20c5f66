"""Pins: values and rules that a one-line change could move while every behavioural test still
passes (each was checked by introducing such a change and seeing its test fail)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tiny_eft

from eft_jax import body, fitting
from eft_jax.body.joint_sets import SPIN49_NAMES
from eft_jax.config import default_config_path, load_config
from eft_jax.fitting import smplify as smplify_module
from eft_jax.fitting.pose_prior import BUNDLED_POSE_GMM_PATH
from eft_jax.formats.exemplar import Skip

pytestmark = pytest.mark.fast_compiles


# -- SMPLify's loss by hand (SPIN smplify/losses.py and configs/smplify.py's values) -----------

SIGMA = 100.0  # losses.py:28 Geman-McClure sigma, pixels
POSE_PRIOR_WEIGHT, ANGLE_PRIOR_WEIGHT, SHAPE_PRIOR_WEIGHT = 4.78, 15.2, 5.0  # losses.py:28-29
DEPTH_WEIGHT = 100.0  # losses.py:61
FOCAL, CROP = 5000.0, 224


def _gmm_energy(body_pose) -> float:
    """SMPLify-X's MaxMixturePrior in float64 from the bundled file: min over components of
    0.5 d^T C^-1 d - log w + (69/2) log 2 pi + 0.5 (log det C - min log det C)."""
    with np.load(BUNDLED_POSE_GMM_PATH) as gmm:
        means, covars, weights = gmm["means"], gmm["covars"], gmm["weights"]
    log_dets = np.linalg.slogdet(covars)[1]
    energies = []
    for m in range(len(weights)):
        d = np.asarray(body_pose, np.float64) - means[m]
        energies.append(
            0.5 * d @ np.linalg.solve(covars[m], d)
            - np.log(weights[m])
            + 34.5 * np.log(2 * np.pi)
            + 0.5 * (log_dets[m] - log_dets.min())
        )
    return min(energies)


@pytest.fixture(scope="module")
def smplify():
    return smplify_module.Smplify(body.load(), load_config(default_config_path("smplify")))


def test_smplify_body_loss_by_hand_at_known_residuals(smplify):
    shared, settings = smplify.shared, smplify.settings
    # Every joint at the origin, the camera 10 m in front: each projects to the crop's centre.
    joints = jnp.zeros((49, 3))
    translation = np.array([0.0, 0.0, 10.0])
    residuals = np.zeros((49, 2))
    weights = np.zeros(49)
    for name, residual, weight in (
        ("Right Knee", (30.0, -40.0), 1.0),  # |r| < sigma
        ("Left Wrist", (150.0, 0.0), 0.5),  # |r| > sigma: Geman-McClure flattens it
        ("OP Nose", (5.0, 250.0), 0.8),
    ):
        residuals[SPIN49_NAMES.index(name)] = residual
        weights[SPIN49_NAMES.index(name)] = weight
    keypoints_px = CROP / 2 + residuals
    rng = np.random.default_rng(0)
    body_pose = rng.normal(0.0, 0.2, 69)
    betas = rng.normal(0.0, 1.0, 10)
    params = {
        "global_orient": jnp.zeros(3),
        "body_pose": jnp.asarray(body_pose, jnp.float32),
        "betas": jnp.asarray(betas, jnp.float32),
        "translation": jnp.asarray(translation, jnp.float32),
    }
    terms = smplify_module.body_loss(
        params, joints, jnp.asarray(keypoints_px), jnp.asarray(weights), shared, settings
    )

    squared = residuals**2
    reprojection = np.sum(weights**2 * np.sum(SIGMA**2 * squared / (SIGMA**2 + squared), -1))
    pose = POSE_PRIOR_WEIGHT**2 * _gmm_energy(body_pose.astype(np.float32))
    # losses.py:19-24: full-pose indices 55, 58, 12, 15 (elbows y, knees x), signs +, -, -, -
    full_pose = np.concatenate([np.zeros(3), body_pose.astype(np.float32)])
    bends = full_pose[[55, 58, 12, 15]] * np.array([1.0, -1.0, -1.0, -1.0])
    angle = ANGLE_PRIOR_WEIGHT**2 * np.sum(np.exp(bends) ** 2)
    shape = SHAPE_PRIOR_WEIGHT**2 * np.sum(betas.astype(np.float32) ** 2)
    assert min(reprojection, pose, angle, shape) > 1.0  # every term counts
    np.testing.assert_allclose(float(terms.reprojection), reprojection, rtol=1e-5)
    np.testing.assert_allclose(float(terms.pose_prior), pose, rtol=1e-4)
    np.testing.assert_allclose(float(terms.angle_prior), angle, rtol=1e-5)
    np.testing.assert_allclose(float(terms.shape_prior), shape, rtol=1e-5)
    np.testing.assert_allclose(float(terms.total), reprojection + pose + angle + shape, rtol=1e-4)


def test_smplify_camera_loss_by_hand(smplify):
    shared, settings = smplify.shared, smplify.settings
    joints = jnp.zeros((49, 3))
    keypoints_px = np.full((49, 2), CROP / 2)
    torso = ("OP RHip", "OP LHip", "OP RShoulder", "OP LShoulder")
    offsets = ((3.0, 4.0), (-6.0, 8.0), (0.0, 1.0), (2.0, 0.0))
    for name, offset in zip(torso, offsets):
        keypoints_px[SPIN49_NAMES.index(name)] += offset
    confidence = np.zeros(49)
    confidence[[SPIN49_NAMES.index(n) for n in torso]] = 0.7
    params = {"translation": jnp.asarray([0.0, 0.0, 10.0], jnp.float32)}
    init_translation = jnp.asarray([0.0, 0.0, 9.5], jnp.float32)
    loss = smplify_module.camera_loss(
        params,
        init_translation,
        joints,
        jnp.asarray(keypoints_px),
        jnp.asarray(confidence),
        shared,
        settings,
    )
    # losses.py:60-90: squared torso distances (confidence not applied) + depth_w^2 (dz)^2
    expected = sum(x * x + y * y for x, y in offsets) + DEPTH_WEIGHT**2 * 0.5**2
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    assert settings.focal_length == FOCAL and settings.crop_size == CROP


# -- the COCO selections at their thresholds (datasets/coco.py) ---------------------------------


@pytest.mark.parametrize("selection, kept_from", [("coco-all", 6), ("coco-part", 12)])
def test_coco_selection_keeps_people_from_exactly_its_limb_keypoint_count(
    tmp_path, selection, kept_from
):
    """EFT's COCO-All keeps >= 6 of the 12 limb keypoints (deepfashion.py:89, ochuman.py:62),
    COCO-Part (SPIN's) all 12; the five face keypoints, all annotated here, never count."""
    from fake_records import coco_person

    from eft_jax.datasets.coco import read_coco_keypoints

    annotations = []
    for limbs in (kept_from - 1, kept_from):
        person = coco_person(limbs, 1, 10, 10, 80)
        flags = np.asarray(person["keypoints"]).reshape(17, 3)
        flags[5 + limbs :, 2] = 0  # limb keypoints beyond the first `limbs` not annotated
        person["keypoints"] = flags.ravel().tolist()
        annotations.append(person)
    path = tmp_path / "keypoints.json"
    path.write_text(
        json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": annotations})
    )
    below, at = read_coco_keypoints(path, selection=selection)
    assert isinstance(below, Skip) and below.reason.startswith(f"{kept_from - 1} of 12 limb")
    assert not isinstance(at, Skip) and at.annot_id == kept_from
    assert at.keypoints[:, 2].sum() == kept_from + 5


# -- the engine: done and empty slots untouched; the stop test at the threshold -----------------


@pytest.fixture(scope="module")
def engine_inputs(tiny_regressor):
    """An engine of 4 slots that never converges early (threshold 0) and stops at 3 passes, and
    two exemplars' crops and keypoints."""
    regressor, variables, model = tiny_regressor
    config = tiny_eft.eft_config(["max_iters=3", "batch_size=4", "stop_threshold=0.0"])
    engine = fitting.EftEngine(regressor, variables, model, config, crop_size=tiny_eft.IMAGE_SIZE)
    rng = np.random.default_rng(0)
    size = tiny_eft.IMAGE_SIZE
    images = rng.normal(size=(2, size, size, 3)).astype(np.float32)
    targets = rng.uniform(-0.5, 0.5, (2, 49, 2))
    keypoints = np.concatenate([targets, np.ones((2, 49, 1))], -1).astype(np.float32)
    return engine, images, keypoints


def _host_copy(slots):
    return jax.tree.map(lambda leaf: np.array(leaf, copy=True), jax.device_get(slots))


def test_engine_step_leaves_done_and_empty_slots_bitwise_unchanged(engine_inputs):
    engine, images, keypoints = engine_inputs
    slots = engine.put_exemplars(engine.empty_slots(), [0], images[:1], keypoints[:1])
    for _ in range(3):  # slot 0 runs to max_iters
        slots = engine.step(slots)
    assert engine.done_flags(slots).tolist() == [True, True, True, True]
    slots = engine.put_exemplars(slots, [1], images[1:], keypoints[1:])
    before = _host_copy(slots)
    after = _host_copy(engine.step(slots))
    leaves_before, leaves_after = jax.tree.leaves(before), jax.tree.leaves(after)
    assert len(leaves_before) > 10  # weights, Adam moments and count, crops, kept prediction, ...
    for old, new in zip(leaves_before, leaves_after):
        for slot in (0, 2, 3):  # done, empty, empty
            assert old[slot].tobytes() == new[slot].tobytes()
    # the empty slots are still as a fresh engine's: no step ever wrote into them
    for fresh, new in zip(jax.tree.leaves(_host_copy(engine.empty_slots())), leaves_after):
        assert fresh[2:].tobytes() == new[2:].tobytes()
    moved = [not np.array_equal(o[1], n[1]) for o, n in zip(leaves_before, leaves_after)]
    assert sum(moved) > 10  # the running slot's weights and moments did move


def test_engine_does_not_stop_at_a_loss_equal_to_the_threshold(engine_inputs):
    # EFT stops when the keypoint loss is strictly under the threshold
    # (eftFitter.py:1587: `if output['loss_keypoints_2d'] < self.options.eft_thresh_keyptErr_2d`).
    # Keypoints of confidence 0 make the loss exactly 0, the threshold here.
    engine, images, keypoints = engine_inputs
    unweighted = keypoints[:1].copy()
    unweighted[..., 2] = 0.0
    slots = engine.put_exemplars(engine.empty_slots(), [0], images[:1], unweighted)
    slots = engine.step(slots)
    assert float(jax.device_get(slots.keypoint_loss)[0]) == 0.0
    assert not engine.done_flags(slots)[0]
    for _ in range(2):
        slots = engine.step(slots)
    (result,) = engine.results(slots, {0: "unweighted"})
    assert (result.stop_reason, result.iterations) == ("max_iters", 3)


def test_reference_does_not_stop_at_a_loss_equal_to_the_threshold(tiny_regressor):
    regressor, variables, model = tiny_regressor
    config = tiny_eft.eft_config(["max_iters=3", "stop_threshold=0.0"])
    reference = fitting.SequentialEft(
        regressor, variables, model, config, crop_size=tiny_eft.IMAGE_SIZE
    )
    rng = np.random.default_rng(1)
    size = tiny_eft.IMAGE_SIZE
    exemplar = tiny_eft.exemplar(
        "e", rng.normal(size=(size, size, 3)).astype(np.float32), rng.uniform(-0.5, 0.5, (49, 2))
    )
    first = reference.trajectory(exemplar, record=[0]).points[0].keypoint_loss
    reference.config.stop_threshold = float(first)  # the first pass's loss, exactly
    result = reference.fit(exemplar)
    assert result.keypoint_loss_before == first
    assert result.iterations > 1  # not stopped at the first pass, whose loss equals the threshold
