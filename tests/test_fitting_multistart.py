"""Multi-start EFT: K = 1 is plain EFT bit for bit; mirroring round-trips and matches the body;
the turned start turns only the root; the kept hypothesis is the best by loss, then by prior."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from tiny_eft import IMAGE_SIZE, assert_results_identical, tiny_exemplars

from eft_jax import body, fitting
from eft_jax.body.joint_sets import SPIN49_MIRROR
from eft_jax.body.mirror import mirror_rotmats
from eft_jax.fitting import multistart
from eft_jax.fitting.exemplar import full_frame_of
from eft_jax.geometry import (
    crop_to_full_translation,
    full_frame_projection,
    full_to_crop_camera,
    weak_perspective,
)

pytestmark = pytest.mark.fast_compiles

# SPIN's constants.py: OpenPose and 24-joint flip permutations (J49_FLIP_PERM = OP + 25 + J24).
SPIN_OP_FLIP = [
    0,
    1,
    5,
    6,
    7,
    2,
    3,
    4,
    8,
    12,
    13,
    14,
    9,
    10,
    11,
    16,
    15,
    18,
    17,
    22,
    23,
    24,
    19,
    20,
    21,
]
SPIN_J24_FLIP = [
    5,
    4,
    3,
    2,
    1,
    0,
    11,
    10,
    9,
    8,
    7,
    6,
    12,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
    21,
    20,
    23,
    22,
]


@pytest.fixture(scope="module")
def exemplars(eft_setup):
    regressor, variables, model, _ = eft_setup
    return tiny_exemplars(regressor, variables, model, count=5)


def test_one_hypothesis_is_plain_eft_bit_for_bit(eft_setup, exemplars):
    regressor, variables, model, config = eft_setup
    assert config.hypotheses == 1
    plain = list(
        fitting.fit_stream(
            exemplars, fitting.EftEngine(regressor, variables, model, config, crop_size=IMAGE_SIZE)
        )
    )
    fitter = multistart.MultiStartEft(regressor, variables, model, config, crop_size=IMAGE_SIZE)
    assert fitter.turned_engine is None
    ours = list(fitter.fit_stream(exemplars))
    assert [r.id for r in ours] == [r.id for r in plain]
    for actual, expected in zip(ours, plain):
        assert type(actual) is fitting.FitResult
        assert_results_identical(actual, expected)


def test_spin49_mirror_is_spins_flip_permutation():
    np.testing.assert_array_equal(SPIN49_MIRROR, SPIN_OP_FLIP + [25 + i for i in SPIN_J24_FLIP])


def test_mirroring_round_trips():
    rng = np.random.default_rng(0)
    rotmats = Rotation.random(24, random_state=0).as_matrix().astype(np.float32)
    camera = np.array([0.9, 0.1, -0.2], np.float32)
    keypoints = rng.uniform(-1, 1, (49, 3)).astype(np.float32)
    image = rng.normal(size=(8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(mirror_rotmats(mirror_rotmats(rotmats)), rotmats, atol=1e-6)
    np.testing.assert_array_equal(
        multistart.mirror_camera(multistart.mirror_camera(camera)), camera
    )
    np.testing.assert_array_equal(
        multistart.mirror_keypoints(multistart.mirror_keypoints(keypoints)), keypoints
    )
    np.testing.assert_array_equal(multistart.mirror_image(multistart.mirror_image(image)), image)
    mirrored = mirror_rotmats(rotmats)
    np.testing.assert_allclose(np.linalg.det(mirrored), 1.0, atol=1e-5)  # still rotations


def test_mirrored_fit_projects_onto_mirrored_keypoints():
    """The bundled body posed with the mirrored pose and camera lands on the mirrored keypoints
    of the original (x -> -x, left/right slots exchanged), to within the body's asymmetry."""
    model = body.load()
    rotmats = (
        Rotation.from_rotvec(Rotation.random(24, random_state=1).as_rotvec() * 0.4)
        .as_matrix()
        .astype(np.float32)
    )
    betas = np.linspace(-1, 1, 10).astype(np.float32)
    camera = np.array([0.8, 0.05, -0.1], np.float32)

    def project(r, c):
        return np.asarray(
            weak_perspective(
                body.forward(model, jnp.asarray(r), jnp.asarray(betas)).spin49, jnp.asarray(c)
            )
        )

    original = project(rotmats, camera)
    mirrored = project(mirror_rotmats(rotmats), multistart.mirror_camera(camera))
    available = np.asarray(model.spin49_available)
    error_px = np.abs(multistart.mirror_keypoints(original) - mirrored)[available].max() * 112
    assert error_px < 0.5, error_px
    # and the mirrored pose really differs from the original one
    assert np.abs(original - mirrored)[available].max() * 112 > 5


def test_turned_regressor_turns_only_the_root(eft_setup):
    regressor, variables, _, _ = eft_setup
    images = jnp.asarray(
        np.random.default_rng(0).normal(size=(2, IMAGE_SIZE, IMAGE_SIZE, 3)), jnp.float32
    )
    plain = regressor.apply(variables, images)
    turned = multistart.TurnedRegressor(regressor).apply(variables, images)
    np.testing.assert_allclose(
        turned.rotmats[:, 0], multistart.TURN_180_Y @ plain.rotmats[:, 0], atol=1e-6
    )
    np.testing.assert_array_equal(turned.rotmats[:, 1:], plain.rotmats[:, 1:])
    np.testing.assert_array_equal(turned.betas, plain.betas)
    np.testing.assert_array_equal(turned.camera, plain.camera)


