"""The "full_frame" synthetic style: a lifelike person photographed at a real place in a whole
frame through a pinhole camera, then cropped as a dataset reader crops. Entry point:
`eft_jax.datasets.synthetic.make_sample(seed, style="full_frame")`; `make_full_frame_sample`
also returns the whole frame.

Each sample draws, with `np.random.default_rng(seed)`:

- the person as the lifelike style draws it (`synthetic_lifelike`): betas, a pose from
  `pose_sampling` (never the reserved clips), mirrored half the time, per-joint noise on mocap
  poses, any heading; then the camera's tilt: a turn of up to `MAX_PITCH` about the camera's x
  axis, as a camera looking a little up or down sees a person;
- the frame: a size from `FullFrameOptions.frame_sizes` (640x480 or 1280x720), the principal point
  at its centre, a focal length of `FOCAL_RANGE` times the frame's diagonal (uniform: 0.45 is a
  wide lens of about 96 degrees across the diagonal, 1.0 the "normal" lens CLIFF assumes, 1.4 a
  short telephoto);
- the place: the pelvis at a depth log-uniform in `DISTANCE_RANGE` metres, seen at a pixel drawn
  uniformly over the frame, drawn again until every keypoint lies `FRAME_MARGIN` inside the
  frame (a person too large for the frame at that depth is moved back 10 % at a time);
- the picture: the clothed body rasterised by projecting every vertex through the camera
  (`render.perspective_to_pixels`), lit as the lifelike style lights it, over a cluttered
  background (`backgrounds`, drawn at most `BACKGROUND_SIDE` px square and enlarged), no
  occluders;
- the crop: SPIN's box from the keypoints (their bounding box's centre, 1.2 x its longer side, as
  `datasets.people` boxes a person from annotations; every keypoint counts, visible or not, as
  COCO annotates occluded joints), the frame cut to `crop_size` by `geometry.crops.crop_image`,
  then the lifelike style's camera effects (`camera_effects`) on the crop.

Image coordinates follow `geometry.crops` (the centre of pixel (row i, column j) is x = j, y = i):
a point X in the camera frame is seen at (f X_x / X_z + c_x, f X_y / X_z + c_y).

Fields: the other styles' (`synthetic`: image, keypoints, pose, rotmats, betas, joints,
joints3d_spin49, silhouette, occluder_mask (all false), vertices with `with_vertices`) for the
crop, with `camera` the crop's weak-perspective approximation of the true camera at the pelvis's
depth; the lifelike fields clip, frame, pose_source, mirrored; and the camera's truth:

- `translation` (3,): camera-frame points are `body.forward(model, rotmats, betas)` points plus
  this (SPIN's convention: the posed body before its translation, root at its rest position);
- `focal_px` (), `principal_px` (2,): the intrinsics in pixels of the frame;
- `image_size` (2,) int: the frame's width and height;
- `box_center` (2,), `box_scale` (): the crop's box in the frame (SPIN's scale, side / 200 px);
- `keypoints_frame` (49, 3): the keypoints in frame pixels with their visibility;
- `style` "full_frame", `seed`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from eft_jax.datasets import backgrounds, camera_effects, clothing
from eft_jax.datasets.pose_sampling import PoseMix
from eft_jax.datasets.synthetic_body import (
    DEPTH_TOLERANCE,
    model_part_labels,
    model_rest_pose,
    render_growing,
)
from eft_jax.datasets.synthetic_lifelike import draw_person, lights, shade_clothed
from eft_jax.geometry import rotations
from eft_jax.geometry.crops import box_from_keypoints, crop_image, image_to_crop
from eft_jax.render.cameras import PerspectiveCamera, perspective_to_pixels
from eft_jax.render.rasterizer import rasterize

FRAME_SIZES = ((640, 480), (1280, 720))  # (width, height)
FOCAL_RANGE = (0.45, 1.4)  # focal length / frame diagonal
DISTANCE_RANGE = (1.5, 10.0)  # metres from the camera to the pelvis, along the optical axis
MAX_PITCH = np.radians(15.0)
FRAME_MARGIN = 0.02  # of the frame's shorter side, between every keypoint and the frame's edge
BACKGROUND_SIDE = 640  # px; larger frames get the background drawn at this size, enlarged
PLACEMENT_TRIES = 30  # pixels drawn at one depth before the person is moved back


@dataclasses.dataclass(frozen=True)
class FullFrameOptions:
    """The style's choices; the defaults are what the TFDS configs render."""

    pose_mix: PoseMix = PoseMix()
    mirror_probability: float = 0.5
    frame_sizes: tuple = FRAME_SIZES


