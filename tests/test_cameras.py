"""The crop and full-frame cameras (geometry/cameras.py; docs/camera.md): the pinhole projection
against a hand-built camera matrix, the crop camera as the full-frame camera's limit, where the
intrinsics come from, and the crop camera's fits kept (to float32 rounding)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tiny_eft

from eft_jax import body, fitting
from eft_jax.config import ConfigError
from eft_jax.fitting.exemplar import check_camera, full_frame_of
from eft_jax.fitting.objective import exemplar_loss
from eft_jax.formats.exemplar import Exemplar
from eft_jax.geometry import (
    FullFrame,
    crop_to_full_translation,
    full_frame_projection,
    full_to_crop_camera,
    pinhole,
    weak_perspective,
)

GOLDEN = Path(__file__).parent / "fixtures" / "camera_crop_golden.npz"


def _frame(center, box_size, focal, principal) -> FullFrame:
    return FullFrame(
        box_center=jnp.asarray(center, jnp.float32),
        box_size=jnp.asarray(box_size, jnp.float32),
        focal=jnp.asarray(focal, jnp.float32),
        principal_point=jnp.asarray(principal, jnp.float32),
    )


def _body_points(seed=0, count=20):
    """Points of a standing body's size about the origin (metres)."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (count, 3)) * [0.3, 0.9, 0.2]).astype(np.float32)


def _jitted_loss(regressor):
    """exemplar_loss with the regressor's weights, image, keypoints and frame as arguments: one
    compile per camera kind instead of op-by-op dispatch."""
    return jax.jit(
        lambda base, frozen, image, keypoints, frame: exemplar_loss(
            base,
            frozen,
            image,
            keypoints,
            regressor=regressor,
            settings=fitting.LossSettings(),
            frame=frame,
        )
    )


def test_pinhole_matches_a_hand_built_camera_matrix():
    points = _body_points().astype(np.float64)
    translation = np.array([0.4, -0.2, 4.5])
    K = np.array([[1100.0, 0.0, 630.0], [0.0, 1050.0, 355.0], [0.0, 0.0, 1.0]])
    homogeneous = (points + translation) @ K.T
    expected = homogeneous[:, :2] / homogeneous[:, 2:]
    actual = pinhole(
        jnp.asarray(points, jnp.float32),
        jnp.asarray(translation, jnp.float32),
        jnp.asarray([1100.0, 1050.0]),
        jnp.asarray([630.0, 355.0]),
    )
    np.testing.assert_allclose(actual, expected, atol=1e-3)

    # The same camera through a box: the crop camera turned into that translation projects the
    # points where the hand-built camera puts them, in the box's normalised coordinates.
    frame = _frame([900.0, 300.0], 380.0, [1100.0, 1050.0], [630.0, 355.0])
    camera = full_to_crop_camera(jnp.asarray(translation, jnp.float32), frame)
    np.testing.assert_allclose(crop_to_full_translation(camera, frame), translation, rtol=1e-5)
    in_box = full_frame_projection(jnp.asarray(points, jnp.float32), camera, frame)
    np.testing.assert_allclose(in_box, (expected - [900.0, 300.0]) / 190.0, atol=1e-5)


def test_a_full_frame_fit_is_drawn_in_its_crop_where_the_loss_sees_it():
    from eft_jax import render

    points = jnp.asarray(_body_points(2))
    camera = jnp.asarray([0.7, 0.1, -0.05])
    frame = _frame([1000.0, 200.0], 260.0, [900.0, 880.0], [640.0, 360.0])  # off-centre, wide
    size = 224
    in_box = full_frame_projection(points, camera, frame)  # what EFT's loss compares
    drawn = render.box_view_camera(crop_to_full_translation(camera, frame), frame, size)
    pixels, _ = render.perspective_to_pixels(points, drawn)
    np.testing.assert_allclose(pixels, render.crop_to_pixels(in_box, size, size), atol=2e-3)
    # The crop camera's weak perspective, which the strips drew before, is far off here.
    weak_pixels = render.crop_to_pixels(weak_perspective(points, camera), size, size)
    assert np.abs(weak_pixels - pixels).max() > 3.0


