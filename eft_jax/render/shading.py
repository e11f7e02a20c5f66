"""Normals, Lambert and Blinn-Phong shading, SMPL part colours."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax.render.rasterizer import Fragments, interpolate

# 24 distinguishable colours (RGB in [0, 1]) for the SMPL parts, indexed by joint.
PART_PALETTE = np.asarray(
    [
        [0.65, 0.65, 0.65],
        [0.90, 0.35, 0.35],
        [0.35, 0.55, 0.90],
        [0.85, 0.75, 0.45],
        [0.95, 0.55, 0.45],
        [0.45, 0.65, 0.95],
        [0.80, 0.70, 0.35],
        [0.85, 0.25, 0.30],
        [0.25, 0.40, 0.85],
        [0.75, 0.65, 0.30],
        [0.70, 0.20, 0.25],
        [0.20, 0.30, 0.75],
        [0.55, 0.80, 0.55],
        [0.95, 0.65, 0.25],
        [0.25, 0.75, 0.75],
        [0.90, 0.80, 0.65],
        [0.95, 0.45, 0.15],
        [0.15, 0.65, 0.65],
        [0.85, 0.55, 0.10],
        [0.10, 0.55, 0.55],
        [0.75, 0.45, 0.85],
        [0.45, 0.85, 0.35],
        [0.60, 0.35, 0.75],
        [0.35, 0.75, 0.30],
    ],
    np.float32,
)
DEFAULT_COLOR = (0.70, 0.78, 0.92)  # light blue-grey, like SPIN's renders


def face_normals(vertices, faces):
    """(V, 3), (F, 3) -> (F, 3) unit face normals (right-hand rule on the winding)."""
    v = jnp.asarray(vertices)[jnp.asarray(faces)]
    n = jnp.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    return n / jnp.maximum(jnp.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def vertex_normals(vertices, faces):
    """(V, 3), (F, 3) -> (V, 3) unit vertex normals (area-weighted face normals)."""
    vertices = jnp.asarray(vertices)
    faces = jnp.asarray(faces)
    v = vertices[faces]
    n = jnp.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])  # length = 2 x area
    acc = jnp.zeros_like(vertices).at[faces.reshape(-1)].add(jnp.repeat(n, 3, axis=0))
    return acc / jnp.maximum(jnp.linalg.norm(acc, axis=-1, keepdims=True), 1e-12)


def part_labels(weights) -> jax.Array:
    """(V, 24) skinning weights -> (V,) int part index (the joint with the largest weight)."""
    return jnp.argmax(jnp.asarray(weights), axis=-1)


def part_colors(weights, palette=PART_PALETTE) -> jax.Array:
    """(V, J) skinning weights -> (V, 3) per-vertex part colours."""
    palette = jnp.asarray(palette, jnp.float32)
    return palette[part_labels(weights) % palette.shape[0]]


def lambert(
    normals,
    colors,
    light_direction=(0.0, 0.0, -1.0),
    ambient: float = 0.35,
    diffuse: float = 0.65,
    two_sided: bool = True,
):
    """Lambert: colour * (ambient + diffuse * max(0, n . l)); l points from surface to light.

    The default light sits at the camera (the camera looks along +z). `two_sided` uses |n . l|,
    which is robust to the mesh's winding.
    """
    light = jnp.asarray(light_direction, jnp.float32)
    light = light / jnp.linalg.norm(light)
    cos = jnp.sum(normals * light, axis=-1, keepdims=True)
    cos = jnp.abs(cos) if two_sided else jnp.maximum(cos, 0.0)
    return jnp.clip(colors * (ambient + diffuse * cos), 0.0, 1.0)


def shade(
    fragments: Fragments,
    vertices,
    faces,
    vertex_colors,
    *,
    light_direction=(0.0, 0.0, -1.0),
    ambient: float = 0.35,
    diffuse: float = 0.65,
):
    """Per-pixel Lambert shading with interpolated vertex normals -> (rgb (H, W, 3), alpha (H, W)).

    `vertices` are in camera space (x right, y down, z forward) for the light to be where meant.
    `vertex_colors` is (V, 3) or a single (3,) colour.
    """
    vertices = jnp.asarray(vertices, jnp.float32)
    normals = vertex_normals(vertices, faces)
    colors = jnp.broadcast_to(jnp.asarray(vertex_colors, jnp.float32), vertices.shape)
    both = interpolate(fragments, faces, jnp.concatenate([normals, colors], axis=-1))
    n, c = both[..., :3], both[..., 3:]
    n = n / jnp.maximum(jnp.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    alpha = (fragments.triangle_id >= 0).astype(jnp.float32)
    rgb = lambert(n, c, light_direction, ambient, diffuse) * alpha[..., None]
    return rgb, alpha


def blinn_phong(
    normals,
    albedo,
    specular,
    *,
    light_direction,
    light_color,
    ambient_color,
    shininess: float = 20.0,
):
    """Coloured light + hemispherical ambient + Blinn-Phong highlight -> linear RGB (..., 3).

    Camera space (x right, y down, the camera looks along +z): `light_direction` points from the
    surface to the light, the ambient light is brighter on surfaces facing up (-y), and the
    viewer is at -z. `specular` (...,) scales the highlight per pixel; the result is not clipped.
    """
    light = jnp.asarray(light_direction, jnp.float32)
    light = light / jnp.linalg.norm(light)
    diffuse = jnp.maximum(jnp.sum(normals * light, axis=-1, keepdims=True), 0.0)
    sky = 0.8 - 0.2 * normals[..., 1:2]  # 1.0 facing up, 0.6 facing down
    half = light + jnp.asarray([0.0, 0.0, -1.0])
    half = half / jnp.maximum(jnp.linalg.norm(half), 1e-6)
    highlight = jnp.maximum(jnp.sum(normals * half, axis=-1, keepdims=True), 0.0) ** shininess
    light_color = jnp.asarray(light_color, jnp.float32)
    return (
        albedo * (jnp.asarray(ambient_color, jnp.float32) * sky + light_color * diffuse)
        + specular[..., None] * highlight * light_color
    )
