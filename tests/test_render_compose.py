"""Cameras, shading and overlays of the renderer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax.geometry import weak_perspective
from eft_jax.render import (
    PerspectiveCamera,
    crop_to_pixels,
    overlay,
    overlay_batch,
    part_colors,
    perspective_to_pixels,
    render,
    side_view,
    spin_perspective_camera,
    vertex_normals,
    weak_perspective_to_pixels,
)

pytestmark = pytest.mark.fast_compiles


def quad(z=0.0, size=0.5):
    vertices = np.array(
        [[-size, -size, z], [size, -size, z], [size, size, z], [-size, size, z]], np.float32
    )
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    return vertices, faces


def test_weak_perspective_pixels_match_the_crop_projection():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(10, 3)).astype(np.float32)
    camera = np.array([0.8, 0.1, -0.2], np.float32)
    crop = weak_perspective(jnp.asarray(points)[None], jnp.asarray(camera)[None])[0]
    xy, depth = weak_perspective_to_pixels(points, camera, 224, 224)
    np.testing.assert_allclose(xy, (np.asarray(crop) + 1) * 112, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(xy, crop_to_pixels(crop, 224, 224), atol=1e-4)
    np.testing.assert_allclose(depth, points[:, 2])


def test_crop_top_left_is_image_top_left():
    # A small quad around crop (-0.75, -0.75) lands in the image's top-left quarter: no y flip.
    vertices, faces = quad(size=0.1)
    _, alpha = render(vertices, faces, np.array([1.0, -0.75, -0.75]), 64, 96)
    rows, cols = np.nonzero(np.asarray(alpha))
    assert rows.size > 0
    assert rows.max() < 32 and cols.max() < 48
    np.testing.assert_allclose(rows.mean() + 0.5, (1 - 0.75) / 2 * 64, atol=0.6)
    np.testing.assert_allclose(cols.mean() + 0.5, (1 - 0.75) / 2 * 96, atol=0.6)


def test_spin_perspective_tends_to_weak_perspective():
    rng = np.random.default_rng(1)
    points = rng.uniform(-0.5, 0.5, size=(20, 3)).astype(np.float32) * [1, 1, 0.01]
    camera = np.array([0.9, 0.2, -0.1], np.float32)
    weak_xy, _ = weak_perspective_to_pixels(points, camera, 224, 224)
    persp_xy, z = perspective_to_pixels(points, spin_perspective_camera(camera, 224, 224))
    np.testing.assert_allclose(persp_xy, weak_xy, atol=0.05)
    assert np.all(np.asarray(z) > 0)
    # SPIN's convention differs by the factor s on the translation.
    spin = spin_perspective_camera(camera, 224, 224, convention="spin")
    spin_xy, _ = perspective_to_pixels(points, spin)
    expected = camera[0] * (points[:, :2] + camera[1:])
    np.testing.assert_allclose(spin_xy, (expected + 1) * 112, atol=0.05)


def test_perspective_render_of_square():
    vertices, faces = quad(z=0.0, size=1.0)
    camera = PerspectiveCamera(
        focal=jnp.float32(8.0),
        principal=jnp.asarray([16.0, 16.0]),
        translation=jnp.asarray([0.0, 0.0, 1.0]),
    )
    _, alpha = render(vertices, faces, camera, 32, 32)
    expected = np.zeros((32, 32))
    expected[8:24, 8:24] = 1
    np.testing.assert_array_equal(np.asarray(alpha), expected)


def test_overlay_leaves_background_untouched():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    vertices, faces = quad(size=0.3)
    out = overlay(image, vertices, faces, np.array([1.0, 0.0, 0.0]))
    _, alpha = render(vertices, faces, np.array([1.0, 0.0, 0.0]), 40, 50)
    mask = np.asarray(alpha) > 0
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert 0 < mask.sum() < mask.size
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert np.any(out[mask] != image[mask])
    # Half opacity lies between the image and the opaque render.
    half = overlay(
        image,
        vertices,
        faces,
        np.array([1.0, 0.0, 0.0]),
        opacity=0.5,
        light_direction=[0.0, 0.5, -1.0],
    )
    np.testing.assert_array_equal(half[~mask], image[~mask])


def test_overlay_batch_equals_single_overlays():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(3, 24, 24, 3), dtype=np.uint8)
    vertices, faces = quad(size=0.4)
    verts = np.stack([vertices + [0.1 * k, 0, 0.1 * k] for k in range(3)]).astype(np.float32)
    cams = np.array([[1.0, 0, 0], [0.8, 0.1, 0], [1.2, 0, -0.1]], np.float32)
    batch = overlay_batch(images, verts, faces, cams)
    for k in range(3):
        single = overlay(images[k], verts[k], faces, cams[k])
        assert np.abs(batch[k].astype(int) - single.astype(int)).max() <= 1


def test_lambert_facing_camera_is_brightest():
    vertices, faces = quad(size=0.5)
    rgb_front, _ = render(
        vertices, faces, np.array([1.0, 0, 0]), 16, 16, vertex_colors=(1.0, 1.0, 1.0)
    )
    tilted = np.asarray(side_view(vertices, angle=1.0))
    rgb_tilt, alpha = render(
        tilted, faces, np.array([1.0, 0, 0]), 16, 16, vertex_colors=(1.0, 1.0, 1.0)
    )
    assert np.asarray(rgb_front).max() > np.asarray(rgb_tilt)[np.asarray(alpha) > 0].max() + 0.1
    normals = vertex_normals(vertices, faces)
    np.testing.assert_allclose(np.abs(np.asarray(normals)[:, 2]), 1.0, atol=1e-6)


def test_side_view_rotates_about_vertical_axis_through_centre():
    vertices = np.array([[1.0, 0, 0], [3.0, 2, 0], [2.0, 1, 4]], np.float32)
    rotated = np.asarray(side_view(vertices))
    centre = (vertices.min(0) + vertices.max(0)) / 2
    np.testing.assert_allclose(rotated[:, 1], vertices[:, 1])
    np.testing.assert_allclose((rotated.min(0) + rotated.max(0))[1] / 2, centre[1])
    np.testing.assert_allclose(rotated[0] - centre, [-2, -1, 1], atol=1e-6)  # (x, z) -> (z, -x)


def test_part_colors_from_weights():
    weights = np.zeros((4, 24), np.float32)
    weights[[0, 1, 2, 3], [0, 5, 5, 23]] = 1
    colors = np.asarray(part_colors(weights))
    np.testing.assert_array_equal(colors[1], colors[2])
    assert not np.array_equal(colors[0], colors[1])


def test_render_jits_and_vmaps():
    vertices, faces = quad(size=0.5)
    verts = np.stack([vertices, vertices * 0.5])
    cams = np.array([[1.0, 0, 0], [1.0, 0.2, 0.2]], np.float32)
    fn = jax.jit(jax.vmap(lambda v, c: render(v, faces, c, 20, 20)))
    rgb, alpha = fn(verts, cams)
    assert rgb.shape == (2, 20, 20, 3) and alpha.shape == (2, 20, 20)
    np.testing.assert_array_equal(alpha[1], render(verts[1], faces, cams[1], 20, 20)[1])


def test_body_keypoints_land_on_rendered_body():
    from eft_jax import body

    model = body.load()
    pose = np.zeros((1, 24, 3), np.float32)
    pose[0, 0, 0] = np.pi  # upright in the image, as fits are
    out = body.forward(model, jnp.asarray(pose), jnp.zeros((1, 10)))
    camera = np.array([0.9, 0.05, -0.05], np.float32)
    _, alpha = render(out.vertices[0], model.faces, camera, 112, 112)
    alpha = np.asarray(alpha)
    assert 0.03 < alpha.mean() < 0.5
    crop = weak_perspective(out.joints[0][None, [0, 12, 15]], jnp.asarray(camera)[None])[0]
    pixels = np.asarray(crop_to_pixels(crop, 112, 112)).astype(int)  # pelvis, neck, head
    for u, v in pixels:
        assert alpha[v, u] == 1
    # SMPL-layout faces wind outward: culling back faces changes nothing for the closed body.
    _, culled = render(out.vertices[0], model.faces, camera, 112, 112, cull_backfaces=True)
    np.testing.assert_array_equal(np.asarray(culled), alpha)
    rows = np.nonzero(alpha.any(axis=1))[0]
    assert pixels[2, 1] < pixels[0, 1]  # head above pelvis
    assert rows.min() < pixels[2, 1] and rows.max() > pixels[0, 1] + 20  # feet well below
