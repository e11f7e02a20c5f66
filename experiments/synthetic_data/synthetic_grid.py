"""Sample grids of the synthetic styles, keypoints drawn, to judge the data by eye.

    python -m experiments.synthetic_data.synthetic_grid   # -> experiments/synthetic_data/synthetic_grid_{basic,lifelike}.png
    python -m experiments.synthetic_data.synthetic_grid --styles lifelike --rows 8 --size 128 --first-seed 1000

Each panel is `make_sample(seed, style=..., crop_size=--size)` for seeds --first-seed, ...;
visible keypoints (SPIN-49, third column 1) are green dots, invisible ones that the model can
produce are small red dots (outside the crop they are not drawn).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from eft_jax.datasets.synthetic import STYLES, make_sample
from eft_jax.datasets.synthetic_body import default_model

STUDY = Path(__file__).resolve().parent


def panel(sample: dict, available: np.ndarray) -> Image.Image:
    image = Image.fromarray(sample["image"])
    draw = ImageDraw.Draw(image)
    size = image.size[0]
    for (x, y, visible), ok in zip(sample["keypoints"], available):
        if not ok:
            continue
        px, py = (x + 1) * 0.5 * size, (y + 1) * 0.5 * size
        r = 1.0 if visible else 0.7
        draw.ellipse([px - r, py - r, px + r, py + r], fill=(0, 255, 0) if visible else (255, 0, 0))
    return image


def grid(style: str, rows: int, size: int, first_seed: int) -> Image.Image:
    available = np.asarray(default_model().spin49_available)
    sheet = Image.new("RGB", (rows * size, rows * size))
    for i in range(rows * rows):
        sample = make_sample(first_seed + i, style=style, crop_size=size)
        sheet.paste(panel(sample, available), ((i % rows) * size, (i // rows) * size))
    return sheet


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--styles", nargs="+", choices=STYLES, default=list(STYLES))
    parser.add_argument("--rows", type=int, default=6, help="rows and columns of the grid")
    parser.add_argument("--size", type=int, default=128, help="crop side in pixels")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=STUDY, help="folder of the PNGs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for style in args.styles:
        start = time.perf_counter()
        path = args.out / f"synthetic_grid_{style}.png"
        grid(style, args.rows, args.size, args.first_seed).save(path, optimize=True)
        print(f"wrote {path} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
