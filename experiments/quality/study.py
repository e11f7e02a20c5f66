"""The quality score measured on held-out humans, side by side with the 2D error alone.

    python -m experiments.quality.study                 # every cached setting (experiments/quality/fits.py)
    python -m experiments.quality.study --write-asset   # also refit the bundled calibration

Calibrates on the validation fits of both styles (clean keypoints and detector-like noisy ones)
and scores the held-out ones (clean, and noisy), and leave-clips-out: each held-out human whose
mocap clips all lie in one half of the training clips scored by a calibration fitted on the
validation humans of the other half, both halves in turn; and, when the full-frame study's runs
are there (experiments/full_frame/), its perspective humans, fitted with the crop camera and with
the full-frame one, scored by the same calibration. Each AUROC comes with a bootstrap
95 % interval, and the score's with the interval of its difference from the 2D error's over the
same resamples.
Writes experiments/quality/quality.md and .csv.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

import jax
import numpy as np

from eft_jax import body
from eft_jax.eval.evaluation import evaluate_fits
from eft_jax.eval.keypoint_noise import KEYPOINT_NOISES
from eft_jax.eval.quality_calibration import (
    auroc,
    auroc_intervals,
    bad_fits,
    fit_quality_model,
    kept_curve,
    ranking_figures,
    write_calibration,
)
from eft_jax.fitting.quality import BUNDLED_CALIBRATION_PATH, QualitySignals, read_calibration
from eft_jax.geometry.crops import normalize_image
from eft_jax.nets import predictor
from experiments.fitting_runs import write_csv
from experiments.full_frame import full_frame
from experiments.quality.fits import (
    CACHE,
    cache_dir,
    method_configs,
    most_iterations,
    regressor_setup,
)

STUDY = Path(__file__).resolve().parent
METHODS = ("eft", "smplify")
TITLES = {"eft": "EFT (tuned recipe)", "smplify": "SMPLify from the regressor"}


def read_cache(stem: str, cache: Path = CACHE) -> dict | None:
    """The arrays of a setting's largest cache (fits.py), or None when not cached."""
    paths = sorted(cache.glob(f"{stem}_*.npz"), key=lambda p: int(p.stem.split("_")[-1]))
    if not paths:
        return None
    with np.load(paths[-1]) as data:
        return {k: data[k] for k in data.files}


def load_setting(stem: str, signals_of: QualitySignals, cache: Path = CACHE) -> dict | None:
    """A cached setting's per-method fits, truth scores and signals, or None when not cached."""
    data = read_cache(stem, cache)
    return None if data is None else setting_of(data, signals_of)


def setting_of(data: dict, signals_of: QualitySignals) -> dict:
    """A setting's per-method fits, truth scores and signals from its cached arrays."""
    setting = {"count": len(data["seed"]), "clip": data["clip"], "methods": {}}
    for method in METHODS:
        per = {k.split("/", 1)[1]: v for k, v in data.items() if k.startswith(f"{method}/")}
        per["signals"] = signals_of(
            per["rotmats"],
            per["betas"],
            per["camera"],
            data["keypoints"],
            iterations=per["iterations"],
            max_iters=int(per["max_iters"][0]),
            converged=per["converged"],
            start_rotmats=data["start_rotmats"],
            start_betas=data["start_betas"],
        )
        per["bad"] = bad_fits(per)
        setting["methods"][method] = per
    return setting


# The full-frame study's runs (experiments/full_frame/) scored here: per camera, each method's.
PERSPECTIVE_RUNS = {
    "crop camera": {"eft": "eft_crop", "smplify": "smplify_crop"},
    "full frame, known focal": {"eft": "eft_full_known", "smplify": "smplify_full_known"},
}


