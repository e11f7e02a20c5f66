"""Synthetic humans: random bodies in real mocap poses, rendered into SPIN-style crops.

    from eft_jax.datasets.synthetic import make_sample, make_samples
    s = make_sample(7)                       # one sample, deterministic by seed (basic style)
    s = make_sample(7, style="lifelike")     # clothed, cluttered, more poses (synthetic_lifelike)
    s = make_sample(7, style="full_frame")   # lifelike, in a whole frame (synthetic_full_frame)
    s["image"]                               # (224, 224, 3) uint8 RGB (NOT normalised)
    s["keypoints"]                           # (49, 3) SPIN-49 in [-1, 1] + visibility
    batch = make_samples(range(16))          # the same dict, every entry stacked on a batch axis

Three styles. "basic" (the default) is described below; it is what the bundled regressor was
trained on and what every held-out set is drawn from, and it stays bit for bit as it is
(tests/fixtures/synthetic_basic.npz). "lifelike" is `synthetic_lifelike`'s; "full_frame"
(`synthetic_full_frame`) photographs a lifelike person in a whole frame through a pinhole camera
and crops it, with the camera's truth. A basic sample
draws, with `np.random.default_rng(seed)`:

- shape: betas ~ N(0, 1) clipped to +-`BETA_LIMIT`, on the bundled open body
  (`eft_jax.body.load()`) unless a model is given;
- pose: a clip (uniformly), then a frame of it, from `load_mocap_poses()` (the committed
  retargeted mocap), mirrored with `mirror_pose` with probability 1/2, every non-root joint
  perturbed by a random axis-angle of at most `JOINT_NOISE` rad, and the root set to
  Rx(pi) @ Ry(yaw) @ R_clip with yaw uniform in [0, 2 pi) about the vertical (y up) axis: the pi
  turn about x stands the body upright in the image (y down), as SPIN / EFT fits are posed;
- camera: weak perspective [s, tx, ty] in EFT's convention (`eft_jax.geometry.weak_perspective`: x = s X + t)
  applied to `body.forward(model, pose, betas)` output as is (no translation), chosen so that the
  box of the projected keypoints spans 1 / 1.2 of the crop (a SPIN crop), times a random factor
  in [0.9, 1.1], with its centre jittered by up to 5 % of the crop side;
- image: a random background (smooth colour gradient, low-frequency colour blotches and pixel
  noise), the body rendered with `eft_jax.render` (random colour per SMPL part, random light
  direction and ambient), then 0-2 occluders (rectangles / ellipses in random colours) over up to
  ~25 % of the body's pixels. The image is uint8 RGB; normalisation (`crops.normalize_image`) is
  left to the consumer.

Keypoints are `forward(...).spin49` projected with the camera, in [-1, 1] (x right, y down).
Visibility (third column) is 1 iff the keypoint is inside the crop, lands on a body pixel, is not
behind the body's own surface there by more than `DEPTH_TOLERANCE` metres (the rasteriser's depth
buffer; joints lie inside the body, hence the tolerance), is not under an occluder, and the model
can produce the keypoint (`model.spin49_available`).

Ground truth: `pose` (24, 3) axis-angle and `rotmats` (24, 3, 3) (root included: the upright
turn and yaw), `betas` (10,), `camera` (3,), `joints` (24, 3) SMPL joints and `joints3d_spin49`
(49, 3), root-relative (minus the pelvis joint) in metres, in the camera frame (x right, y down,
z away from the camera); `vertices` (V, 3), root-relative likewise, with `with_vertices=True`.
Also `silhouette` (H, W) bool body mask before occluders, `occluder_mask` (H, W) bool, and
`clip` (the mocap clip name), `frame` (its index in `load_mocap_poses()`), `mirrored`, `seed`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax.body.mirror import mirror_pose
from eft_jax.datasets import synthetic_full_frame, synthetic_lifelike
from eft_jax.datasets.mocap_poses import load_mocap_poses
from eft_jax.datasets.pose_sampling import PoseMix
from eft_jax.datasets.synthetic_body import (
    BETA_LIMIT,
    CENTER_JITTER,
    SCALE_JITTER,
    default_model,
    frame_camera,
    joint_noise,
    labelled_sample,
    model_part_labels,
    pose_body,
    render_growing,
)
from eft_jax.render.cameras import weak_perspective_to_pixels
from eft_jax.render.rasterizer import rasterize
from eft_jax.render.shading import shade

STYLES = ("basic", "lifelike", "full_frame")
MAX_OCCLUDERS = 2  # basic style
MAX_OCCLUDED_FRACTION = 0.25
# First seed of the held-out humans (`eft-jax evaluate --dataset synthetic`, the fitting
# comparison): disjoint from training (0..), validation (10,000,000..) and the demo (20,000,000..).
HELDOUT_SEED_OFFSET = 30_000_000
# First seed of the walkers (`make_walkers`), the posture check's people: no other split uses them.
WALKER_SEED_OFFSET = 40_000_000


@lru_cache(maxsize=1)
def _poses():
    poses, clips = load_mocap_poses()
    return poses.astype(np.float32), clips


def _render_impl(vertices, faces, camera, colors, light, ambient, *, size, capacity):
    xy, depth = weak_perspective_to_pixels(vertices, camera, size, size)
    fragments = rasterize(xy, depth, faces, size, size, capacity=capacity, cull_backfaces=True)
    rgb, alpha = shade(
        fragments,
        vertices,
        faces,
        colors,
        light_direction=light,
        ambient=ambient,
        diffuse=1.0 - ambient,
    )
    return rgb, alpha, fragments.depth, fragments.num_candidates


_render_jit = jax.jit(_render_impl, static_argnames=("size", "capacity"))


def _background(rng, size):
    """Smooth random colour gradient + low-frequency blotches + pixel noise, float in [0, 255]."""
    corners = rng.uniform(0, 255, (2, 2, 3))
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)
    top = corners[0, 0] * (1 - t)[:, None] + corners[0, 1] * t[:, None]
    bottom = corners[1, 0] * (1 - t)[:, None] + corners[1, 1] * t[:, None]
    image = top[None] * (1 - t)[:, None, None] + bottom[None] * t[:, None, None]
    cells = int(rng.integers(3, 9))
    coarse = rng.normal(0.0, rng.uniform(10, 50), (cells, cells, 3))
    # bilinear upsampling of the coarse blotches
    pos = t * (cells - 1)
    i0 = np.minimum(pos.astype(int), cells - 2)
    f = (pos - i0)[:, None]
    rows = coarse[i0] * (1 - f[..., None]) + coarse[i0 + 1] * f[..., None]  # (size, cells, 3)
    blot = rows[:, i0] * (1 - f[None, :, :]) + rows[:, i0 + 1] * f[None, :, :]
    image = image + blot + rng.normal(0.0, rng.uniform(2, 12), (size, size, 3))
    return np.clip(image, 0, 255).astype(np.float32)


def _occluder_mask(shape, box, size):
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    if shape == "rect":
        return (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2, 0.5), max((y1 - y0) / 2, 0.5)
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def _random_occluders(rng, silhouette, size):
    count = int(rng.integers(0, MAX_OCCLUDERS + 1))
    ys, xs = np.nonzero(silhouette)
    if count == 0 or len(xs) == 0:
        return []
    bx0, bx1, by0, by1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    occluders, covered = [], np.zeros_like(silhouette)
    body_pixels = silhouette.sum()
    for _ in range(count):
        shape = "rect" if rng.random() < 0.5 else "ellipse"
        w = rng.uniform(0.15, 0.6) * (bx1 - bx0)
        h = rng.uniform(0.1, 0.4) * (by1 - by0)
        cx, cy = rng.uniform(bx0, bx1), rng.uniform(by0, by1)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        for _ in range(6):  # shrink until the total stays within the budget
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            mask = _occluder_mask(shape, box, size)
            if (silhouette & (covered | mask)).sum() <= MAX_OCCLUDED_FRACTION * body_pixels:
                break
            w, h = w * 0.7, h * 0.7
        else:
            continue
        covered |= mask
        occluders.append({"shape": shape, "box": box, "color": color})
    return occluders


def make_sample(
    seed: int,
    *,
    style: str = "basic",
    crop_size: int = 224,
    model=None,
    with_vertices: bool = False,
    clips: Sequence[str] | None = None,
    occluders: Sequence[dict] | None = None,
    options: synthetic_lifelike.LifelikeOptions
    | synthetic_full_frame.FullFrameOptions
    | None = None,
) -> dict:
    """One synthetic sample (see the module docstring), deterministic by `seed` and `style`.

    `clips` restricts the poses to these mocap clips (default: all of them; the lifelike and
    full-frame styles also draw random and interpolated poses, from these clips only). `options`
    tunes the lifelike style (`synthetic_lifelike.LifelikeOptions`) or the full-frame style
    (`synthetic_full_frame.FullFrameOptions`); their defaults are the styles.

    Basic style only: `occluders=None` draws 0-2 random ones; a list of {"shape": "rect" |
    "ellipse", "box": (x0, y0, x1, y1) pixels, "color": (r, g, b)} uses exactly those (a test
    hook; [] for none). The random stream is the same either way, so the rest of the sample does
    not change.
    """
    if style not in STYLES:
        raise ValueError(f"unknown synthetic style {style!r}; known: {', '.join(STYLES)}")
    model = default_model() if model is None else model
    if style != "basic" and occluders is not None:
        raise ValueError(
            f"occluders= is a hook of the basic style; the {style} style draws its own "
            "(LifelikeOptions.occluder_counts=(1, 0, 0) for none) or none (full_frame)"
        )
    wanted = {
        "basic": type(None),
        "lifelike": synthetic_lifelike.LifelikeOptions,
        "full_frame": synthetic_full_frame.FullFrameOptions,
    }[style]
    if options is not None and not isinstance(options, wanted):
        raise ValueError(
            f"options= {type(options).__name__} do not tune the {style} style (lifelike: "
            "LifelikeOptions, full_frame: FullFrameOptions, basic: none)"
        )
    if style == "full_frame":
        return synthetic_full_frame.make_full_frame_sample(
            seed,
            crop_size=crop_size,
            model=model,
            with_vertices=with_vertices,
            clips=clips,
            options=options,
        )
    if style == "lifelike":
        return synthetic_lifelike.make_lifelike_sample(
            seed,
            crop_size=crop_size,
            model=model,
            with_vertices=with_vertices,
            clips=clips,
            options=options,
        )
    return _basic_sample(seed, int(crop_size), model, with_vertices, clips, occluders)


def _basic_sample(seed, size, model, with_vertices, clips, occluders) -> dict:
    rng = np.random.default_rng(seed)
    poses, all_clips = _poses()

    # shape and pose
    betas = np.clip(rng.standard_normal(model.num_betas), -BETA_LIMIT, BETA_LIMIT)
    # a clip uniformly (the clips differ in length), then a frame of it
    names = np.unique(all_clips) if clips is None else np.unique(np.asarray(list(clips)))
    unknown = set(names) - set(all_clips)
    if unknown:
        raise KeyError(f"unknown mocap clip(s) {sorted(unknown)}")
    frames = np.flatnonzero(all_clips == names[rng.integers(len(names))])
    frame = int(frames[rng.integers(len(frames))])
    clip_pose = poses[frame]
    mirrored = bool(rng.random() < 0.5)
    if mirrored:
        clip_pose = mirror_pose(clip_pose)
    noise = joint_noise(rng)
    yaw = rng.uniform(0.0, 2 * np.pi)
    posed = pose_body(
        model,
        jnp.asarray(clip_pose, jnp.float32),
        jnp.asarray(noise, jnp.float32),
        jnp.float32(yaw),
        jnp.asarray(betas, jnp.float32),
    )
    vertices, spin49 = posed[2], np.asarray(posed[4])
    available = np.asarray(model.spin49_available)

    # camera: projected keypoint box = 1/1.2 of the crop, jittered
    scale_factor = rng.uniform(1.0 - SCALE_JITTER, 1.0 + SCALE_JITTER)
    centre = rng.uniform(-CENTER_JITTER, CENTER_JITTER, 2) * 2.0  # crop side = 2
    camera = frame_camera(spin49, available, scale_factor, centre)

    # rendering
    labels = model_part_labels(model)
    part_rgb = rng.uniform(0.15, 1.0, (24, 3)).astype(np.float32)
    light = np.asarray([rng.uniform(-0.8, 0.8), rng.uniform(-0.8, 0.8), -1.0], np.float32)
    ambient = float(rng.uniform(0.25, 0.6))
    rgb, alpha, depth_buffer = render_growing(
        _render_jit,
        size,
        vertices,
        jnp.asarray(model.faces, jnp.int32),
        jnp.asarray(camera),
        jnp.asarray(part_rgb[labels]),
        jnp.asarray(light),
        jnp.float32(ambient),
    )
    silhouette = alpha > 0.5
    image = _background(rng, size)
    image = np.where(silhouette[..., None], rgb * 255.0, image)

    random_occluders = _random_occluders(rng, silhouette, size)
    occluders = random_occluders if occluders is None else list(occluders)
    occluder_mask = np.zeros((size, size), bool)
    for occ in occluders:
        mask = _occluder_mask(occ["shape"], occ["box"], size)
        image[mask] = np.asarray(occ["color"], np.float32)
        occluder_mask |= mask
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)

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
        "clip": str(all_clips[frame]),
        "frame": frame,
        "mirrored": mirrored,
        "seed": int(seed),
    }


def make_samples(
    seeds: Iterable[int],
    *,
    style: str = "basic",
    crop_size: int = 224,
    model=None,
    with_vertices: bool = False,
    clips: Sequence[str] | None = None,
    options: synthetic_lifelike.LifelikeOptions
    | synthetic_full_frame.FullFrameOptions
    | None = None,
) -> dict:
    """`make_sample` for each seed, stacked: every entry gains a leading batch axis."""
    samples = [
        make_sample(
            int(seed),
            style=style,
            crop_size=crop_size,
            model=model,
            with_vertices=with_vertices,
            clips=clips,
            options=options,
        )
        for seed in seeds
    ]
    if not samples:
        raise ValueError("make_samples needs at least one seed")
    return {key: np.stack([np.asarray(s[key]) for s in samples]) for key in samples[0]}


def make_walkers(count: int, *, crop_size: int = 224, with_vertices: bool = False) -> dict:
    """`count` lifelike people walking upright (frames of the "walk" clip, any heading, whole bodies,
    no occluders), seeds WALKER_SEED_OFFSET..: the set on which a regressor must draw people who
    walk upright as upright (experiments/posture_check/)."""
    options = synthetic_lifelike.LifelikeOptions(
        pose_mix=PoseMix(clip=1.0, interpolated=0.0, random=0.0),
        truncation_probability=0.0,
        occluder_counts=(1.0, 0.0, 0.0),
    )
    seeds = range(WALKER_SEED_OFFSET, WALKER_SEED_OFFSET + count)
    return make_samples(
        seeds,
        style="lifelike",
        crop_size=crop_size,
        with_vertices=with_vertices,
        clips=["walk"],
        options=options,
    )


__all__ = ["STYLES", "make_sample", "make_samples", "make_walkers"]
