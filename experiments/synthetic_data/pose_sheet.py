"""Pose sheet: every retargeted motion-capture clip drawn as bodies, to check the poses by eye.

One row per clip of `eft_jax.datasets.mocap_poses.load_mocap_poses()` (walk, run, jump, ...), with
`--frames` frames evenly spaced through the clip. Each frame is the bundled open body
(`eft_jax.body.load()`, mean shape) in the clip's pose, coloured per SMPL part
(`render.part_colors`: the left and right limbs get different colours) on white, seen from the
front with a weak-perspective camera [s, tx, ty] (x = s X + t in crop coordinates, EFT's
convention) fitted so the body fills its panel. Rows are labelled with the clip name, columns
with the frame's index within the clip and its source frame in the motion file (`src`).

The body model is y-up (SMPL's frame) and the image is y-down, so, exactly as the synthetic
data does (`eft_jax.datasets.synthetic._pose_body`, with yaw 0), the root rotation becomes
Rx(pi) @ R_clip: the body stands upright, its head at the top, and the clip's own heading is
kept (Rx(pi) also turns +z round, so a clip body facing +z, which would face away from the
camera looking along +z, faces the camera; it is a rotation, so nothing is mirrored: the body's
left is on the image's right when it faces the camera). `--side` adds,
under each clip's row, the same bodies turned 90 degrees about the vertical axis (their left
side towards the camera), which shows what a front view cannot (knees, forward lean).

    python -m experiments.synthetic_data.pose_sheet        # -> experiments/synthetic_data/pose_sheet.png
    python -m experiments.synthetic_data.pose_sheet --frames 8 --size 128 --side --out /tmp/sheet.png
    python -m experiments.synthetic_data.pose_sheet --clips crawl roll --size 320 --side --out /tmp/crawl.png

`--random ROWS` draws joint-limited random poses instead (`eft_jax.datasets.pose_sampling.
random_pose`, seeds 0, 1, ...), `--frames` per row, each row followed by its side view, to check
that they are plausible (no limb through the torso, no knee bending backwards):

    python -m experiments.synthetic_data.pose_sheet --random 6 --frames 8 --size 128 \
        --out experiments/synthetic_data/pose_sheet_random.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from eft_jax import body, render
from eft_jax.body.upright import turn_upright
from eft_jax.datasets.mocap_poses import load_mocap_frame_indices, load_mocap_poses, mocap_clips
from eft_jax.datasets.pose_sampling import random_pose
from eft_jax.geometry import rotations
from eft_jax.render.strip import label_image

DEFAULT_OUT = Path(__file__).resolve().parent / "pose_sheet.png"
FILL = 0.9  # the larger side of the body's projected box / panel side
LABEL_WIDTH = 120  # pixels of the clip-name column
LABEL_HEIGHT = 14  # pixels of the frame-label row under each panel


@jax.jit
def pose_bodies(model, clip_poses):
    """(B, 24, 3) clip poses (root in SMPL's y-up frame) -> (B, V, 3) upright mean-shape bodies.

    The root becomes Rx(pi) @ R_clip, as in `eft_jax.datasets.synthetic._pose_body` with yaw 0.
    """
    rot = rotations.axis_angle_to_rotmat(clip_poses)  # (B, 24, 3, 3)
    rot = rot.at[:, 0].set(turn_upright(rot[:, 0]))
    betas = jnp.zeros((clip_poses.shape[0], model.num_betas), jnp.float32)
    return body.forward(model, rot, betas).vertices


def fit_cameras(vertices, fill: float = FILL) -> np.ndarray:
    """(B, V, 3) vertices -> (B, 3) cameras [s, tx, ty] whose projected vertex box is centred in
    the crop and spans `fill` of it along its longer side (x = s X + t, crop in [-1, 1])."""
    xy = np.asarray(vertices)[..., :2]
    lo, hi = xy.min(axis=1), xy.max(axis=1)
    s = fill * 2.0 / np.maximum((hi - lo).max(axis=1), 1e-6)
    t = -s[:, None] * (lo + hi) / 2.0
    return np.concatenate([s[:, None], t], axis=1).astype(np.float32)


def render_panels(model, vertices, size: int) -> np.ndarray:
    """(B, V, 3) bodies -> (B, size, size, 3) uint8 front views in part colours on white."""
    blank = np.full((len(vertices), size, size, 3), 255, np.uint8)
    return render.overlay_batch(
        blank,
        vertices,
        model.faces,
        fit_cameras(vertices),
        vertex_colors=render.part_colors(model.weights),
    )


def frame_labels(indices, sources) -> list[str]:
    return [f"#{i}  src {s}" for i, s in zip(indices, sources)]


def pose_sheet(frames: int = 6, size: int = 160, side: bool = False, clips=None) -> np.ndarray:
    """The sheet as an (H, W, 3) uint8 array: a row (two with `side`) per mocap clip (all of
    them, in stored order, unless `clips` names some)."""
    model = body.load()
    poses, frame_clips = load_mocap_poses()
    sources = load_mocap_frame_indices()
    rows = []
    for clip in mocap_clips() if clips is None else clips:
        members = np.flatnonzero(frame_clips == clip)
        picks = np.unique(np.round(np.linspace(0, len(members) - 1, frames)).astype(int))
        vertices = pose_bodies(model, jnp.asarray(poses[members[picks]], jnp.float32))
        views = [("front", vertices)]
        if side:
            views.append(("side", render.side_view(vertices)))  # left side towards the camera
        for view, verts in views:
            panels = render_panels(model, verts, size)
            texts = (
                frame_labels(picks, sources[members[picks]])
                if view == "front"
                else [""] * len(picks)
            )
            columns = [
                np.concatenate([panel, label_image(text, size, LABEL_HEIGHT)], axis=0)
                for panel, text in zip(panels, texts)
            ]
            name = clip if view == "front" else f"{clip} (side)"
            row = [label_image(name, LABEL_WIDTH, size + LABEL_HEIGHT), *columns]
            if len(picks) < frames:  # a clip shorter than --frames: pad the row with white
                row.append(
                    np.full((size + LABEL_HEIGHT, (frames - len(picks)) * size, 3), 255, np.uint8)
                )
            rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


def random_pose_sheet(rows: int = 6, per_row: int = 8, size: int = 160) -> np.ndarray:
    """Joint-limited random poses (seed i for the i-th), each row over its side view."""
    model = body.load()
    rest_joints = np.asarray(
        body.forward(
            model, np.zeros((24, 3), np.float32), np.zeros(model.num_betas, np.float32)
        ).joints
    )
    lines = []
    for row in range(rows):
        seeds = range(row * per_row, (row + 1) * per_row)
        poses = np.stack([random_pose(np.random.default_rng(seed), rest_joints) for seed in seeds])
        vertices = pose_bodies(model, jnp.asarray(poses))
        for view, verts in (("front", vertices), ("side", render.side_view(vertices))):
            panels = render_panels(model, verts, size)
            texts = [f"seed {seed}" for seed in seeds] if view == "front" else [""] * per_row
            columns = [
                np.concatenate([panel, label_image(text, size, LABEL_HEIGHT)], axis=0)
                for panel, text in zip(panels, texts)
            ]
            name = "random" if view == "front" else "(side)"
            lines.append(
                np.concatenate(
                    [label_image(name, LABEL_WIDTH, size + LABEL_HEIGHT), *columns], axis=1
                )
            )
    return np.concatenate(lines, axis=0)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write")
    parser.add_argument("--frames", type=int, default=6, help="frames per clip (evenly spaced)")
    parser.add_argument("--size", type=int, default=160, help="panel side in pixels")
    parser.add_argument(
        "--side", action="store_true", help="add a side-view row under each clip's front row"
    )
    parser.add_argument(
        "--clips",
        nargs="+",
        choices=mocap_clips(),
        metavar="CLIP",
        help=f"only these clips (default: all of {', '.join(mocap_clips())})",
    )
    parser.add_argument(
        "--random",
        type=int,
        metavar="ROWS",
        help="rows of joint-limited random poses instead of the clips",
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if args.random:
        sheet = random_pose_sheet(args.random, args.frames, args.size)
    else:
        sheet = pose_sheet(args.frames, args.size, args.side, args.clips)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, optimize=True)
    print(
        f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]} px, "
        f"{args.out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
