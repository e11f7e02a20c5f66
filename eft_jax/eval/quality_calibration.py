"""Fitting the quality score against the truth, and measuring how well it ranks fits.

    fits = calibration_fits(regressor, variables, model, eft_config, smplify_config, humans)
    bad = bad_fits(fits["eft"])                           # from evaluate_fits's scores
    models = {m: fit_quality_model(fits[m]["signals"], bad_fits(fits[m])) for m in METHODS}
    write_calibration(path, models, fitted_on="...")
    ranking_figures(score, bad, per, threshold)           # AUROC, precision/recall, kept curve
    auroc_intervals({"score": score, "2D error": -error_2d}, bad)   # bootstrap 95 % intervals

A bad fit (docs/quality.md): PA-MPJPE over `BAD_PA_MPJPE_MM`, facing more than `BAD_FACING_DEG`
away from the truth, or any of the six left/right limb-joint pairs swapped (`eval/metrics.py`).
The score is the probability of a good fit; `ranking_figures` treats a low score as "flag this
fit". The model is an L2-regularised logistic regression fitted by Newton's method (numpy only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import jax
import numpy as np

from eft_jax.eval.evaluation import evaluate_fits
from eft_jax.fitting.exemplar import Exemplar
from eft_jax.fitting.multistart import MultiStartEft
from eft_jax.fitting.quality import (
    CALIBRATION_VERSION,
    FEATURES,
    QualityModel,
    QualitySignals,
    features,
)
from eft_jax.fitting.result import CONVERGED
from eft_jax.fitting.smplify import Smplify, smplify_stream
from eft_jax.geometry.crops import normalize_image
from eft_jax.nets import predictor
from eft_jax.progress import Progress

BAD_PA_MPJPE_MM = 150.0
BAD_FACING_DEG = 90.0
# The penalty on the standardised weights, chosen by 5-fold cross-validation on the validation fits.
L2_PENALTY = 10.0
KEPT_FRACTIONS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
METHODS = ("eft", "smplify")  # the calibration's models: EFT's fits and SMPLify's


def calibration_fits(
    regressor, variables, model, eft_config, smplify_config, humans: Mapping, crop_size: int
) -> dict:
    """EFT (`eft_config`, the recipe a run would use) and SMPLify from the regressor
    (`smplify_config`) over synthetic `humans` (`eval.heldout.heldout_set`'s fields; their
    `keypoints` are what the methods fit). Returns {"start": the regressor's first prediction,
    "eft": ..., "smplify": ..., "kept": ..., "skipped": ...}; per method the fits (rotmats, betas,
    camera, iterations, converged), `evaluate_fits`'s scores against the truth, and the quality
    `signals`. A human either method skips (every keypoint hidden, say) is left out of every
    array: "kept" are the indices of the others in `humans`, "skipped" {index: reason}."""
    images = normalize_image(humans["image"])
    keypoints = np.asarray(humans["keypoints"], np.float32)
    apply = predictor(regressor, variables)
    first = [jax.device_get(apply(images[i : i + 32])) for i in range(0, len(images), 32)]
    start = {k: np.concatenate([getattr(f, k) for f in first]) for k in ("rotmats", "betas")}
    exemplars = [Exemplar(i, images[i], keypoints[i]) for i in range(len(images))]

    fitter = MultiStartEft(regressor, variables, model, eft_config, crop_size=crop_size)
    progress = Progress(len(exemplars), label="EFT fits", interval=60.0)
    eft = {}
    for result in fitter.fit_stream(exemplars):
        eft[result.id] = result
        progress.update()
    progress.close()

    def predict(batch):
        out = apply(batch)
        return out.rotmats, out.betas, out.camera

    smplify = Smplify(model, smplify_config)
    smplified = smplify_stream(exemplars, smplify, predict=predict, crop_size=crop_size)
    runs = {
        "eft": (eft, int(eft_config.max_iters)),
        "smplify": (
            {r.id: r for r in smplified},
            int(smplify_config.camera_iters) + int(smplify_config.body_iters),
        ),
    }
    skipped = {
        i: r.stop_reason for results, _ in runs.values() for i, r in results.items() if r.skipped
    }
    kept = np.array([i for i in range(len(images)) if i not in skipped], dtype=np.int64)
    start = {k: v[kept] for k, v in start.items()}
    signals_of = QualitySignals(model)
    fits = {"start": start, "kept": kept, "skipped": dict(sorted(skipped.items()))}
    for method, (results, max_iters) in runs.items():
        ordered = [results[i] for i in kept]
        per = {
            "rotmats": np.stack([r.rotmats for r in ordered]),
            "betas": np.stack([r.betas for r in ordered]),
            "camera": np.stack([r.camera for r in ordered]),
            "iterations": np.array([r.iterations for r in ordered]),
            "converged": np.array([r.stop_reason == CONVERGED for r in ordered]),
        }
        per.update(
            evaluate_fits(
                model,
                per["rotmats"],
                per["betas"],
                per["camera"],
                humans["keypoints"][kept],
                humans["joints3d_spin49"][kept],
                humans["vertices"][kept],
            )
        )
        per["signals"] = signals_of(
            per["rotmats"],
            per["betas"],
            per["camera"],
            keypoints[kept],
            iterations=per["iterations"],
            max_iters=max_iters,
            converged=per["converged"],
            start_rotmats=start["rotmats"],
            start_betas=start["betas"],
        )
        fits[method] = per
    return fits


def bad_fits(per: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N,) bool: which fits are bad, from `eval.evaluation.evaluate_fits`'s scores."""
    return (
        (np.asarray(per["pa_mpjpe_mm"]) > BAD_PA_MPJPE_MM)
        | (np.asarray(per["facing_error_deg"]) > BAD_FACING_DEG)
        | (np.asarray(per["lr_swaps"]) > 0)
    )