def test_crop_and_full_frame_cameras_agree_for_a_centred_person_and_a_long_lens():
    points = jnp.asarray(_body_points(1))
    camera = jnp.asarray([0.8, 0.05, -0.03])
    weak = weak_perspective(points, camera)
    centred_far = _frame([640.0, 360.0], 300.0, [3e4, 3e4], [640.0, 360.0])
    np.testing.assert_allclose(full_frame_projection(points, camera, centred_far), weak, atol=2e-3)
    # Off the image's centre and with a normal lens the two differ by far more.
    off_centre = _frame([1100.0, 150.0], 300.0, [1468.0, 1468.0], [640.0, 360.0])
    difference = np.abs(full_frame_projection(points, camera, off_centre) - weak).max()
    assert difference > 0.02  # ten times the tolerance above


def test_intrinsics_come_from_the_input_then_the_flag_then_the_image():
    image = np.zeros((8, 8, 3), np.float32)
    keypoints = np.zeros((49, 3), np.float32)
    person = Exemplar("a", image, keypoints, center=np.array([300.0, 200.0]), scale=1.5)
    assert "image's size" in person.intrinsics()
    sized = dataclasses.replace(person, image_size=(640, 480))
    focal, principal = sized.intrinsics()
    np.testing.assert_allclose(focal, [800.0, 800.0])  # the diagonal of 640 x 480
    np.testing.assert_allclose(principal, [319.5, 239.5])
    np.testing.assert_allclose(sized.intrinsics(focal_px=1000.0)[0], [1000.0, 1000.0])
    given = dataclasses.replace(
        sized, focal_length=(1200.0, 1190.0), principal_point=(322.0, 241.0)
    )
    focal, principal = given.intrinsics(focal_px=1000.0)
    np.testing.assert_allclose(focal, [1200.0, 1190.0])
    np.testing.assert_allclose(principal, [322.0, 241.0])
    frame, reason = full_frame_of(given)
    assert reason is None
    np.testing.assert_allclose(frame.box_size, 300.0)
    np.testing.assert_allclose(frame.box_center, [300.0, 200.0])


@pytest.mark.fast_compiles
def test_the_full_frame_loss_tends_to_the_crop_loss_for_a_centred_person_and_a_long_lens(
    tiny_regressor,
):
    regressor, variables, model = tiny_regressor
    (exemplar,) = tiny_eft.tiny_exemplars(regressor, variables, model, 1)
    reference = fitting.SequentialEft(
        regressor, variables, model, tiny_eft.eft_config(), crop_size=tiny_eft.IMAGE_SIZE
    )

    loss_of = _jitted_loss(regressor)

    def loss(frame):
        total, (terms, prediction) = loss_of(
            reference.base,
            reference.frozen,
            jnp.asarray(exemplar.image),
            jnp.asarray(exemplar.keypoints),
            frame,
        )
        return float(terms.keypoint_loss), np.asarray(prediction.keypoints_2d)

    crop_loss, crop_keypoints = loss(None)
    far_loss, far_keypoints = loss(_frame([640.0, 360.0], 300.0, [1e4, 1e4], [640.0, 360.0]))
    near_loss, _ = loss(_frame([1100.0, 150.0], 300.0, [600.0, 600.0], [640.0, 360.0]))
    np.testing.assert_allclose(far_keypoints, crop_keypoints, atol=5e-3)
    assert abs(far_loss - crop_loss) < 0.02 * crop_loss
    assert abs(near_loss - crop_loss) > 0.1 * crop_loss


