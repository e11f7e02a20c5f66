"""EFT against SMPLify and against the regressor it starts from, on held-out synthetic humans.

    python -m experiments.compare_fitting.compare_fitting          # 500 held-out humans (seeds 30,000,000..)
    python -m experiments.compare_fitting.compare_fitting --count 100 --methods regressor eft_paper

Rows (methods): the bundled regressor alone; SMPLify from the mean pose; SMPLify from the
regressor's output (SPIN's way); EFT with the paper's recipe (`recipe=paper`); EFT with the
regressor's tuned recipe (its checkpoint metadata); multi-start EFT (tuned recipe, 4 hypotheses).
Every method fits the same exemplars (crops + SPIN-49 keypoints with visibility, 128 px for the
bundled regressor) and is scored by the same evaluator (eft_jax.eval.evaluation) against the
synthetic ground truth, with the bundled body model. Seeds 30,000,000.. are disjoint from training
(0..), validation (10,000,000.., where the tuned recipe was chosen) and the demo (20,000,000..).

Writes experiments/compare_fitting/compare_fitting.md, .csv, _per_exemplar.npz and .png (PA-MPJPE against
2D error, one colour per method).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from eft_jax.config import default_config_path, load_config
from eft_jax.datasets.synthetic import STYLES
from eft_jax.fitting import Exemplar
from eft_jax.fitting.recipe import describe_recipe, resolve_config
from eft_jax.fitting.smplify import Smplify, smplify_stream
from eft_jax.geometry.crops import normalize_image
from experiments.fitting_runs import (
    Run,
    bundled_setup,
    describe_set,
    evaluation_set,
    run_eft,
    run_regressor,
    score,
    write_table,
)

STUDY = Path(__file__).resolve().parent

METHODS = (
    "regressor",
    "smplify_mean",
    "smplify_regressor",
    "eft_paper",
    "eft_tuned",
    "eft_multistart",
)
TITLES = {
    "regressor": "regressor alone",
    "smplify_mean": "SMPLify from the mean pose",
    "smplify_regressor": "SMPLify from the regressor",
    "eft_paper": "EFT, paper recipe",
    "eft_tuned": "EFT, tuned recipe",
    "eft_multistart": "multi-start EFT (tuned, 4 hypotheses)",
}


def run_smplify(method: str, restored, model, data: dict, size: int) -> Run:
    """SMPLify (configs/smplify.py, SPIN's constants) over the set, batched: from the mean pose
    (`smplify_mean`) or from the bundled regressor's prediction (`smplify_regressor`, SPIN's way)."""
    import jax

    config = load_config(default_config_path("smplify"))
    smplify = Smplify(model, config)
    predict = None
    if method == "smplify_regressor":
        apply = jax.jit(lambda images: restored.regressor.apply(restored.variables, images))

        def predict(images):
            out = apply(images)
            return out.rotmats, out.betas, out.camera

    images = normalize_image(data["image"])
    exemplars = [Exemplar(i, images[i], data["keypoints"][i]) for i in range(len(images))]
    list(smplify_stream(exemplars[:1], smplify, predict=predict, crop_size=size))  # compile
    start = time.perf_counter()
    results = {r.id: r for r in smplify_stream(exemplars, smplify, predict=predict, crop_size=size)}
    seconds = time.perf_counter() - start
    ordered = [results[i] for i in range(len(images))]
    skipped = [r for r in ordered if r.skipped]
    if skipped:
        raise RuntimeError(
            f"{method}: {len(skipped)} exemplars skipped, e.g. {skipped[0].stop_reason}"
        )
    return Run(
        method,
        np.stack([r.rotmats for r in ordered]),
        np.stack([r.betas for r in ordered]),
        np.stack([r.camera for r in ordered]),
        np.array([r.iterations for r in ordered]),
        seconds,
    )


COLOURS = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
]


def scatter_png(path, series: list[tuple[str, np.ndarray, np.ndarray]], size=(900, 620)) -> None:
    """PA-MPJPE (mm, y) against 2D error (px, x, log scale) per exemplar, one colour per method."""
    width, height = size
    left, right, top, bottom = 70, 250, 30, 60
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    xs = np.concatenate([x for _, x, _ in series])
    ys = np.concatenate([y for _, _, y in series])
    x_lo, x_hi = np.log10(max(xs.min(), 0.3)), np.log10(xs.max() * 1.1)
    y_lo, y_hi = 0.0, float(np.percentile(ys, 99.5)) * 1.05

    def to_pixel(x, y):
        u = left + (np.log10(np.maximum(x, 10**x_lo)) - x_lo) / (x_hi - x_lo) * (
            width - left - right
        )
        v = height - bottom - (np.minimum(y, y_hi) - y_lo) / (y_hi - y_lo) * (height - top - bottom)
        return u, v

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for tick in (0.5, 1, 2, 5, 10, 20, 50, 100, 200):
        if x_lo <= np.log10(tick) <= x_hi:
            u, _ = to_pixel(tick, 0)
            draw.line([u, height - bottom, u, height - bottom + 5], fill="black")
            draw.text((u - 8, height - bottom + 8), f"{tick:g}", fill="black")
    for tick in np.arange(0, y_hi, 50):
        _, v = to_pixel(1, tick)
        draw.line([left - 5, v, left, v], fill="black")
        draw.text((left - 35, v - 6), f"{tick:.0f}", fill="black")
    draw.text(
        ((width - right + left) / 2 - 90, height - 25), "2D error, px at 224 (log)", fill="black"
    )
    draw.text((5, top - 20), "PA-MPJPE (mm)", fill="black")
    for index, (name, x, y) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        us, vs = to_pixel(x, y)
        for u, v in zip(us, vs):
            draw.ellipse([u - 2, v - 2, u + 2, v + 2], fill=colour)
        mu, mv = to_pixel(np.array([np.median(x)]), np.array([np.mean(y)]))
        draw.rectangle([mu[0] - 6, mv[0] - 6, mu[0] + 6, mv[0] + 6], outline="black", fill=colour)
        draw.rectangle(
            [width - right + 15, top + 20 * index, width - right + 27, top + 20 * index + 12],
            fill=colour,
        )
        draw.text((width - right + 33, top + 20 * index), name, fill="black")
    draw.text(
        (width - right + 15, top + 20 * len(series) + 10),
        "squares: median 2D,\nmean PA-MPJPE",
        fill="black",
    )
    image.save(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="held-out synthetic humans")
    parser.add_argument(
        "--style", choices=STYLES, default="basic", help="synthetic style of the set"
    )
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--name", default="compare_fitting", help="output name in experiments/compare_fitting/"
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="NAME",
        help="run nothing: combine earlier runs' results (experiments/compare_fitting/NAME.csv and "
        "NAME_per_exemplar.npz, same --count) into one table and plot under --name",
    )
    args = parser.parse_args(argv)

    restored, model, size = bundled_setup()
    eft = default_config_path("eft_default")
    configs = {
        "eft_paper": resolve_config(eft, ["recipe=paper"], restored.record),
        "eft_tuned": resolve_config(eft, [], restored.record),
        "eft_multistart": resolve_config(eft, ["hypotheses=4"], restored.record),
    }
    if args.merge:
        rows, per_exemplar, seeds = merged(args.merge)
        command = "python -m experiments.compare_fitting.compare_fitting --merge " + " ".join(
            args.merge
        )
    else:
        data = evaluation_set("heldout", args.count, size, args.style)
        rows, per_exemplar = run_methods(args.methods, restored, model, configs, data, size)
        seeds = data["seed"]
        command = "python -m experiments.compare_fitting.compare_fitting" + (
            "" if args.count == 500 else f" --count {args.count}"
        )
        command += f" --style {args.style}" if args.style != "basic" else ""
        command += (
            " --methods " + " ".join(args.methods) if list(args.methods) != list(METHODS) else ""
        )
    order = {TITLES[m]: i for i, m in enumerate(METHODS)}
    rows.sort(key=lambda row: order.get(str(row["method"]).split(" (")[0], len(order)))
    header = [
        "# Fitting methods compared",
        "",
        f"{describe_set('heldout', len(seeds), args.style)}, 128 px crops; bundled regressor and open body model.",
        f"EFT paper recipe: EFT's constants (lr 5e-6, 20 iterations). Tuned: {describe_recipe(configs['eft_tuned'], restored.record)}.",
        "2D px: visible LSP-14 keypoints, px of a 224 px crop. MPJPE / PA-MPJPE (LSP-14, hip-centred), PVE (hip-centred) in mm.",
        "Facing > 90°: torso normal more than 90° from the truth's. Iterations: forward/backward passes per exemplar",
        "(all hypotheses for multi-start). Time: batched wall time per exemplar on this shared 2-core CPU, compilation excluded.",
    ]
    text = write_table(STUDY, args.name, header, rows, command)
    np.savez_compressed(STUDY / f"{args.name}_per_exemplar.npz", seeds=seeds, **per_exemplar)
    series = [
        (TITLES[m], per_exemplar[f"{m}/error_2d_px"], per_exemplar[f"{m}/pa_mpjpe_mm"])
        for m in METHODS
        if f"{m}/error_2d_px" in per_exemplar
    ]
    if series:
        scatter_png(STUDY / f"{args.name}.png", series)
    print(text)
    return 0


def run_methods(methods, restored, model, configs, data, size) -> tuple[list[dict], dict]:
    rows, per_exemplar = [], {}
    for method in methods:
        tick = time.perf_counter()
        if method == "regressor":
            run = run_regressor(restored.regressor, restored.variables, data)
        elif method.startswith("smplify"):
            run = run_smplify(method, restored, model, data, size)
        else:
            run = run_eft(
                method, restored.regressor, restored.variables, model, configs[method], data, size
            )
        per, row = score(run, model, data)
        row["method"] = TITLES[method]
        rows.append(row)
        per_exemplar.update({f"{method}/{k}": v for k, v in per.items()})
        per_exemplar[f"{method}/iterations"] = run.iterations
        print(
            f"{method}: PA-MPJPE {row['pa_mpjpe_mm']:.1f} mm, 2D {row['mean_2d_px']:.2f} px "
            f"({time.perf_counter() - tick:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    return rows, per_exemplar


def merged(names: list[str]) -> tuple[list[dict], dict, np.ndarray]:
    rows, per_exemplar, seeds = [], {}, None
    for name in names:
        with open(STUDY / f"{name}.csv") as f:
            for row in csv.DictReader(f):
                rows.append(
                    {
                        k: (float(v) if k != "method" and v not in ("", None) else (v or None))
                        for k, v in row.items()
                    }
                )
        with np.load(STUDY / f"{name}_per_exemplar.npz") as data:
            if seeds is not None and not np.array_equal(seeds, data["seeds"]):
                raise SystemExit(f"{name} was run on other exemplars than {names[0]}")
            seeds = data["seeds"]
            per_exemplar.update({k: data[k] for k in data.files if k != "seeds"})
    return rows, per_exemplar, seeds


if __name__ == "__main__":
    sys.exit(main())
