"""The "lifelike" synthetic style: clothed people of every skin tone, in mocap, interpolated and
joint-limited random poses, on cluttered backgrounds, lit, occluded, cropped and degraded as
photographs are. `eft_jax.datasets.synthetic.make_sample(seed, style="lifelike")` is the entry
point; the fields are the basic style's (see that module) plus `pose_source`, `truncated` and
`style`.

Each sample draws, with `np.random.default_rng(seed)`:

- shape: betas as the basic style;
- pose (`pose_sampling`, proportions `LifelikeOptions.pose_mix`): a mocap frame, a slerp between
  frames of two different clips, or a joint-limited random pose; the reserved evaluation clips are
  never read. Mirrored with probability `mirror_probability`; mocap-based poses get the basic
  style's per-joint noise; the heading is uniform over all directions (yaw in [0, 2 pi));
- camera: the basic style's SPIN crop, except that with probability `truncation_probability` the
  body is enlarged up to `MAX_TRUNCATION_ZOOM` times and shifted so that part of it leaves the
  crop (keypoints outside get visibility 0; at least `MIN_INSIDE` of them stay inside);
- appearance (`clothing`): skin tone, hair or hat, top, bottom and shoes with patterns; a light
  of random direction (mostly from above and the camera's side), colour and intensity, a tinted
  hemispherical ambient light and highlights (`render.blinn_phong`);
- background (`backgrounds`): a room, an outdoor view or an abstract gradient with clutter;
- occluders: none, one or two textured shapes over the body (at most `MAX_OCCLUDED_FRACTION` of
  its pixels), which hide the keypoints under them;
- camera effects (`camera_effects`): colour cast, contrast, motion blur, defocus, noise, JPEG.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax.body.mirror import mirror_pose
from eft_jax.datasets import backgrounds, camera_effects, clothing
from eft_jax.datasets.pose_sampling import PoseMix, sample_pose, training_pose_table
from eft_jax.datasets.synthetic_body import (
    BETA_LIMIT,
    CENTER_JITTER,
    SCALE_JITTER,
    frame_camera,
    joint_noise,
    labelled_sample,
    model_part_labels,
    model_rest_pose,
    pose_body,
    render_growing,
)
from eft_jax.geometry import weak_perspective
from eft_jax.render.cameras import weak_perspective_to_pixels
from eft_jax.render.rasterizer import interpolate, rasterize
from eft_jax.render.shading import blinn_phong, vertex_normals

MAX_TRUNCATION_ZOOM = 1.6
MAX_TRUNCATION_SHIFT = 0.6  # of the crop's half side
MIN_INSIDE = 0.4  # fraction of the available keypoints a truncated crop keeps inside
MAX_OCCLUDED_FRACTION = 0.35


@dataclasses.dataclass(frozen=True)
class LifelikeOptions:
    """The style's proportions; the defaults are what the TFDS configs render."""

    pose_mix: PoseMix = PoseMix()
    mirror_probability: float = 0.5
    truncation_probability: float = 0.2
    occluder_counts: tuple = (0.55, 0.3, 0.15)  # probability of 0, 1, 2 occluders


def _render_impl(
    vertices,
    faces,
    camera,
    rest_vertices,
    vertex_region,
    params,
    light_direction,
    light_color,
    ambient_color,
    *,
    size,
    capacity,
):
    xy, depth = weak_perspective_to_pixels(vertices, camera, size, size)
    fragments = rasterize(xy, depth, faces, size, size, capacity=capacity, cull_backfaces=True)
    rgb = shade_clothed(
        fragments,
        vertices,
        faces,
        rest_vertices,
        vertex_region,
        params,
        light_direction,
        light_color,
        ambient_color,
    )
    return rgb, fragments.triangle_id >= 0, fragments.depth, fragments.num_candidates


def shade_clothed(
    fragments,
    vertices,
    faces,
    rest_vertices,
    vertex_region,
    params,
    light_direction,
    light_color,
    ambient_color,
):
    """(H, W, 3) colours of the rasterised clothed body (`clothing.texture` on its rest-pose
    surface, `blinn_phong` lit); traced inside the styles' jitted renderers."""
    attributes = jnp.concatenate([vertex_normals(vertices, faces), rest_vertices], axis=-1)
    both = interpolate(fragments, faces, attributes)
    normals = both[..., :3] / jnp.maximum(
        jnp.linalg.norm(both[..., :3], axis=-1, keepdims=True), 1e-12
    )
    region = vertex_region[faces[jnp.maximum(fragments.triangle_id, 0), 0]]
    albedo = clothing.texture(both[..., 3:], region, params)
    return blinn_phong(
        normals,
        albedo,
        params[region, -1],
        light_direction=light_direction,
        light_color=light_color,
        ambient_color=ambient_color,
    )


_render_jit = jax.jit(_render_impl, static_argnames=("size", "capacity"))