@pytest.mark.fast_compiles
def test_the_3dpw_readers_intrinsics_reach_the_loss(tmp_path, tiny_regressor):
    from dataset_builders import make_pw3d

    from eft_jax.datasets.people import iter_exemplars
    from eft_jax.datasets.registry import open_dataset

    make_pw3d(tmp_path)  # its sequence's cam_intrinsics: f = (150, 148), p = (61, 47)
    source = open_dataset("3dpw", tmp_path)
    person = next(iter_exemplars(source.items, source.images_dir, crop_size=tiny_eft.IMAGE_SIZE))
    frame, _ = full_frame_of(person, focal_px=999.0)  # the input's intrinsics come first
    np.testing.assert_allclose(frame.focal, [150.0, 148.0])
    np.testing.assert_allclose(frame.principal_point, [61.0, 47.0])

    regressor, variables, model = tiny_regressor
    reference = fitting.SequentialEft(
        regressor, variables, model, tiny_eft.eft_config(), crop_size=tiny_eft.IMAGE_SIZE
    )

    loss_of = _jitted_loss(regressor)

    def keypoint_loss(frame):
        _, (terms, _) = loss_of(
            reference.base,
            reference.frozen,
            jnp.asarray(person.image),
            jnp.asarray(person.keypoints),
            frame,
        )
        return float(terms.keypoint_loss)

    by_hand = _frame(person.center, 200 * person.scale, [150.0, 148.0], [61.0, 47.0])
    assert keypoint_loss(frame) == pytest.approx(keypoint_loss(by_hand), rel=1e-6)
    diagonal, _ = full_frame_of(dataclasses.replace(person, focal_length=None))
    assert abs(keypoint_loss(diagonal) - keypoint_loss(frame)) > 1e-3 * keypoint_loss(frame)


def test_a_coco_files_images_may_carry_their_cameras_intrinsics(tmp_path):
    import json

    from eft_jax.datasets.coco import CocoFormatError, read_coco_keypoints

    keypoints = [v for i in range(17) for v in (100 + 3 * i, 50 + 10 * i, 2)]
    document = {
        "images": [
            {
                "id": 1,
                "file_name": "a.jpg",
                "focal_length": 1480.0,
                "principal_point": [539.5, 719.5],
            },
            {"id": 2, "file_name": "b.jpg", "focal_length": [900.0, 905.0]},
            {"id": 3, "file_name": "c.jpg"},
        ],
        "annotations": [
            {"id": i, "image_id": i, "bbox": [90, 40, 60, 180], "keypoints": keypoints}
            for i in (1, 2, 3)
        ],
    }
    path = tmp_path / "people.json"
    path.write_text(json.dumps(document))
    a, b, c = read_coco_keypoints(path)
    np.testing.assert_allclose(a.focal_length, [1480.0, 1480.0])
    np.testing.assert_allclose(a.principal_point, [539.5, 719.5])
    np.testing.assert_allclose(b.focal_length, [900.0, 905.0])
    assert b.principal_point is None and c.focal_length is None
    document["images"][2]["focal_length"] = -5
    path.write_text(json.dumps(document))
    with pytest.raises(CocoFormatError, match="focal_length"):
        read_coco_keypoints(path)


def test_an_exemplar_file_may_carry_image_sizes_and_intrinsics(tmp_path):
    from eft_jax.formats.exemplar_npz import iter_exemplars_npz, write_exemplars_npz

    path = write_exemplars_npz(
        tmp_path / "crops.npz",
        np.zeros((2, 8, 8, 3), np.uint8),
        np.zeros((2, 49, 3), np.float32),
        center=[[300.0, 200.0], [100.0, 90.0]],
        scale=[1.0, 0.5],
        image_size=[[640, 480], [640, 480]],
        focal_length=[[700.0, 700.0], [np.nan, np.nan]],  # NaN: not given
        principal_point=[[320.0, 240.0], [np.nan, np.nan]],
    )
    given, guessed = iter_exemplars_npz(path)
    assert given.image_size == (640, 480)
    np.testing.assert_allclose(given.intrinsics()[0], [700.0, 700.0])
    assert guessed.focal_length is None
    np.testing.assert_allclose(guessed.intrinsics()[0], [800.0, 800.0])


@pytest.fixture(scope="module")
def golden_setup():
    import make_camera_crop_golden as golden

    setup, exemplars = golden.golden_exemplars()
    # What the readers now add (image size, intrinsics) must not touch a crop-camera fit.
    exemplars = [
        dataclasses.replace(
            e,
            center=np.array([15.5, 15.5]),
            scale=32 / 200,
            image_size=(640, 480),
            focal_length=(500.0, 500.0),
            principal_point=(300.0, 200.0),
        )
        for e in exemplars
    ]
    return golden, setup, exemplars


