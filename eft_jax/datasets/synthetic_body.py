"""What every synthetic style shares: the posed body, its crop camera, its keypoints' visibility
and the ground-truth record (`eft_jax.datasets.synthetic` describes the fields).

The sampling ranges below are used by every style; the styles' own ranges live in their modules.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body
from eft_jax.body import upright
from eft_jax.geometry import rotations, weak_perspective
from eft_jax.render.cameras import crop_to_pixels
from eft_jax.render.shading import part_labels

BETA_LIMIT = 2.5
JOINT_NOISE = 0.15  # rad, the largest perturbation of a non-root joint
BBOX_FRACTION = 1.0 / 1.2  # projected keypoint box side / crop side (SPIN's crops: bbox * 1.2)
SCALE_JITTER = 0.10
CENTER_JITTER = 0.05  # fraction of the crop side
DEPTH_TOLERANCE = 0.15  # metres a keypoint may lie behind the visible surface at its pixel


@lru_cache(maxsize=4)
def default_model():
    return body.load()


_PER_MODEL: dict[tuple, tuple] = {}


def _per_model(model, name: str, compute):
    """compute(model), cached per model object."""
    key = (id(model), name)
    if key not in _PER_MODEL or _PER_MODEL[key][0] is not model:
        _PER_MODEL[key] = (model, compute(model))
    return _PER_MODEL[key][1]


def model_part_labels(model) -> np.ndarray:
    """(V,) part index per vertex (the joint with the largest skinning weight)."""
    return _per_model(model, "labels", lambda m: np.asarray(part_labels(m.weights)))


def model_rest_pose(model) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) vertices and (24, 3) joints of the mean shape in the rest (T) pose, y up."""

    def compute(m):
        out = body.forward(m, np.zeros((24, 3), np.float32), np.zeros(m.num_betas, np.float32))
        return np.asarray(out.vertices), np.asarray(out.joints)

    return _per_model(model, "rest", compute)


def render_growing(
    render_jit, size, *args, covered_pixels: float | None = None
) -> list[np.ndarray]:
    """`render_jit(*args, size=size, capacity=c)`, whose last output is the number of rasteriser
    candidates needed, with c grown until it suffices; the other outputs as numpy arrays.
    `size` is a square image's side or a (height, width) pair; `covered_pixels`, the area of the
    body's box when it is much smaller than the image, lets the first try be smaller."""
    # Candidates needed (back faces culled): median ~41k, up to ~100k at 224 px for the bundled
    # body; start at 64k scaled to the image (or to 4x the body's box) and double (one
    # recompilation each) when exceeded.
    pixels = int(np.prod(np.broadcast_to(size, (2,))))
    if covered_pixels is not None:
        pixels = min(pixels, int(4 * covered_pixels))
    capacity = 1 << max(16, pixels.bit_length())
    while True:
        *outputs, needed = render_jit(*args, size=size, capacity=capacity)
        if int(needed) <= capacity:
            return [np.asarray(output) for output in outputs]
        capacity = 1 << int(needed - 1).bit_length()


@jax.jit
def pose_body(model, clip_pose, noise, yaw, betas):
    """Clip pose (24, 3), per-joint noise (24, 3) (root row ignored), yaw -> posed body."""
    rot = rotations.axis_angle_to_rotmat(clip_pose)
    rot = rot @ rotations.axis_angle_to_rotmat(noise.at[0].set(0.0))
    c, s = jnp.cos(yaw), jnp.sin(yaw)
    zero, one = jnp.zeros_like(c), jnp.ones_like(c)
    ry = jnp.stack(
        [jnp.stack([c, zero, s]), jnp.stack([zero, one, zero]), jnp.stack([-s, zero, c])]
    )
    rot = rot.at[0].set(upright.UPRIGHT_TURN @ ry @ rot[0])
    out = body.forward(model, rot, betas)
    return rot, rotations.rotmat_to_axis_angle(rot), out.vertices, out.joints, out.spin49


def joint_noise(rng) -> np.ndarray:
    """(24, 3) random axis-angles of at most `JOINT_NOISE` rad, the root's zero."""
    axes = rng.standard_normal((24, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    noise = axes * rng.uniform(0.0, JOINT_NOISE, (24, 1))
    noise[0] = 0.0
    return noise


def frame_camera(spin49, available, scale_factor: float, centre) -> np.ndarray:
    """The weak-perspective camera [s, tx, ty] whose projected keypoint box spans
    `BBOX_FRACTION` x `scale_factor` of the crop, its centre at `centre` (crop units)."""
    pts = spin49[available][:, :2]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    s = BBOX_FRACTION * 2.0 / max(float((hi - lo).max()), 1e-6)
    s *= scale_factor
    return np.concatenate([[s], centre - s * (lo + hi) / 2]).astype(np.float32)


def keypoints_with_visibility(spin49, camera, silhouette, depth_buffer, occluder_mask, available):
    """(49, 3) crop keypoints [x, y, visible]: visible iff inside the crop, on a body pixel, not
    behind the body's own surface by more than `DEPTH_TOLERANCE`, not occluded, and available."""
    size = silhouette.shape[0]
    xy = np.asarray(weak_perspective(spin49, camera))
    px = np.asarray(crop_to_pixels(xy, size, size))
    inside = np.all((px >= 0) & (px < size), axis=-1)
    col = np.clip(px[:, 0].astype(int), 0, size - 1)
    row = np.clip(px[:, 1].astype(int), 0, size - 1)
    on_body = silhouette[row, col]
    in_front = spin49[:, 2] <= depth_buffer[row, col] + DEPTH_TOLERANCE
    visible = inside & on_body & in_front & ~occluder_mask[row, col] & available
    return np.concatenate([xy, visible[:, None]], axis=-1).astype(np.float32)


def labelled_sample(
    image,
    posed,
    betas,
    camera,
    silhouette,
    depth_buffer,
    occluder_mask,
    available,
    with_vertices: bool,
) -> dict:
    """The fields every style returns: the image, its keypoints with visibility, the ground
    truth root-relative (minus the pelvis joint) in the camera frame, and the masks.
    `posed` is `pose_body`'s output (rotmats, axis-angles, vertices, joints, spin49)."""
    rotmats, pose, vertices, joints, spin49 = (np.asarray(a) for a in posed)
    root = joints[0]
    record = {
        "image": image,
        "keypoints": keypoints_with_visibility(
            spin49, camera, silhouette, depth_buffer, occluder_mask, available
        ),
        "pose": pose.astype(np.float32),
        "rotmats": rotmats.astype(np.float32),
        "betas": betas.astype(np.float32),
        "camera": camera,
        "joints": (joints - root).astype(np.float32),
        "joints3d_spin49": np.where(available[:, None], spin49 - root, 0.0).astype(np.float32),
        "silhouette": silhouette,
        "occluder_mask": occluder_mask,
    }
    if with_vertices:
        record["vertices"] = (vertices - root).astype(np.float32)
    return record