def draw_person(rng, model, rest_joints, options, clips):
    """A lifelike person's shape and pose, drawn in this order from `rng` (the order each style's
    samples depend on): betas, the pose (`options.pose_mix`, never the reserved clips), whether it
    is mirrored (`options.mirror_probability`), the joint noise, the yaw; then posed
    (`synthetic_body.pose_body`). Returns (betas, the pose draw, mirrored, posed)."""
    betas = np.clip(rng.standard_normal(model.num_betas), -BETA_LIMIT, BETA_LIMIT)
    draw = sample_pose(rng, training_pose_table(), options.pose_mix, rest_joints, clips)
    mirrored = bool(rng.random() < options.mirror_probability)
    pose = mirror_pose(draw.pose) if mirrored else draw.pose
    noise = joint_noise(rng) * (draw.source != "random")
    yaw = rng.uniform(0.0, 2 * np.pi)
    posed = pose_body(
        model,
        jnp.asarray(pose, jnp.float32),
        jnp.asarray(noise, jnp.float32),
        jnp.float32(yaw),
        jnp.asarray(betas, jnp.float32),
    )
    return betas, draw, mirrored, posed


def lights(rng):
    """A light's direction and colour and the ambient colour (module docstring), float32."""
    direction = np.asarray([rng.uniform(-1, 1), rng.uniform(-1.0, 0.3), -rng.uniform(0.2, 1.0)])
    tint = rng.uniform(0.85, 1.15, 3)
    light = tint / tint.mean() * rng.uniform(0.5, 1.0)
    ambient = rng.uniform(0.9, 1.1, 3) * rng.uniform(0.4, 0.75)
    return [np.asarray(a, np.float32) for a in (direction, light, ambient)]


def _camera(rng, spin49, available, truncation_probability):
    scale_factor = rng.uniform(1.0 - SCALE_JITTER, 1.0 + SCALE_JITTER)
    centre = rng.uniform(-CENTER_JITTER, CENTER_JITTER, 2) * 2.0
    if rng.random() < truncation_probability:
        zoom = rng.uniform(1.0, MAX_TRUNCATION_ZOOM)
        angle = rng.uniform(0.0, 2 * np.pi)
        shift = rng.uniform(0.2, MAX_TRUNCATION_SHIFT) * np.asarray([np.cos(angle), np.sin(angle)])
        for _ in range(8):  # back off until enough keypoints stay inside
            camera = frame_camera(spin49, available, scale_factor * zoom, centre + shift)
            xy = np.asarray(weak_perspective(spin49[available], camera))
            if np.mean(np.all(np.abs(xy) < 1.0, axis=-1)) >= MIN_INSIDE:
                return camera, True
            shift, zoom = 0.6 * shift, 1.0 + 0.6 * (zoom - 1.0)
    return frame_camera(spin49, available, scale_factor, centre), False


def _occlude(rng, image, silhouette, counts):
    """Paint 0-2 textured shapes over the body; returns the occluder mask."""
    size = image.shape[0]
    mask = np.zeros(silhouette.shape, bool)
    ys, xs = np.nonzero(silhouette)
    count = int(rng.choice(len(counts), p=counts))
    if count == 0 or len(xs) == 0:
        return mask
    box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    budget = MAX_OCCLUDED_FRACTION * silhouette.sum()
    for _ in range(count):
        shape = backgrounds.random_shape(rng, size, box)
        fill = backgrounds.shape_fill(rng, size)
        for _ in range(6):  # shrink until the occluded body stays within the budget
            candidate = backgrounds.shape_mask(shape, size)
            if (silhouette & (mask | candidate)).sum() <= budget:
                break
            shape["half_size"] = tuple(0.7 * h for h in shape["half_size"])
            if "corners" in shape:
                centre = shape["corners"].mean(axis=0)
                shape["corners"] = centre + 0.7 * (shape["corners"] - centre)
        else:
            continue
        image[candidate] = fill[candidate]
        mask |= candidate
    return mask


def make_lifelike_sample(
    seed: int,
    *,
    crop_size: int,
    model,
    with_vertices: bool = False,
    clips: Sequence[str] | None = None,
    options: LifelikeOptions | None = None,
) -> dict:
    """One lifelike sample (see the module docstring)."""
    options = LifelikeOptions() if options is None else options
    rng = np.random.default_rng(seed)
    size = int(crop_size)
    rest_vertices, rest_joints = model_rest_pose(model)

    betas, draw, mirrored, posed = draw_person(rng, model, rest_joints, options, clips)
    vertices, spin49 = posed[2], np.asarray(posed[4])
    available = np.asarray(model.spin49_available)
    camera, truncated = _camera(rng, spin49, available, options.truncation_probability)

    outfit = clothing.random_outfit(rng, rest_vertices, rest_joints, model_part_labels(model))
    light_direction, light_color, ambient_color = lights(rng)
    rgb, silhouette, depth_buffer = render_growing(
        _render_jit,
        size,
        vertices,
        jnp.asarray(model.faces, jnp.int32),
        jnp.asarray(camera),
        jnp.asarray(rest_vertices),
        jnp.asarray(outfit.vertex_region),
        jnp.asarray(outfit.params),
        light_direction,
        light_color,
        ambient_color,
    )
    image = backgrounds.cluttered_background(rng, size)
    image = np.where(silhouette[..., None], np.clip(rgb, 0.0, 1.0) * 255.0, image)
    occluder_mask = _occlude(rng, image, silhouette, options.occluder_counts)
    image = camera_effects.degrade(rng, image)

    return {
        **labelled_sample(
            image,
            posed,
            betas,
            camera,
            silhouette,
            depth_buffer,
            occluder_mask,
            available,
            with_vertices,
        ),
        "clip": "+".join(draw.clips),
        "frame": draw.frames[0] if draw.frames else -1,
        "pose_source": draw.source,
        "mirrored": mirrored,
        "truncated": truncated,
        "style": "lifelike",
        "seed": int(seed),
    }