@pytest.mark.fast_compiles  # as the golden was written (tests/make_camera_crop_golden.py)
def test_camera_crop_keeps_eft_and_smplify_fits(golden_setup):
    """Bit for bit on the processor the golden was written on; elsewhere XLA's CPU code rounds
    float32 differently (EFT's arrays within 4.3e-7 on an AMD EPYC of those an Intel Xeon wrote),
    so each array is compared to float32 reassociation, as `tiny_eft.assert_results_close`
    compares two fits, and every iteration count exactly."""
    golden, (regressor, variables, model), exemplars = golden_setup
    stored = np.load(GOLDEN)
    for method, results in (
        ("eft", golden.eft_fits(regressor, variables, model, exemplars, ["camera='crop'"])),
        ("smplify", golden.smplify_fits(model, exemplars, ["camera='crop'"])),
    ):
        assert all(r.translation is None for r in results)
        for field in golden.FIELDS:
            actual = np.stack([getattr(r, field) for r in results])
            expected = stored[f"{method}_{field}"]
            # A loss relative to itself, a prediction also to its array's scale, as
            # `tiny_eft.assert_results_close` compares them.
            scale = 0.0 if field in tiny_eft.LOSS_FIELDS else np.abs(expected).max()
            np.testing.assert_allclose(
                actual, expected, rtol=1e-5, atol=1e-5 * scale, err_msg=f"{method} {field}"
            )
        assert [r.iterations for r in results] == stored[f"{method}_iterations"].tolist()


def _placed(exemplars, image_size=(640, 480)):
    """The exemplars as people at different places of a whole image (boxes of 100-300 px)."""
    rng = np.random.default_rng(3)
    return [
        dataclasses.replace(
            e,
            center=rng.uniform([100, 100], [540, 380]),
            scale=float(rng.uniform(0.5, 1.5)),
            image_size=image_size,
        )
        for e in exemplars
    ]


@pytest.mark.slow
@pytest.mark.fast_compiles
def test_full_frame_eft_and_smplify_fit_in_the_whole_image(golden_setup):
    golden, (regressor, variables, model), exemplars = golden_setup
    people = _placed(
        [dataclasses.replace(e, focal_length=None, principal_point=None) for e in exemplars]
    )
    people[0] = dataclasses.replace(people[0], image_size=None)  # no image size: skipped, with why
    flag = ["camera='full_frame'", "focal_px=900.0"]
    fits = golden.eft_fits(regressor, variables, model, people, flag)
    assert "image's size" in fits[0].stop_reason
    for person, fit in zip(people[1:], fits[1:]):
        frame, _ = full_frame_of(person, 900.0)
        np.testing.assert_allclose(fit.focal_length, [900.0, 900.0])
        np.testing.assert_allclose(fit.principal_point, [319.5, 239.5])
        np.testing.assert_allclose(
            fit.translation, crop_to_full_translation(fit.camera, frame), rtol=1e-5
        )
        # Each slot's loss saw its own exemplar's box: the kept keypoints are the fit's body
        # projected through that box's full-frame camera.
        joints = body.forward(model, jnp.asarray(fit.rotmats), jnp.asarray(fit.betas)).spin49
        np.testing.assert_allclose(
            full_frame_projection(joints, jnp.asarray(fit.camera), frame),
            fit.keypoints_2d,
            atol=1e-4,
        )

    smplify_fits = golden.smplify_fits(model, people[1:], flag)
    for person, fit in zip(people[1:], smplify_fits):
        assert not fit.skipped
        frame, _ = full_frame_of(person, 900.0)
        np.testing.assert_allclose(
            fit.camera, full_to_crop_camera(fit.translation, frame), rtol=1e-5
        )
        joints = body.forward(
            model, jnp.asarray(fit.pose_axis_angle), jnp.asarray(fit.betas)
        ).spin49
        pixels = pinhole(joints, jnp.asarray(fit.translation), frame.focal, frame.principal_point)
        in_box = (np.asarray(pixels) - frame.box_center) / (frame.box_size / 2)
        used = np.asarray(model.spin49_available, bool)
        np.testing.assert_allclose(in_box[used], fit.keypoints_2d[used], atol=1e-4)