def fit_quality_model(
    signals: Mapping[str, np.ndarray],
    bad: np.ndarray,
    names=tuple(FEATURES),
    l2: float = L2_PENALTY,
    threshold: float = 0.5,
) -> QualityModel:
    """The logistic regression of P(good) on the standardised transformed `signals`."""
    return fit_logistic(features(signals, names), bad, names, l2, threshold)


def fit_logistic(
    x: np.ndarray, bad: np.ndarray, names, l2: float = L2_PENALTY, threshold: float = 0.5
) -> QualityModel:
    """`fit_quality_model` on (N, F) transformed signals already computed, one column per name
    of `names` (NaN where missing)."""
    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    z = np.where(np.isfinite(x), (x - mean) / std, 0.0)
    design = np.concatenate([np.ones((len(z), 1)), z], axis=1)
    good = (~np.asarray(bad, bool)).astype(np.float64)
    theta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ theta)))
        gradient = design.T @ (good - p) - penalty * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        theta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return QualityModel(tuple(names), mean, std, theta[1:], float(theta[0]), threshold)


def write_calibration(path: str | Path, models: Mapping[str, QualityModel], **about) -> Path:
    """The calibration file `fitting.quality.read_calibration` reads: one model per method and
    `about` (what it was fitted on, the command)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    item = {
        "version": CALIBRATION_VERSION,
        **about,
        "methods": {m: model.to_json() for m, model in models.items()},
    }
    path.write_text(json.dumps(item, indent=1) + "\n")
    return path


def auroc(score: np.ndarray, bad: np.ndarray) -> float:
    """The probability that a random bad fit scores lower than a random good one (ties: half)."""
    score, bad = np.asarray(score, np.float64), np.asarray(bad, bool)
    if bad.all() or not bad.any():
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    for value in np.unique(score):  # average ranks over ties
        tied = score == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    good_ranks = ranks[~bad].sum() - (~bad).sum() * ((~bad).sum() + 1) / 2
    return float(good_ranks / ((~bad).sum() * bad.sum()))


def auroc_intervals(
    scores: Mapping[str, np.ndarray], bad: np.ndarray, draws: int = 2000, seed: int = 0
) -> dict:
    """Bootstrap 95 % intervals of `auroc` for each of `scores` (name: higher = better) and of
    the difference of the first two, all over the same resamples of the fits. Returns
    {name: (low, high)} and, with two or more scores, {"difference": (low, high)}."""
    bad = np.asarray(bad, bool)
    if bad.all() or not bad.any():
        return {name: (float("nan"), float("nan")) for name in scores}
    counts = (
        np.random.default_rng(seed)
        .multinomial(len(bad), np.full(len(bad), 1.0 / len(bad)), size=draws)
        .astype(np.float64)
    )
    weight_bad, weight_good = counts[:, bad], counts[:, ~bad]
    pairs = weight_bad.sum(1) * weight_good.sum(1)
    values = {}
    for name, score in scores.items():
        score = np.asarray(score, np.float64)
        below = score[bad][:, None] < score[~bad][None, :]
        tied = score[bad][:, None] == score[~bad][None, :]
        wins = below + 0.5 * tied
        with np.errstate(invalid="ignore", divide="ignore"):
            values[name] = ((weight_bad @ wins) * weight_good).sum(1) / pairs
    names = list(scores)
    if len(names) >= 2:
        values["difference"] = values[names[0]] - values[names[1]]
    return {
        name: tuple(float(q) for q in np.nanpercentile(v, [2.5, 97.5]))
        for name, v in values.items()
    }


def kept_curve(score: np.ndarray, per: Mapping[str, np.ndarray], fractions=KEPT_FRACTIONS):
    """Rows (kept fraction, mean PA-MPJPE of the kept fits, % of them facing > 90 degrees away)
    when the best-scored fraction is kept (higher score = better)."""
    order = np.argsort(-np.asarray(score, np.float64), kind="mergesort")
    rows = []
    for fraction in fractions:
        kept = order[: max(1, int(round(fraction * len(order))))]
        rows.append(
            (
                fraction,
                float(np.mean(per["pa_mpjpe_mm"][kept])),
                float(100.0 * np.mean(per["facing_error_deg"][kept] > BAD_FACING_DEG)),
            )
        )
    return rows


def ranking_figures(score: np.ndarray, bad: np.ndarray, per: Mapping, threshold: float) -> dict:
    """How well `score` (higher = better) finds the bad fits: AUROC, the precision and recall of
    flagging fits under `threshold`, and the kept-80 % figures against keeping everything."""
    flagged = np.asarray(score) < threshold
    curve = {fraction: (pa, facing) for fraction, pa, facing in kept_curve(score, per)}
    return {
        "auroc": auroc(score, bad),
        "precision": float(np.mean(bad[flagged])) if flagged.any() else float("nan"),
        "recall": float(np.mean(flagged[bad])) if bad.any() else float("nan"),
        "flagged_pct": float(100.0 * flagged.mean()),
        "bad_pct": float(100.0 * np.mean(bad)),
        "pa_all_mm": curve[1.0][0],
        "pa_kept80_mm": curve[0.8][0],
        "facing_all_pct": curve[1.0][1],
        "facing_kept80_pct": curve[0.8][1],
    }
