"""The full-frame synthetic style: keypoints and rendering through a true pinhole camera, the
camera's truth (the translation recovered from the true body, the keypoints and the focal
length), SPIN's crop from the keypoints, the sampling ranges, and its TFDS config."""

import numpy as np
import pytest

from eft_jax import body
from eft_jax.datasets import synthetic_body
from eft_jax.datasets.synthetic import make_sample
from eft_jax.datasets.synthetic_full_frame import (
    DISTANCE_RANGE,
    FOCAL_RANGE,
    FRAME_MARGIN,
    FullFrameOptions,
    make_full_frame_sample,
    project,
)
from eft_jax.datasets.synthetic_lifelike import LifelikeOptions
from eft_jax.datasets.synthetic_tfds import VALIDATION_SEED_OFFSET, builder_for
from eft_jax.geometry import weak_perspective
from eft_jax.geometry.crops import BOX_RESCALE, crop_to_image

pytestmark = pytest.mark.fast_compiles

SIZES = ((320, 240),)  # a small frame keeps the tests fast
OPTIONS = FullFrameOptions(frame_sizes=SIZES)
CROP = 64


@pytest.fixture(scope="module")
def model():
    return synthetic_body.default_model()


@pytest.fixture(scope="module")
def samples(model):
    return [
        make_full_frame_sample(
            seed, crop_size=CROP, model=model, with_vertices=True, options=OPTIONS
        )
        for seed in range(8)
    ]


def _forward(model, sample):
    return body.forward(model, sample["rotmats"], sample["betas"])


def _recovered_translation(joints, keypoints_frame, focal, principal):
    """Least squares t with f (X + t)_xy / (X + t)_z + c = keypoint for every visible keypoint:
    linear in t, f (X_x + t_x) - (u - c_x) (X_z + t_z) = 0 and likewise for y."""
    visible = keypoints_frame[:, 2] > 0
    points, uv = joints[visible].astype(np.float64), keypoints_frame[visible, :2] - principal
    rows, rhs = [], []
    for axis in (0, 1):
        a = np.zeros((len(points), 3))
        a[:, axis] = focal
        a[:, 2] = -uv[:, axis]
        rows.append(a)
        rhs.append(uv[:, axis] * points[:, 2] - focal * points[:, axis])
    return np.linalg.lstsq(np.concatenate(rows), np.concatenate(rhs), rcond=None)[0]


def test_translation_is_recovered_from_the_true_body_and_the_keypoints(samples, model):
    """The issue's check: the true pose fitted to the sample's crop keypoints, mapped back into
    the frame through the box, with the focal length known, gives the true translation."""
    for sample in samples:
        joints = np.asarray(_forward(model, sample).spin49)
        keypoints_frame = crop_to_image(
            sample["keypoints"], sample["box_center"], sample["box_scale"]
        )
        translation = _recovered_translation(
            joints, keypoints_frame, float(sample["focal_px"]), sample["principal_px"]
        )
        error = np.linalg.norm(translation - sample["translation"])
        assert error < 0.01, (sample["seed"], error, translation, sample["translation"])


def test_keypoints_are_the_pinhole_projection_of_the_body(samples, model):
    available = np.asarray(model.spin49_available)
    for sample in samples:
        joints = np.asarray(_forward(model, sample).spin49)
        uv = project(joints, sample["focal_px"], sample["principal_px"], sample["translation"])
        np.testing.assert_allclose(
            sample["keypoints_frame"][available, :2], uv[available], atol=0.02
        )
        np.testing.assert_allclose(
            crop_to_image(sample["keypoints"], sample["box_center"], sample["box_scale"]),
            sample["keypoints_frame"],
            atol=1e-3,
        )
        # SPIN's box from the keypoints: the longer side of their box is the crop's 1 / 1.2
        inside = sample["keypoints"][available, :2]
        assert np.ptp(inside, axis=0).max() == pytest.approx(2.0 / BOX_RESCALE, abs=1e-4)
        assert np.abs(inside).max() <= 1.0 / BOX_RESCALE + 1e-4


