"""Do people who walk upright come out upright? Regressors on synthetic walkers, one table.

    python -m experiments.posture_check.posture_check                    # the bundled regressor
    python -m experiments.posture_check.posture_check --checkpoint runs/r18/regressor --count 200

Renders `--count` synthetic walkers (`eft_jax.datasets.synthetic.make_walkers`: lifelike people
in frames of the "walk" clip, whole bodies, any heading; seeds no other split uses), predicts each with
every regressor given, and compares the predicted posture with the true one
(`eft_jax.eval.metrics.posture_deg`: knee and hip flexion, the torso's lean in depth and in the
image). A regressor that draws walkers crouching has large knee / hip flexion and a torso leaning
in depth where the truth is upright. Prints a markdown table (medians over the set; "% lean > 20°":
share whose depth lean is off by more than 20°) and writes experiments/posture_check/posture_<name>.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import numpy as np

from eft_jax import body, nets
from eft_jax.datasets.synthetic import WALKER_SEED_OFFSET, make_walkers
from eft_jax.eval.metrics import posture_deg, posture_errors
from eft_jax.geometry.crops import normalize_image

STUDY = Path(__file__).resolve().parent


def predicted_joints(restored: nets.RestoredRegressor, images) -> np.ndarray:
    apply = jax.jit(restored.regressor.apply)
    out = apply(restored.variables, normalize_image(images))
    return np.asarray(
        body.forward_joints(body.joints_model(body.load()), out.rotmats, out.betas).spin49
    )


def posture_row(name: str, predicted_spin49, true_spin49) -> dict:
    pred = {k: np.asarray(v) for k, v in posture_deg(predicted_spin49).items()}
    true = {k: np.asarray(v) for k, v in posture_deg(true_spin49).items()}
    errors = {k: np.asarray(v) for k, v in posture_errors(predicted_spin49, true_spin49).items()}
    return {
        "regressor": name,
        "knee flexion (true)": f"{np.median(pred['knee_flexion']):.1f} ({np.median(true['knee_flexion']):.1f})",
        "hip flexion (true)": f"{np.median(pred['hip_flexion']):.1f} ({np.median(true['hip_flexion']):.1f})",
        "knee error": f"{np.median(errors['knee_error']):.1f}",
        "depth lean error": f"{np.median(errors['lean_depth_error']):.1f}",
        "% lean > 20°": f"{100 * np.mean(errors['lean_depth_error'] > 20):.1f}",
        "image lean error": f"{np.median(errors['lean_image_error']):.1f}",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", nargs="*", default=[], help="regressor directories besides the bundled one"
    )
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--name", default="walkers")
    args = parser.parse_args(argv)

    regressors = {"bundled": nets.bundled_regressor()}
    regressors.update({path: nets.restore_regressor(path) for path in args.checkpoint})
    size = nets.trained_crop_size(regressors["bundled"].record)
    data = make_walkers(args.count, crop_size=size)
    rows = [
        posture_row(name, predicted_joints(r, data["image"]), data["joints3d_spin49"])
        for name, r in regressors.items()
    ]

    header = list(rows[0])
    lines = [
        f"Posture of {args.count} synthetic walkers (lifelike, 'walk' clip, seeds {WALKER_SEED_OFFSET:,}..), "
        f"medians in degrees (errors: absolute differences from the truth); `python -m experiments.posture_check.posture_check {' '.join(sys.argv[1:] if argv is None else argv)}`".rstrip(),
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
        *("| " + " | ".join(row[k] for k in header) + " |" for row in rows),
    ]
    table = "\n".join(lines)
    print(table)
    (STUDY / f"posture_{args.name}.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
