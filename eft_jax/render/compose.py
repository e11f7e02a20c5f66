"""Render meshes and composite them over images.

    from eft_jax.render import overlay, part_colors
    out = overlay(crop_uint8, vertices, model.faces, camera)          # camera = [s, tx, ty]
    out = overlay(crop_uint8, vertices, model.faces, camera, vertex_colors=part_colors(model.weights))
    side = side_panel(vertices, model.faces, camera, 224, 224)    # the body from its side

`camera` is a weak-perspective crop camera [s, tx, ty] (eft-jax / EFT convention, see
`eft_jax.geometry.cameras`) or a `PerspectiveCamera`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax.render.cameras import (
    PerspectiveCamera,
    perspective_to_pixels,
    side_view,
    weak_perspective_to_pixels,
)
from eft_jax.render.rasterizer import rasterize, required_capacity
from eft_jax.render.shading import DEFAULT_COLOR, shade


def project(vertices, camera, height: int, width: int):
    """(V, 3) vertices -> ((V, 2) pixels, (V,) depth) for either kind of camera."""
    if isinstance(camera, PerspectiveCamera):
        return perspective_to_pixels(vertices, camera)
    return weak_perspective_to_pixels(vertices, camera, height, width)


def render(
    vertices,
    faces,
    camera,
    height: int,
    width: int,
    *,
    vertex_colors=DEFAULT_COLOR,
    capacity=None,
    light_direction=(0.0, 0.0, -1.0),
    ambient: float = 0.35,
    diffuse: float = 0.65,
    cull_backfaces: bool = False,
):
    """Render one mesh -> (rgb (H, W, 3) float in [0, 1], alpha (H, W) float). jit/vmap-able.

    Outside `jit`, `capacity=None` sizes the rasteriser's candidate budget to the mesh.
    `cull_backfaces=True` halves the work for closed meshes with outward winding (SMPL's).
    """
    if capacity is None:
        capacity = _auto_capacity(vertices, faces, camera, height, width, cull_backfaces)
    return _render_jit(
        jnp.asarray(vertices, jnp.float32),
        jnp.asarray(faces, jnp.int32),
        camera,
        height,
        width,
        jnp.asarray(vertex_colors, jnp.float32),
        capacity,
        tuple(float(x) for x in light_direction),
        float(ambient),
        float(diffuse),
        bool(cull_backfaces),
    )


@partial(jax.jit, static_argnums=(3, 4, 6, 7, 8, 9, 10))
def _render_jit(
    vertices,
    faces,
    camera,
    height,
    width,
    vertex_colors,
    capacity,
    light_direction,
    ambient,
    diffuse,
    cull_backfaces,
):
    xy, depth = project(vertices, camera, height, width)
    fragments = rasterize(
        xy, depth, faces, height, width, capacity=capacity, cull_backfaces=cull_backfaces
    )
    return shade(
        fragments,
        vertices,
        faces,
        vertex_colors,
        light_direction=light_direction,
        ambient=ambient,
        diffuse=diffuse,
    )


def composite(image, rgb, alpha, opacity: float = 1.0):
    """Blend a float render over a uint8 image; pixels with alpha 0 are returned unchanged."""
    image = jnp.asarray(image)
    a = (jnp.asarray(alpha, jnp.float32) * opacity)[..., None]
    blended = image.astype(jnp.float32) * (1.0 - a) + jnp.asarray(rgb, jnp.float32) * 255.0 * a
    return jnp.clip(jnp.round(blended), 0, 255).astype(jnp.uint8)


def _auto_capacity(vertices, faces, camera, height, width, cull_backfaces=False):
    leaves = [vertices, *jax.tree_util.tree_leaves(camera)]
    if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
        return None  # under jit: the rasteriser's default capacity
    xy, depth = project(jnp.asarray(vertices, jnp.float32), camera, height, width)
    return required_capacity(xy, depth, faces, height, width, cull_backfaces=cull_backfaces)


def overlay(
    image,
    vertices,
    faces,
    camera,
    *,
    vertex_colors=DEFAULT_COLOR,
    opacity: float = 1.0,
    capacity=None,
    **shading,
):
    """Draw a mesh over an (H, W, 3) uint8 image -> (H, W, 3) uint8 numpy array.

    Outside `jit` the rasteriser's candidate capacity is sized to the mesh at hand. Extra keyword
    arguments (light_direction, ambient, diffuse, cull_backfaces) go to `render`.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"overlay needs an (H, W, 3) uint8 image; got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    shading = {
        k: tuple(float(x) for x in v) if k == "light_direction" else v for k, v in shading.items()
    }
    if capacity is None:
        capacity = _auto_capacity(
            vertices, faces, camera, height, width, shading.get("cull_backfaces", False)
        )
    out = _overlay_jit(
        jnp.asarray(image),
        jnp.asarray(vertices, jnp.float32),
        jnp.asarray(faces),
        camera,
        jnp.asarray(vertex_colors, jnp.float32),
        opacity,
        capacity,
        tuple(sorted(shading.items())),
    )
    return np.array(out)