def project(points, focal: float, principal, translation) -> np.ndarray:
    """(K, 3) body points -> (K, 2) frame pixels (`geometry.crops`' convention)."""
    camera = np.asarray(points, np.float64) + np.asarray(translation, np.float64)
    return focal * camera[:, :2] / camera[:, 2:] + np.asarray(principal, np.float64)


def _place(rng, spin49, root, available, focal, principal, size):
    """The translation that puts the pelvis (`root`) at a drawn depth and pixel with every
    available keypoint inside the frame (module docstring)."""
    width, height = size
    margin = FRAME_MARGIN * min(width, height)
    low, high = np.log(DISTANCE_RANGE[0]), np.log(DISTANCE_RANGE[1])
    depth = float(np.exp(rng.uniform(low, high)))
    points = spin49[available]
    while True:
        for _ in range(PLACEMENT_TRIES):
            pixel = rng.uniform((0.0, 0.0), (width - 1.0, height - 1.0))
            root_camera = depth * np.append((pixel - principal) / focal, 1.0)
            translation = root_camera - root
            uv = project(points, focal, principal, translation)
            inside = (uv >= margin) & (uv <= np.asarray([width - 1.0, height - 1.0]) - margin)
            if np.all(inside):
                return translation
        depth *= 1.1


def _render_impl(
    vertices,
    faces,
    focal,
    principal,
    translation,
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
    height, width = size
    # The rasteriser samples pixel (i, j) at (j + 0.5, i + 0.5); frame pixels put its centre at j.
    camera = PerspectiveCamera(focal, principal + 0.5, translation)
    xy, depth = perspective_to_pixels(vertices, camera)
    fragments = rasterize(xy, depth, faces, height, width, capacity=capacity, cull_backfaces=True)
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


_render_jit = jax.jit(_render_impl, static_argnames=("size", "capacity"))


def _background(rng, width: int, height: int) -> np.ndarray:
    """(height, width, 3) float32: `backgrounds.cluttered_background` drawn at most
    `BACKGROUND_SIDE` px square (its cost grows with the area) and resized bilinearly."""
    side = max(width, height)
    drawn = min(side, BACKGROUND_SIDE)
    square = backgrounds.cluttered_background(rng, drawn)
    if drawn < side:
        square = Image.fromarray(np.clip(np.round(square), 0, 255).astype(np.uint8))
        square = np.asarray(square.resize((side, side), Image.BILINEAR), np.float32)
    return square[:height, :width]


def _tilt(posed, pitch: float):
    """`pose_body`'s output turned by `pitch` about the camera's x axis through the pelvis: the
    root rotation gains the turn, and the body rotates about its root joint, as `body.forward`
    rotates it."""
    rotmats, _, vertices, joints, spin49 = (np.asarray(a, np.float64) for a in posed)
    c, s = np.cos(pitch), np.sin(pitch)
    turn = np.asarray([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    root = joints[0]
    rotmats = rotmats.copy()
    rotmats[0] = turn @ rotmats[0]
    turned = [(points - root) @ turn.T + root for points in (vertices, joints, spin49)]
    pose = np.asarray(rotations.rotmat_to_axis_angle(jnp.asarray(rotmats, jnp.float32)))
    return rotmats.astype(np.float32), pose, *(p.astype(np.float32) for p in turned)


def _visibility(spin49, translation, uv, size, silhouette, depth_buffer, available):
    """Visible iff inside the frame, on a body pixel, not behind the body's own surface there by
    more than `DEPTH_TOLERANCE`, and available (the other styles' rule, without occluders)."""
    width, height = size
    inside = np.all((uv > -0.5) & (uv < np.asarray([width, height]) - 0.5), axis=-1)
    col = np.clip(np.round(uv[:, 0]).astype(int), 0, width - 1)
    row = np.clip(np.round(uv[:, 1]).astype(int), 0, height - 1)
    depth = spin49[:, 2] + translation[2]
    in_front = depth <= depth_buffer[row, col] + DEPTH_TOLERANCE
    return inside & silhouette[row, col] & in_front & available


def crop_camera(focal, principal, translation, root, box_center, box_scale) -> np.ndarray:
    """EFT's weak-perspective crop camera [s, tx, ty] (x_crop = s X + t) nearest the true camera:
    the perspective projection linearised at the pelvis's depth, mapped into the box."""
    side = 200.0 * float(box_scale)
    depth = float(root[2] + translation[2])
    s = 2.0 * focal / (side * depth)
    t = s * np.asarray(translation[:2]) + 2.0 * (np.asarray(principal) - box_center) / side
    return np.concatenate([[s], t]).astype(np.float32)


def make_full_frame_sample(
    seed: int,
    *,
    crop_size: int,
    model,
    with_vertices: bool = False,
    clips: Sequence[str] | None = None,
    options: FullFrameOptions | None = None,
    with_full_image: bool = False,
) -> dict:
    """One full-frame sample (module docstring); with `with_full_image`, also `full_image`, the
    whole frame (height, width, 3) uint8 before the camera effects."""
    options = FullFrameOptions() if options is None else options
    rng = np.random.default_rng(seed)
    rest_vertices, rest_joints = model_rest_pose(model)

    betas, draw, mirrored, posed = draw_person(rng, model, rest_joints, options, clips)
    rotmats, pose, vertices, joints, spin49 = _tilt(posed, rng.uniform(-MAX_PITCH, MAX_PITCH))
    available = np.asarray(model.spin49_available)

    width, height = options.frame_sizes[int(rng.integers(len(options.frame_sizes)))]
    focal = float(rng.uniform(*FOCAL_RANGE) * np.hypot(width, height))
    principal = np.asarray([(width - 1) / 2.0, (height - 1) / 2.0])
    translation = _place(rng, spin49, joints[0], available, focal, principal, (width, height))

    uv = project(spin49, focal, principal, translation)
    outfit = clothing.random_outfit(rng, rest_vertices, rest_joints, model_part_labels(model))
    light_direction, light_color, ambient_color = lights(rng)
    rgb, silhouette, depth_buffer = render_growing(
        _render_jit,
        (height, width),
        jnp.asarray(vertices),
        jnp.asarray(model.faces, jnp.int32),
        jnp.float32(focal),
        jnp.asarray(principal, jnp.float32),
        jnp.asarray(translation, jnp.float32),
        jnp.asarray(rest_vertices),
        jnp.asarray(outfit.vertex_region),
        jnp.asarray(outfit.params),
        light_direction,
        light_color,
        ambient_color,
        covered_pixels=float(np.prod(np.ptp(uv[available], axis=0))),
    )
    frame = _background(rng, width, height)
    frame = np.where(silhouette[..., None], np.clip(rgb, 0.0, 1.0) * 255.0, frame)

    visible = _visibility(
        spin49, translation, uv, (width, height), silhouette, depth_buffer, available
    )
    keypoints_frame = np.concatenate([uv, visible[:, None]], axis=-1).astype(np.float32)
    labelled = np.concatenate([uv, available[:, None]], axis=-1)
    box_center, box_scale = box_from_keypoints(labelled)
    crop = crop_image(frame, box_center, box_scale, crop_size)
    crop_silhouette = crop_image(
        silhouette[..., None].astype(np.float32), box_center, box_scale, crop_size
    )
    image = camera_effects.degrade(rng, crop)
    keypoints = image_to_crop(keypoints_frame, box_center, box_scale).astype(np.float32)

    root = joints[0]
    record = {
        "image": image,
        "keypoints": keypoints,
        "pose": pose.astype(np.float32),
        "rotmats": rotmats,
        "betas": betas.astype(np.float32),
        "camera": crop_camera(focal, principal, translation, root, box_center, box_scale),
        "joints": joints - root,
        "joints3d_spin49": np.where(available[:, None], spin49 - root, 0.0).astype(np.float32),
        "silhouette": crop_silhouette[..., 0] > 0.5,
        "occluder_mask": np.zeros((crop_size, crop_size), bool),
        "translation": translation.astype(np.float32),
        "focal_px": np.float32(focal),
        "principal_px": principal.astype(np.float32),
        "image_size": np.asarray([width, height], np.int32),
        "box_center": box_center.astype(np.float32),
        "box_scale": np.float32(box_scale),
        "keypoints_frame": keypoints_frame,
        "clip": "+".join(draw.clips),
        "frame": draw.frames[0] if draw.frames else -1,
        "pose_source": draw.source,
        "mirrored": mirrored,
        "style": "full_frame",
        "seed": int(seed),
    }
    if with_vertices:
        record["vertices"] = vertices - root
    if with_full_image:
        record["full_image"] = np.clip(np.round(frame), 0, 255).astype(np.uint8)
    return record
