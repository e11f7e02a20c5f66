"""The Figure-1 strip: layout, keypoints drawn exactly where SPIN's crop coordinates put them (and
nowhere else), overlay and side-view panels identical to the plain renders, labels."""

from __future__ import annotations

import numpy as np
import pytest

from eft_jax import body, render
from eft_jax.body.joint_sets import SPIN49_NAMES
from eft_jax.render.strip import figure_strip

pytestmark = pytest.mark.fast_compiles

S = 64
LABEL_HEIGHT = 16
DOT, BONE = (255, 0, 255), (0, 255, 255)  # colours the crop (values < 200) never has
RADIUS, BONE_WIDTH = 2.5, 1.5


def slot(name):
    return SPIN49_NAMES.index(name)


@pytest.fixture(scope="module")
def scene():
    model = body.load()
    rotmats = np.tile(np.eye(3, dtype=np.float32), (24, 1, 1))
    rotmats[0] = np.diag([1.0, -1.0, -1.0])  # upright in the image (head at negative y)
    vertices = np.asarray(body.forward(model, rotmats, np.zeros(10, np.float32)).vertices)
    crop = np.random.default_rng(0).integers(0, 200, size=(S, S, 3), dtype=np.uint8)
    return crop, vertices, np.asarray(model.faces)


@pytest.fixture(scope="module")
def keypoints():
    k = np.zeros((49, 3), np.float32)
    k[slot("Right Ankle")] = [-0.5, 0.5, 1.0]
    k[slot("Right Knee")] = [-0.5, -0.25, 0.7]  # a bone to the ankle
    k[slot("Left Knee")] = [0.5, -0.25, 1.0]
    k[slot("Left Ankle")] = [0.5, 0.5, 0.0]  # missing: no dot, no bone to the knee
    k[slot("OP Nose")] = [
        0.123,
        -0.789,
        1.0,
    ]  # off the pixel grid; OpenPose keypoints have no bones
    k[slot("Nose")] = [np.nan, np.nan, 0.0]  # missing and NaN: ignored
    return k


@pytest.fixture(scope="module")
def strip(scene, keypoints):
    crop, vertices, faces = scene
    panels = [
        ("iter 0", vertices, [0.8, 0.0, 0.0]),
        ("final (12 iters)", vertices * 1.1, [0.9, 0.1, -0.05]),
    ]
    return figure_strip(
        crop,
        keypoints,
        faces,
        panels,
        side_vertices=vertices * 1.1,
        keypoint_radius=RADIUS,
        keypoint_color=DOT,
        skeleton_width=BONE_WIDTH,
        skeleton_color=BONE,
        label_height=LABEL_HEIGHT,
    )


def panel(strip, index):
    return strip[:S, index * S : (index + 1) * S]


def pixel_of(xy):
    """(row, column) of the pixel that contains crop point xy, per render.crop_to_pixels."""
    u, v = np.asarray(render.crop_to_pixels(np.asarray(xy, np.float32), S, S))
    return int(np.floor(v)), int(np.floor(u))


def test_layout(strip):
    assert strip.dtype == np.uint8
    assert strip.shape == (S + LABEL_HEIGHT, S * 4, 3)  # input, two panels, side view


def test_keypoint_dots_and_bones_where_the_crop_coordinates_say(scene, keypoints, strip):
    drawn = panel(strip, 0)
    for name in ("Right Ankle", "Right Knee", "Left Knee", "OP Nose"):
        assert tuple(drawn[pixel_of(keypoints[slot(name), :2])]) == DOT, name
    # Pixel (r, c) centred at (c + 0.5, r + 0.5): x = -0.5 is column 16's left edge, the bone
    # between the right knee (row 24) and ankle (row 48) covers columns 15 and 16 at row 36.
    assert pixel_of([-0.5, 0.125]) == (36, 16)
    assert tuple(drawn[36, 15]) == BONE and tuple(drawn[36, 16]) == BONE


def test_input_panel_is_the_crop_except_dots_and_bones(scene, keypoints, strip):
    crop = scene[0]
    changed = np.any(panel(strip, 0) != crop, axis=-1)
    rows, columns = np.nonzero(changed)
    centres = np.stack([columns + 0.5, rows + 0.5], axis=-1)
    dots = [
        np.asarray(render.crop_to_pixels(keypoints[i, :2], S, S))
        for i in np.nonzero(keypoints[:, 2] > 0)[0]
    ]
    knee, ankle = (
        np.asarray(render.crop_to_pixels(keypoints[slot(n), :2], S, S))
        for n in ("Right Knee", "Right Ankle")
    )
    near_dot = np.min([np.linalg.norm(centres - d, axis=-1) for d in dots], axis=0) <= RADIUS
    on_bone = (
        (np.abs(centres[:, 0] - knee[0]) <= BONE_WIDTH / 2)
        & (centres[:, 1] >= knee[1])
        & (centres[:, 1] <= ankle[1])
    )
    assert (near_dot | on_bone).all()
    assert changed.sum() > 4 * 9  # four dots and a bone were drawn


def test_zero_confidence_keypoints_are_not_drawn(scene, keypoints, strip):
    crop, drawn = scene[0], panel(strip, 0)
    row, column = pixel_of(keypoints[slot("Left Ankle"), :2])
    window = np.s_[row - 4 : row + 5, column - 4 : column + 5]
    assert np.array_equal(drawn[window], crop[window])
    # No bone from the shown left knee down to the missing left ankle.
    row, column = pixel_of([0.5, 0.125])
    assert np.array_equal(drawn[row, column - 2 : column + 3], crop[row, column - 2 : column + 3])


def test_body_panels_are_the_plain_renders(scene, strip):
    crop, vertices, faces = scene
    np.testing.assert_array_equal(
        panel(strip, 1), render.overlay(crop, vertices, faces, np.float32([0.8, 0.0, 0.0]))
    )
    final_camera = np.float32([0.9, 0.1, -0.05])
    np.testing.assert_array_equal(
        panel(strip, 2), render.overlay(crop, vertices * 1.1, faces, final_camera)
    )
    side = render.overlay(
        np.full_like(crop, 255), render.side_view(vertices * 1.1), faces, final_camera
    )
    np.testing.assert_array_equal(panel(strip, 3), side)
    assert not np.array_equal(panel(strip, 3), np.full_like(crop, 255))  # the body is in view


def test_labels_are_written_under_each_panel(strip):
    labels = [strip[S:, i * S : (i + 1) * S] for i in range(4)]
    for label in labels:
        assert (label < 128).any(), "no dark text pixels"
        assert (label == 255).all(axis=-1).mean() > 0.5, "background should stay white"
    assert len({label.tobytes() for label in labels}) == 4


def test_without_side_view_and_bad_input(scene, keypoints):
    crop, vertices, faces = scene
    out = figure_strip(crop, keypoints, faces, [], label_height=10)
    assert out.shape == (S + 10, S, 3)
    with pytest.raises(ValueError, match="last panel"):
        figure_strip(crop, keypoints, faces, [], side_vertices=vertices)
    with pytest.raises(ValueError, match="uint8"):
        figure_strip(crop.astype(np.float32), keypoints, faces, [])
    with pytest.raises(ValueError, match="49"):
        figure_strip(crop, keypoints[:25], faces, [])