def _overlay_impl(image, vertices, faces, camera, vertex_colors, opacity, capacity, shading):
    height, width = image.shape[:2]
    rgb, alpha = render(
        vertices,
        faces,
        camera,
        height,
        width,
        vertex_colors=vertex_colors,
        capacity=capacity,
        **dict(shading),
    )
    return composite(image, rgb, alpha, opacity)


_overlay_jit = jax.jit(_overlay_impl, static_argnames=("capacity", "shading"))


def side_panel(
    vertices,
    faces,
    camera,
    height: int,
    width: int,
    *,
    background: int = 255,
    angle: float = np.pi / 2,
    **overlay_options,
) -> np.ndarray:
    """The body turned by `angle` about its vertical axis (`side_view`) and drawn with the same
    camera on a plain background -> (H, W, 3) uint8. Turning about the body's own centre keeps
    it where the front view has it, so the side view shows the depth a front overlay cannot.
    Extra keyword arguments go to `overlay`."""
    blank = np.full((height, width, 3), background, np.uint8)
    return overlay(blank, side_view(vertices, angle), faces, camera, **overlay_options)


def fit_panels(crop_uint8, vertices, faces, camera, *, background: int = 255) -> np.ndarray:
    """[crop | the body over the crop | its side view on a plain background] for one fit:
    (S, 3 S, 3) uint8. With a `PerspectiveCamera` (a full-frame fit over its whole image) the
    side view is the body turned about its own centre and seen from that same camera."""
    if not isinstance(camera, PerspectiveCamera):
        camera = np.asarray(camera, np.float32)
    drawn = overlay(crop_uint8, vertices, faces, camera)
    side = side_panel(vertices, faces, camera, *crop_uint8.shape[:2], background=background)
    return np.concatenate([crop_uint8, drawn, side], axis=1)


def overlay_batch(
    images,
    vertices,
    faces,
    cameras,
    *,
    vertex_colors=DEFAULT_COLOR,
    opacity: float = 1.0,
    capacity=None,
    cull_backfaces: bool = False,
):
    """Batched `overlay`: (B, H, W, 3) uint8, (B, V, 3), shared faces, (B, 3) weak cameras.

    `vertex_colors` is one (3,) colour, shared (V, 3) colours, or per-image (B, V, 3) colours.
    """
    images = jnp.asarray(images)
    height, width = images.shape[1:3]
    if capacity is None:
        xy, depth = weak_perspective_to_pixels(vertices, cameras, height, width)
        capacity = required_capacity(xy, depth, faces, height, width, cull_backfaces=cull_backfaces)
    return np.array(
        _overlay_batch_jit(
            images,
            jnp.asarray(vertices, jnp.float32),
            jnp.asarray(faces),
            jnp.asarray(cameras, jnp.float32),
            jnp.asarray(vertex_colors, jnp.float32),
            opacity,
            capacity,
            (("cull_backfaces", bool(cull_backfaces)),),
        )
    )


def _overlay_batch_impl(
    images, vertices, faces, cameras, vertex_colors, opacity, capacity, shading
):
    # lax.map, not vmap: on CPU the batched scatters of a vmapped rasteriser are 2-3x slower.
    if vertex_colors.ndim < 3:
        colors = jnp.broadcast_to(vertex_colors, vertices.shape[1:])
        return jax.lax.map(
            lambda a: _overlay_impl(a[0], a[1], faces, a[2], colors, opacity, capacity, shading),
            (images, vertices, cameras),
        )
    return jax.lax.map(
        lambda a: _overlay_impl(a[0], a[1], faces, a[2], a[3], opacity, capacity, shading),
        (images, vertices, cameras, vertex_colors),
    )


_overlay_batch_jit = jax.jit(_overlay_batch_impl, static_argnames=("capacity", "shading"))


__all__ = ["composite", "overlay", "overlay_batch", "project", "render", "side_panel", "side_view"]