def load_perspective(signals_of: QualitySignals) -> dict:
    """{(camera, noise): setting} of the full-frame study's held-out humans (drawn through a
    pinhole camera anywhere in a wide frame), over as many humans as every run of a keypoint
    setting covers; each fit scored through its own camera and started from the bundled
    regressor's first prediction, as `fit` scores it. {} when the runs are not there."""
    runs = [run for methods in PERSPECTIVE_RUNS.values() for run in methods.values()]
    counts = {
        noise: min(full_frame.largest_run(None, noise, run) for run in runs)
        for noise in full_frame.NOISES
    }
    if not any(counts.values()):
        return {}
    restored, model, size = regressor_setup(None)
    most = most_iterations(*method_configs(restored))
    humans = full_frame.full_frame_set(max(counts.values()), size)
    images = normalize_image(humans["image"])
    apply = predictor(restored.regressor, restored.variables)
    first = [jax.device_get(apply(images[i : i + 50])) for i in range(0, len(images), 50)]
    start = {k: np.concatenate([getattr(f, k) for f in first]) for k in ("rotmats", "betas")}
    settings = {}
    for noise, count in counts.items():
        if not count:
            continue
        shown = {k: v[:count] for k, v in humans.items()}
        keypoints = shown["keypoints"] if noise == "clean" else full_frame.detector_keypoints(shown)
        for camera, methods in PERSPECTIVE_RUNS.items():
            setting = {"count": count, "methods": {}}
            for method, run in methods.items():
                fits = full_frame.load_run(count, noise, run)
                per = evaluate_fits(
                    model,
                    fits["rotmats"],
                    fits["betas"],
                    fits["camera"],
                    keypoints,
                    shown["joints3d_spin49"],
                    shown["vertices"],
                )
                # The 2D error through the fit's own camera, as its signals see it.
                spin49 = body.forward_joints(model, fits["rotmats"], fits["betas"]).spin49
                per["error_2d_px"] = full_frame.keypoint_error_px(
                    run, fits, shown, keypoints, spin49
                )
                own_frame = None
                if "translation" in fits:
                    own_frame = (
                        fits["translation"],
                        full_frame.frames(shown, fits["focal_length"][:, 0]),
                    )
                per["signals"] = signals_of(
                    fits["rotmats"],
                    fits["betas"],
                    fits["camera"],
                    keypoints,
                    iterations=fits["iterations"],
                    max_iters=most[method],
                    # The runs keep no stop reason; EFT stops early only on its loss threshold.
                    converged=fits["iterations"] < most[method]
                    if method == "eft"
                    else np.zeros(count, bool),
                    start_rotmats=start["rotmats"][:count],
                    start_betas=start["betas"][:count],
                    full_frame=own_frame,
                )
                per["bad"] = bad_fits(per)
                per.update({k: fits[k] for k in ("rotmats", "betas", "camera")})
                setting["methods"][method] = per
            settings[camera, noise] = setting
    return settings


def setting_name(prefix: str, noise: str) -> str:
    """A table's name of a setting: `prefix`, and the noise when the keypoints have it."""
    return f"{prefix}{', detector noise' if noise == 'detector' else ''}"


def subset(setting: dict, keep: np.ndarray) -> dict:
    methods = {
        m: {k: (v if k == "signals" else v[keep]) for k, v in per.items()}
        for m, per in setting["methods"].items()
    }
    for per in methods.values():
        per["signals"] = {k: v[keep] for k, v in per["signals"].items()}
    return {"count": int(keep.sum()), "clip": setting["clip"][keep], "methods": methods}


def joined(settings: list[dict]) -> dict:
    methods = {}
    for m in METHODS:
        parts = [s["methods"][m] for s in settings]
        methods[m] = {
            k: (
                {n: np.concatenate([p["signals"][n] for p in parts]) for n in parts[0]["signals"]}
                if k == "signals"
                else np.concatenate([p[k] for p in parts])
            )
            for k in parts[0]
        }
    return {
        "count": sum(s["count"] for s in settings),
        "clip": np.concatenate([s["clip"] for s in settings]),
        "methods": methods,
    }


def clip_half(clip: str) -> int | None:
    """0 or 1: the half of the training clips a human's pose came from (every clip of an
    interpolated pose in the same half), None for a random pose or clips in both halves."""
    names = [c for c in str(clip).split("+") if c]
    halves = {zlib.crc32(name.encode()) % 2 for name in names}
    return halves.pop() if len(halves) == 1 else None