def test_choose_by_loss_then_prior():
    assert multistart.choose([3.0, 1.0, 2.0], [0.0, 9.0, 0.0], 0.0) == 1
    assert (
        multistart.choose([1.0, 1.04, 2.0], [5.0, 1.0, 0.0], 0.05) == 1
    )  # tied: the prior decides
    assert multistart.choose([1.0, 1.06, 2.0], [5.0, 1.0, 0.0], 0.05) == 0  # not tied
    assert multistart.choose([None, 2.0, float("nan")], [0.0, 1.0, 0.0], 0.05) == 1
    with pytest.raises(ValueError):
        multistart.choose([None, None], [0.0, 0.0], 0.05)


@pytest.mark.parametrize("count", [3])
def test_multistart_keeps_the_best_rescored_hypothesis(eft_setup, exemplars, count):
    regressor, variables, model, config = eft_setup
    config = config.copy_and_resolve_references()
    config.hypotheses = count
    config.hypothesis_tie_tolerance = 0.0
    fitter = multistart.MultiStartEft(
        regressor, variables, model, config, crop_size=IMAGE_SIZE, chunk_size=3
    )
    results = list(fitter.fit_stream(exemplars))
    assert [r.id for r in results] == [e.id for e in exemplars]  # input order, one each
    plain = {r.id: r for r in fitting.fit_stream(exemplars, fitter.engine)}
    for result in results:
        assert result.hypothesis in multistart.HYPOTHESES[:count]
        assert len(result.hypothesis_losses) == count
        assert result.keypoint_loss_after == min(result.hypothesis_losses)
        # the plain hypothesis, re-scored, is the plain fit's own loss
        np.testing.assert_allclose(
            result.hypothesis_losses[0], plain[result.id].keypoint_loss_after, rtol=1e-4
        )
        assert result.total_iterations >= result.iterations
        assert result.keypoint_loss_after <= plain[result.id].keypoint_loss_after * (1 + 1e-4)


def _placed_in_a_frame(exemplars):
    """The exemplars as people off the centre of a 640 x 480 image (boxes of 150-250 px)."""
    rng = np.random.default_rng(4)
    return [
        dataclasses.replace(
            e,
            center=rng.uniform([80, 80], [560, 400]),
            scale=float(rng.uniform(0.75, 1.25)),
            image_size=(640, 480),
        )
        for e in exemplars
    ]


def _full_frame_config(config, count):
    config = config.copy_and_resolve_references()
    config.hypotheses = count
    config.hypothesis_tie_tolerance = 0.0
    config.camera = "full_frame"
    config.focal_px = 900.0
    return config


def test_a_full_frame_mirror_is_the_camera_planes(eft_setup, exemplars):
    """Under the full-frame camera the mirrored hypothesis mirrors the scene about the camera's
    x = 0 plane: the mirrored body at (-T_x, T_y, T_z) seen in the mirrored exemplar's box lands
    on the mirrored keypoints of the original, to within the body's asymmetry."""
    regressor, variables, model, config = eft_setup
    fitter = multistart.MultiStartEft(
        regressor, variables, model, _full_frame_config(config, 2), crop_size=IMAGE_SIZE
    )
    person = _placed_in_a_frame(exemplars)[0]
    mirrored = fitter._hypothesis(person, "mirrored")
    frame, _ = full_frame_of(person, 900.0)
    mirrored_frame, _ = full_frame_of(mirrored, 900.0)
    assert abs(float(frame.box_center[0]) - 319.5) > 20  # off-centre, so the mirror moves the box
    np.testing.assert_allclose(mirrored_frame.box_center[0], 639.0 - frame.box_center[0])

    rotmats = Rotation.from_rotvec(Rotation.random(24, random_state=2).as_rotvec() * 0.4)
    rotmats = rotmats.as_matrix().astype(np.float32)
    betas = np.zeros(10, np.float32)
    translation = jnp.asarray([0.3, 0.1, 4.0], jnp.float32)

    def keypoints(r, t, f):
        joints = body.forward(model, jnp.asarray(r), jnp.asarray(betas)).spin49
        return np.asarray(full_frame_projection(joints, full_to_crop_camera(t, f), f))

    original = keypoints(rotmats, translation, frame)
    seen_mirrored = keypoints(
        mirror_rotmats(rotmats), translation * jnp.asarray([-1, 1, 1]), mirrored_frame
    )
    available = np.asarray(model.spin49_available)
    error_px = np.abs(multistart.mirror_keypoints(original) - seen_mirrored)[available].max()
    assert error_px * IMAGE_SIZE / 2 < 0.5, error_px
    # the crop cameras of the two are each other's mirror, as mirror_camera maps them back
    np.testing.assert_allclose(
        multistart.mirror_camera(
            full_to_crop_camera(translation * jnp.asarray([-1, 1, 1]), mirrored_frame)
        ),
        full_to_crop_camera(translation, frame),
        atol=1e-5,
    )


def test_full_frame_multistart_keeps_the_best_hypothesis_with_its_translation(eft_setup, exemplars):
    regressor, variables, model, config = eft_setup
    fitter = multistart.MultiStartEft(
        regressor, variables, model, _full_frame_config(config, 2), crop_size=IMAGE_SIZE
    )
    people = _placed_in_a_frame(exemplars[:3])
    results = list(fitter.fit_stream(people))
    plain = {r.id: r for r in fitting.fit_stream(people, fitter.engine)}
    for person, result in zip(people, results):
        frame, _ = full_frame_of(person, 900.0)
        assert result.keypoint_loss_after == min(result.hypothesis_losses)
        np.testing.assert_allclose(
            result.hypothesis_losses[0], plain[result.id].keypoint_loss_after, rtol=1e-4
        )
        np.testing.assert_allclose(result.focal_length, [900.0, 900.0])
        # the kept fit's translation is its crop camera's in the exemplar's own frame
        np.testing.assert_allclose(
            result.translation, crop_to_full_translation(result.camera, frame), rtol=1e-4
        )
