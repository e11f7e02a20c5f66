"""The street photo fitted with the crop camera and with the full-frame camera, side by side.

    python -m experiments.photos.cameras --images /tmp/photos --out /tmp/bus_cameras

Runs `eft-jax fit` on `bus.jpg` with `bus_keypoints.json` twice (`--camera crop`, `--camera
full_frame`, the focal length the image's diagonal), draws both with `eft-jax render`'s drawing
(`eval.pictures.draw_fits`) and writes `photo_bus_cameras.png` beside this file: per person, the
crop fit's row [crop | fit over the crop | side view] above the full-frame fit's row [whole image |
fit over the whole image | side view from the photo's camera]. See README.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from eft_jax.eval.pictures import draw_fits
from eft_jax.formats.images import load_rgb, save_png

HERE = Path(__file__).parent
KEYPOINTS = HERE / "bus_keypoints.json"
PICTURE = HERE / "photo_bus_cameras.png"
CAMERAS = ("crop", "full_frame")


def fit(images: Path, out: Path, camera: str) -> Path:
    fits = out / f"fits_{camera}.json"
    command = [sys.executable, "-m", "eft_jax.cli", "fit", "--images", str(images)]
    command += ["--keypoints", str(KEYPOINTS), "--out", str(fits), "--camera", camera, "--fresh"]
    print(" ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)
    return fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, type=Path, help="folder holding bus.jpg")
    parser.add_argument("--out", required=True, type=Path, help="folder for the fits")
    parser.add_argument("--panel", type=int, default=320, help="side of each panel in pixels")
    args = parser.parse_args()
    rows = {}
    for camera in CAMERAS:
        drawn = draw_fits(
            fit(args.images, args.out, camera),
            args.images,
            args.out / f"pictures_{camera}",
            crop_size=args.panel,
        )
        rows[camera] = [load_rgb(path) for path in drawn]
    people = zip(*(rows[camera] for camera in CAMERAS))
    picture = np.concatenate([row for person in people for row in person], axis=0)
    print(f"wrote {save_png(PICTURE, picture)}")


if __name__ == "__main__":
    main()
