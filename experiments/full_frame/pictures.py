"""Pictures of the study's fits: per human, the frame with each fit drawn through the true camera
(its translation in the camera frame, the true intrinsics), and a side view of the truth and the
fits seen from the camera's right, so a lean in depth or a wrong distance shows.

    python -m experiments.full_frame.pictures --count 100 --seeds 30000003 30000017
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from PIL import Image, ImageDraw

from eft_jax import body, render
from eft_jax.datasets.synthetic_body import default_model
from eft_jax.datasets.synthetic_full_frame import make_full_frame_sample
from experiments.full_frame.full_frame import STUDY, TITLES, fitted_translation, load_run
from experiments.full_frame.humans import full_frame_set

HEIGHT = 300  # px of each panel
COLOURS = {"truth": (0.75, 0.75, 0.75), "crop": (0.95, 0.55, 0.2), "full_frame": (0.3, 0.6, 0.95)}


def _camera(translation, focal, principal, scale=1.0):
    return render.PerspectiveCamera(
        focal=np.float32(focal * scale),
        principal=np.asarray(principal, np.float32) * scale + 0.5,
        translation=np.asarray(translation, np.float32),
    )


def _frame_panel(frame, vertices, translation, focal, principal, colour):
    scale = HEIGHT / frame.shape[0]
    small = np.asarray(
        Image.fromarray(frame).resize((round(frame.shape[1] * scale), HEIGHT), Image.BILINEAR)
    )
    colours = np.broadcast_to(np.asarray(colour, np.float32), vertices.shape)
    return render.overlay(
        small,
        vertices,
        default_model().faces,
        _camera(translation, focal, principal, scale),
        vertex_colors=colours,
        opacity=0.8,
    )


def _side_panel(bodies):
    """Bodies (camera-frame vertices, colour) seen from the camera's right: x_side = z, looking
    along -x, fitted into a square panel."""
    points = np.concatenate([v for v, _ in bodies])
    side = [np.stack([v[:, 2], v[:, 1], -v[:, 0]], axis=-1) for v, _ in bodies]
    lo, hi = points[:, [2, 1]].min(axis=0), points[:, [2, 1]].max(axis=0)
    span = float((hi - lo).max()) * 1.1
    centre = (lo + hi) / 2
    camera = np.asarray([2.0 / span, *(-2.0 / span * centre)], np.float32)
    image = np.full((HEIGHT, HEIGHT, 3), 255, np.uint8)
    for vertices, (_, colour) in zip(side, bodies):
        colours = np.broadcast_to(np.asarray(colour, np.float32), vertices.shape)
        image = render.overlay(
            image, vertices, default_model().faces, camera, vertex_colors=colours, opacity=0.6
        )
    return image


def picture(seed: int, fits: dict, humans: dict, index: int, model) -> np.ndarray:
    sample = make_full_frame_sample(
        seed, crop_size=128, model=model, with_full_image=True, with_vertices=True
    )
    focal, principal = float(sample["focal_px"]), sample["principal_px"]
    truth = np.asarray(body.forward(model, sample["rotmats"], sample["betas"]).vertices)
    panels, bodies = [], [(truth + sample["translation"], COLOURS["truth"])]
    for method, run in fits.items():
        vertices = np.asarray(
            body.forward(model, run["rotmats"][index], run["betas"][index]).vertices
        )
        translation = fitted_translation(method, run, humans)[index]
        colour = COLOURS["full_frame" if "full" in method else "crop"]
        panels.append(
            _frame_panel(sample["full_image"], vertices, translation, focal, principal, colour)
        )
        bodies.append((vertices + translation, colour))
    panels.append(_side_panel(bodies))
    return np.concatenate(panels, axis=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--noise", default="clean")
    parser.add_argument("--methods", nargs="+", default=["eft_crop", "eft_full_known"])
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--name", default="full_frame_fits")
    args = parser.parse_args(argv)
    model = default_model()
    humans = full_frame_set(args.count, 128)
    fits = {}
    for method in args.methods:
        fits[method] = load_run(args.count, args.noise, method)
    rows = []
    for seed in args.seeds:
        index = int(np.flatnonzero(humans["seed"] == seed)[0])
        row = picture(seed, fits, humans, index, model)
        label = Image.fromarray(row)
        ImageDraw.Draw(label).text(
            (5, 5),
            f"seed {seed}: " + ", ".join(TITLES[m] for m in args.methods) + "; side view",
            fill=(0, 0, 0),
        )
        rows.append(np.asarray(label))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    Image.fromarray(np.concatenate(rows)).save(STUDY / f"{args.name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