def leave_clips_out(train: dict, test: dict) -> tuple[dict, dict]:
    """(test humans, their scores) where every held-out human whose clips lie in one half of the
    training clips is scored by a calibration fitted on the validation humans of the other half
    (both ways round), so no human is scored by a calibration that saw its motions."""
    train_halves = np.array([clip_half(c) for c in train["clip"]], dtype=object)
    test_halves = np.array([clip_half(c) for c in test["clip"]], dtype=object)
    parts, scores = [], {m: [] for m in METHODS}
    for half in (0, 1):
        part = subset(test, test_halves == half)
        for m, values in scores_of(
            calibrate(subset(train, train_halves == 1 - half)), part
        ).items():
            scores[m].append(values)
        parts.append(part)
    return joined(parts), {m: np.concatenate(v) for m, v in scores.items()}


def calibrate(train: dict) -> dict:
    return {
        m: fit_quality_model(train["methods"][m]["signals"], train["methods"][m]["bad"])
        for m in METHODS
    }


def scores_of(models: dict, test: dict) -> dict:
    return {m: models[m].score(test["methods"][m]["signals"]) for m in METHODS}


def rows_for(name: str, models: dict, test: dict, scores: dict | None = None) -> list[dict]:
    """The setting's rows: each method ranked by its score (`models`' own, or the given `scores`
    of the same humans) and by the 2D error alone."""
    scores = scores_of(models, test) if scores is None else scores
    rows = []
    for m in METHODS:
        per = test["methods"][m]
        score = scores[m]
        by_2d = -per["error_2d_px"]  # the 2D error alone (LSP-14, px): lower error = better
        intervals = auroc_intervals({"score": score, "2D error": by_2d}, per["bad"])
        for ranker, values, threshold in (
            ("score", score, models[m].threshold),
            ("2D error", by_2d, None),
        ):
            figures = ranking_figures(values, per["bad"], per, threshold if threshold else -np.inf)
            row = {
                "setting": name,
                "method": TITLES[m],
                "ranked by": ranker,
                "humans": test["count"],
            }
            row.update(figures)
            row["auroc_low"], row["auroc_high"] = intervals[ranker]
            if threshold is None:
                row["precision"] = row["recall"] = row["flagged_pct"] = None
            else:
                row["auroc_gain"] = figures["auroc"] - auroc(by_2d, per["bad"])
                row["gain_low"], row["gain_high"] = intervals["difference"]
            rows.append(row)
    return rows


COLUMNS = (
    ("humans", "humans", "d"),
    ("bad_pct", "% bad", ".1f"),
    ("auroc", "AUROC [95 %]", ".3f"),
    ("auroc_gain", "score − 2D AUROC [95 %]", "+.3f"),
    ("precision", "precision", ".2f"),
    ("recall", "recall", ".2f"),
    ("flagged_pct", "% flagged", ".1f"),
    ("pa_all_mm", "PA-MPJPE all", ".1f"),
    ("pa_kept80_mm", "PA-MPJPE best 80 %", ".1f"),
    ("facing_all_pct", "% facing > 90° all", ".1f"),
    ("facing_kept80_pct", "% facing > 90° best 80 %", ".1f"),
)