def test_the_rendering_is_perspective_not_weak_perspective(samples, model):
    """The crop's body pixels span the box of the vertices projected through the pinhole
    camera; a weak-perspective projection (the crop camera nearest the true one) misses it for
    the people seen obliquely."""
    weak_misses = []
    for sample in samples:
        vertices = np.asarray(_forward(model, sample).vertices)
        uv = project(vertices, sample["focal_px"], sample["principal_px"], sample["translation"])
        in_crop = (uv - sample["box_center"]) / (100.0 * sample["box_scale"])
        rows, cols = np.nonzero(sample["silhouette"])
        drawn = np.array([cols.min(), rows.min(), cols.max(), rows.max()], float)

        def box(xy):
            pixels = (xy + 1.0) * 0.5 * CROP - 0.5
            return np.concatenate([pixels.min(axis=0), pixels.max(axis=0)])

        np.testing.assert_allclose(drawn, box(in_crop), atol=2.0, err_msg=str(sample["seed"]))
        weak = np.asarray(weak_perspective(vertices, sample["camera"]))
        weak_misses.append(np.abs(box(weak) - drawn).max())
    assert max(weak_misses) > 8.0


def test_visible_keypoints_lie_on_the_body(samples):
    for sample in samples:
        visible = sample["keypoints"][:, 2] > 0
        assert visible.sum() >= 10
        px = np.clip(
            ((sample["keypoints"][visible, :2] + 1.0) * 0.5 * CROP).astype(int), 0, CROP - 1
        )
        on_body = sample["silhouette"][px[:, 1], px[:, 0]]
        assert on_body.mean() > 0.85, sample["seed"]


def test_ranges_of_the_camera_and_the_place(samples, model):
    available = np.asarray(model.spin49_available)
    for sample in samples:
        width, height = sample["image_size"]
        assert (width, height) in SIZES
        np.testing.assert_allclose(sample["principal_px"], [(width - 1) / 2, (height - 1) / 2])
        fraction = sample["focal_px"] / np.hypot(width, height)
        assert FOCAL_RANGE[0] <= fraction <= FOCAL_RANGE[1]
        pelvis_depth = sample["translation"][2] + np.asarray(_forward(model, sample).joints)[0, 2]
        assert pelvis_depth >= DISTANCE_RANGE[0]
        uv = sample["keypoints_frame"][available, :2]
        margin = FRAME_MARGIN * min(width, height)
        assert np.all(uv >= margin - 1e-3) and np.all(
            uv <= [width - 1 - margin, height - 1 - margin]
        )
    depths = [s["translation"][2] for s in samples]
    centres = np.stack([s["box_center"] / s["image_size"] for s in samples])
    assert min(depths) < 3.0 and max(depths) > 5.0  # near and far people
    assert np.ptp(centres[:, 0]) > 0.4  # placed across the frame, not centred


def test_style_entry_point_is_deterministic_and_checks_options(model):
    first = make_sample(3, style="full_frame", crop_size=32, options=OPTIONS)
    again = make_full_frame_sample(
        3, crop_size=32, model=model, options=OPTIONS, with_full_image=True
    )
    for key in ("image", "keypoints", "translation", "focal_px", "box_center", "camera"):
        np.testing.assert_array_equal(first[key], again[key], err_msg=key)
    width, height = again["image_size"]
    assert again["full_image"].shape == (height, width, 3)
    with pytest.raises(ValueError, match="full_frame"):
        make_sample(3, style="full_frame", crop_size=32, options=LifelikeOptions())
    with pytest.raises(ValueError, match="basic"):
        make_sample(3, style="full_frame", crop_size=32, occluders=[])


@pytest.mark.slow
def test_tfds_config_of_the_full_frame_style(tmp_path):
    preset = builder_for(128, 40_000, 1_000, str(tmp_path), style="full_frame")
    assert (preset.builder_config.name, str(preset.version)) == ("full_frame_128px", "3.0.0")
    features = preset.info.features
    assert {"translation", "focal_px", "principal_px", "image_size", "box_center"} <= set(features)
    assert "truncated" not in features
    builder = builder_for(32, 1, 1, str(tmp_path), style="full_frame")
    builder.download_and_prepare()
    record = builder.as_data_source("validation")[0]
    expected = make_sample(VALIDATION_SEED_OFFSET, style="full_frame", crop_size=32)
    for key in ("image", "keypoints", "translation", "focal_px", "image_size", "box_scale"):
        np.testing.assert_array_equal(
            np.asarray(record[key]), np.asarray(expected[key]), err_msg=key
        )
