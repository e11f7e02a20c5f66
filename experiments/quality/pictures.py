"""The held-out EFT fits the bundled quality score ranks worst and best, drawn as
[crop | fit over the crop | side view] with their score and truth, to check the score means what
it says.

    python -m experiments.quality.pictures --style lifelike --count 6
    python -m experiments.quality.pictures --style perspective --count 4   # full-frame fits

Writes experiments/quality/extremes_<style>.png: the `count` lowest-scored fits (top rows), then
the `count` highest-scored (bottom rows); each row's caption gives the score, PA-MPJPE, facing
error and swapped pairs. "perspective": the full-frame study's humans (experiments/full_frame/),
clean keypoints, EFT in the full frame with the known focal length, drawn through the crop camera
each full-frame fit also records.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from PIL import Image, ImageDraw

from eft_jax import body, render
from eft_jax.fitting.quality import QualitySignals, read_calibration
from experiments.fitting_runs import evaluation_set
from experiments.full_frame.humans import full_frame_set
from experiments.quality.study import STUDY, load_perspective, load_setting


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", choices=("basic", "lifelike", "perspective"), default="lifelike")
    parser.add_argument("--count", type=int, default=6)
    args = parser.parse_args(argv)
    model = body.load()
    if args.style == "perspective":
        setting = load_perspective(QualitySignals(model))["full frame, known focal", "clean"]
        images = full_frame_set(setting["count"], 128)["image"]
    else:
        setting = load_setting(f"heldout_{args.style}_none", QualitySignals(model))
        images = evaluation_set("heldout", setting["count"], 128, args.style)["image"]
    per = setting["methods"]["eft"]
    score = read_calibration()["models"]["eft"].score(per["signals"])
    order = np.argsort(score)
    chosen = list(order[: args.count]) + list(order[-args.count :])
    rows = []
    for index in chosen:
        vertices = np.asarray(
            body.forward(model, per["rotmats"][index], per["betas"][index]).vertices
        )
        panels = render.fit_panels(
            np.asarray(images[index], np.uint8), vertices, model.faces, per["camera"][index]
        )
        caption = Image.new("RGB", (panels.shape[1], 16), "white")
        ImageDraw.Draw(caption).text(
            (4, 2),
            f"score {score[index]:.2f}  PA {per['pa_mpjpe_mm'][index]:.0f} mm  facing "
            f"{per['facing_error_deg'][index]:.0f} deg  swaps {6 * per['lr_swaps'][index]:.0f}/6",
            fill="black",
        )
        rows += [np.asarray(caption), panels]
    path = STUDY / f"extremes_{args.style}.png"
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