def table(rows: list[dict]) -> str:
    head = ["setting", "method", "ranked by"] + [t for _, t, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|" + "---:|" * len(COLUMNS)]
    for row in rows:
        cells = [row["setting"], row["method"], row["ranked by"]]
        cells += [
            "–" if row.get(k) is None or row[k] != row[k] else format(row[k], f)
            for k, _, f in COLUMNS
        ]
        for key, low, high in (
            ("auroc", "auroc_low", "auroc_high"),
            ("auroc_gain", "gain_low", "gain_high"),
        ):
            if row.get(key) is not None:
                at = 3 + [k for k, _, _ in COLUMNS].index(key)
                cells[at] += (
                    f" [{row[low]:+.2f}, {row[high]:+.2f}]"
                    if key == "auroc_gain"
                    else f" [{row[low]:.2f}, {row[high]:.2f}]"
                )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def curve_table(models: dict, test: dict) -> str:
    lines = [
        "| method | ranked by | "
        + " | ".join(
            f"keep {f:.0%}"
            for f, _, _ in kept_curve(
                np.zeros(2), {"pa_mpjpe_mm": np.zeros(2), "facing_error_deg": np.zeros(2)}
            )
        )
        + " |",
    ]
    lines.append("|---|---|" + "---:|" * (len(lines[0].split("|")) - 4))
    for m in METHODS:
        per = test["methods"][m]
        for ranker, values in (
            ("score", models[m].score(per["signals"])),
            ("2D error", -per["error_2d_px"]),
        ):
            cells = [f"{pa:.1f} mm, {facing:.1f} %" for _, pa, facing in kept_curve(values, per)]
            lines.append(f"| {TITLES[m]} | {ranker} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_settings(cache: Path, signals_of: QualitySignals) -> dict:
    """{(split, style, noise): setting} of every setting cached under `cache`."""
    load = {}
    for split in ("validation", "heldout"):
        for style in ("basic", "lifelike"):
            for noise in KEYPOINT_NOISES:
                setting = load_setting(f"{split}_{style}_{noise}", signals_of, cache)
                if setting is not None:
                    load[split, style, noise] = setting
    return load


def other_regressor(checkpoint: str, signals_of: QualitySignals) -> str:
    """Does the bundled calibration apply to a regressor it was not fitted on? That regressor's
    held-out fits (cached by `fits.py --checkpoint`) ranked by the bundled calibration's score,
    by the score of a calibration fitted on its own validation fits (when they are cached) and
    by the 2D error alone. Writes quality_<checkpoint folder's name>.md and .csv."""
    load = load_settings(cache_dir(checkpoint), signals_of)
    validation = [load[k] for k in load if k[0] == "validation"]
    own = calibrate(joined(validation)) if validation else None
    bundled = read_calibration()["models"]
    rows = []
    for style in ("basic", "lifelike"):
        for noise in KEYPOINT_NOISES:
            if ("heldout", style, noise) not in load:
                continue
            test = load["heldout", style, noise]
            name = setting_name(style, noise)
            rows += rows_for(f"{name}, bundled calibration", bundled, test)
            if own is not None:
                rows += [
                    row
                    for row in rows_for(f"{name}, its own calibration", own, test)
                    if row["ranked by"] == "score"
                ]
    name = Path(checkpoint).name
    sizes = ", ".join(f"{' '.join(k)} {load[k]['count']}" for k in load)
    text = "\n".join(
        [
            f"# Quality score on another regressor's fits: {name}",
            "",
            f"The regressor in `{name}`, its own EFT recipe, and SMPLify from it; cached fits: "
            f"{sizes}. Each held-out setting ranked by the bundled calibration's score (fitted "
            "on the bundled regressor's fits), by a calibration fitted on this regressor's own "
            "validation fits, and by the 2D error alone.",
            "",
            table(rows),
            "",
            f"Command: `python -m experiments.quality.study --checkpoint {checkpoint}`",
            "",
        ]
    )
    (STUDY / f"quality_{name}.md").write_text(text)
    write_csv(STUDY / f"quality_{name}.csv", rows)
    return text


def calibration_sizes(sizes: list[int], signals_of: QualitySignals) -> str:
    """The score's AUROC and its gain over the 2D error on every cached held-out setting (range
    and mean over the settings) when calibrated on the first N validation humans of each style
    and keypoint setting. Writes calibration_sizes.md."""
    load = load_settings(CACHE, signals_of)
    held = [load[k] for k in load if k[0] == "heldout"]
    lines = [
        "| validation humans per style and setting | fits | method | AUROC (mean) | "
        "score − 2D AUROC |",
        "|---:|---:|---|---:|---:|",
    ]
    for size in sizes:
        parts = []
        for key, setting in load.items():
            if key[0] == "validation":
                parts.append(subset(setting, np.arange(setting["count"]) < size))
        train = joined(parts)
        models = calibrate(train)
        for method in METHODS:
            aurocs, gains = [], []
            for test in held:
                per = test["methods"][method]
                score = auroc(models[method].score(per["signals"]), per["bad"])
                aurocs.append(score)
                gains.append(score - auroc(-per["error_2d_px"], per["bad"]))
            lines.append(
                f"| {size} | {train['count']} | {TITLES[method]} | {min(aurocs):.3f}–"
                f"{max(aurocs):.3f} ({np.mean(aurocs):.3f}) | {min(gains):+.3f} to "
                f"{max(gains):+.3f} |"
            )
    text = "\n".join(
        [
            "# How many validation humans a calibration needs",
            "",
            f"Scored on the cached held-out settings ({len(held)}: every style, clean and noisy).",
            "",
            *lines,
            "",
            "Command: `python -m experiments.quality.study --calibration-sizes "
            + " ".join(str(s) for s in sizes)
            + "`",
            "",
        ]
    )
    (STUDY / "calibration_sizes.md").write_text(text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-asset", action="store_true", help="refit the bundled calibration")
    parser.add_argument(
        "--calibration-sizes",
        type=int,
        nargs="+",
        help="calibrate on the first N validation humans of each style and keypoint setting, for "
        "each N, and score the held-out ones: how many `eft-jax calibrate` needs",
    )
    parser.add_argument(
        "--checkpoint",
        help="score another regressor's cached fits (fits.py --checkpoint) with the bundled "
        "calibration and with one fitted on its own validation fits",
    )
    args = parser.parse_args(argv)
    signals_of = QualitySignals(body.load())
    if args.checkpoint:
        print(other_regressor(args.checkpoint, signals_of))
        return 0
    if args.calibration_sizes:
        print(calibration_sizes(args.calibration_sizes, signals_of))
        return 0
    load = load_settings(CACHE, signals_of)
    validation = [load[k] for k in load if k[0] == "validation"]
    sizes = ", ".join(
        f"{k[1]}{' noisy' if k[2] == 'detector' else ''} {load[k]['count']}"
        for k in load
        if k[0] == "validation"
    )
    train = joined(validation)
    models = calibrate(train)
    if args.write_asset:
        write_calibration(
            BUNDLED_CALIBRATION_PATH,
            models,
            fitted_on=f"validation synthetic humans (seeds 10,000,000..), clean keypoints and "
            f"detector-like noisy ones (experiments/quality/fits.py): {sizes}; bundled regressor (tuned EFT recipe, crop "
            "camera), bundled body model; SMPLify from the regressor",
            command="python -m experiments.quality.study --write-asset",
        )
    rows = []
    for style in ("basic", "lifelike"):
        for noise in KEYPOINT_NOISES:
            if ("heldout", style, noise) in load:
                rows += rows_for(setting_name(style, noise), models, load["heldout", style, noise])
    for (camera, noise), setting in load_perspective(signals_of).items():
        rows += rows_for(setting_name(f"perspective humans, {camera}", noise), models, setting)
    held = [load[k] for k in load if k[0] == "heldout" and k[2] == "none"]
    if held:
        test = joined(held)
        unseen, unseen_scores = leave_clips_out(train, test)
        rows += rows_for("leave-clips-out (both styles)", models, unseen, unseen_scores)
        rows += rows_for("the same humans, calibrated on every clip", models, unseen)
        curves = curve_table(models, test)
    text = "\n".join(
        [
            "# Quality score against the 2D error alone",
            "",
            f"Calibrated on validation humans, clean keypoints and noisy ({sizes}). "
            "AUROC with its bootstrap 95 % interval; the score's gain over the 2D error with the "
            "interval of the difference over the same resamples. Leave-clips-out: every held-out "
            "human (every style, clean) whose clips all lie in one half of the training clips, "
            "scored by a calibration fitted on the validation humans of the other half (both "
            "halves in turn); then the same humans scored by the calibration fitted on every "
            "validation human, for comparison. Perspective humans: the full-frame study's "
            "held-out humans (a pinhole camera anywhere in a wide frame), fitted with the crop "
            "camera and with the full-frame one (known focal length), scored by the same "
            "calibration.",
            "",
            table(rows),
            "",
            "Kept fraction (best first) against the kept fits' mean PA-MPJPE and % facing > 90°, "
            "held-out humans of every style, clean keypoints:",
            "",
            curves if held else "",
            "",
            "Command: `python -m experiments.quality.study`",
            "",
        ]
    )
    (STUDY / "quality.md").write_text(text)
    write_csv(STUDY / "quality.csv", rows)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