@pytest.mark.fast_compiles
def test_a_full_frame_fit_is_written_with_its_camera_and_drawn_over_the_whole_image(tmp_path):
    from eft_jax.eval.pictures import draw_fits
    from eft_jax.formats.eft_json import read_eft_json, write_eft_json
    from eft_jax.formats.images import load_rgb, save_png
    from eft_jax.formats.spin_npz import spin_arrays

    width, height, panel = 160, 120, 64
    save_png(tmp_path / "street.png", np.full((height, width, 3), 90, np.uint8))
    rotmats = np.tile(np.eye(3), (24, 1, 1))
    rotmats[0] = np.diag([1.0, -1.0, -1.0])  # upright in the image
    # A body 6 m away, 1.2 m right of the optical axis: u = 200 1.2 / 6 + 79.5 = 119.5 px.
    fit = {
        "id": "p",
        "rotmats": rotmats,
        "betas": np.zeros(10),
        "camera": [1.0, 0.0, 0.0],
        "center": [119.5, 59.5],
        "scale": 0.5,
        "keypoints": np.zeros((49, 3)),
        "imageName": "street.png",
        "cam_t": [1.2, 0.0, 6.0],
        "focal_length": [200.0, 200.0],
        "principal_point": [79.5, 59.5],
    }
    write_eft_json(tmp_path / "fits.json", [fit], body_kind="open", body_model="open")
    (entry,) = read_eft_json(tmp_path / "fits.json")["data"]
    np.testing.assert_allclose(entry["cam_t"], [1.2, 0.0, 6.0])
    np.testing.assert_allclose(entry["cam_int"], [[200, 0, 79.5], [0, 200, 59.5], [0, 0, 1]])
    arrays = spin_arrays(read_eft_json(tmp_path / "fits.json")["data"])
    assert arrays["cam_t"].shape == (1, 3) and arrays["cam_int"].shape == (1, 3, 3)
    crop_fit = {
        k: v for k, v in fit.items() if k not in ("cam_t", "focal_length", "principal_point")
    }
    write_eft_json(tmp_path / "crop.json", [crop_fit], body_kind="open", body_model="open")
    assert "cam_t" not in read_eft_json(tmp_path / "crop.json")["data"][0]
    assert "cam_t" not in spin_arrays(read_eft_json(tmp_path / "crop.json")["data"])

    (png,) = draw_fits(tmp_path / "fits.json", tmp_path, tmp_path / "out", crop_size=panel)
    image, drawn, side = np.split(load_rgb(png), 3, axis=1)
    # The whole image, letterboxed (160 x 120 into 64 x 64: rows 8..55 hold it, rows above black).
    assert image[0].max() == 0 and image[32, 32].tolist() == [90, 90, 90]
    body_columns = np.flatnonzero(np.any(drawn != image, axis=(0, 2)))
    expected = (119.5 - 79.5) * panel / width + panel / 2  # the body's centre in the panel
    assert abs(body_columns.mean() - expected) < 3
    assert body_columns.min() > panel / 2  # nothing on the left half: the body is right of centre
    assert np.any(side < 255)


def test_fit_smplify_and_demo_take_the_camera_flags(capsys):
    from eft_jax import cli

    for argv, prefix in (
        (["fit"], ""),
        (["smplify"], ""),
        (["demo"], "  "),  # the demo's EFT config is its field `eft`
    ):
        assert (
            cli.main([*argv, "--camera", "full_frame", "--focal-px", "1500", "--show-config"]) == 0
        )
        out = capsys.readouterr().out
        assert f"\n{prefix}camera: full_frame" in out and f"\n{prefix}focal_px: 1500.0" in out
    with pytest.raises(ConfigError, match="camera must be one of"):
        check_camera("fisheye")  # what EftEngine and Smplify check their config's camera with
