"""`eft-jax calibrate`: refit the fit-quality score (`fitting.quality`) for a regressor.

    config = load_config(default_config_path("calibrate"), ["checkpoint='checkpoints/mine'"])
    run_calibrate(config)                                          # configs/calibrate.py

Fits `count` validation synthetic humans of each style (`eval.heldout.heldout_set`, seeds from
`VALIDATION_SEED_OFFSET`), once per keypoint setting of `noises` (their own keypoints, and
detector-like noisy ones: `eval.keypoint_noise`), with EFT (the regressor's recipe, the default crop camera, and
`eft_overrides`) and SMPLify from the regressor (with `smplify_overrides`), scores them against the truth, and fits one logistic regression per method
(`eval.quality_calibration`); writes the calibration JSON that `eft-jax fit / smplify
--quality-calibration` reads. Returns the written file's summary (in-sample AUROC per method).
"""

from __future__ import annotations

import time
from pathlib import Path

import ml_collections
import numpy as np

from eft_jax import body, nets
from eft_jax.config import ConfigError, default_config_path, load_config
from eft_jax.datasets.synthetic_tfds import VALIDATION_SEED_OFFSET
from eft_jax.eval.heldout import heldout_set
from eft_jax.eval.keypoint_noise import KEYPOINT_NOISES, with_noise
from eft_jax.eval.quality_calibration import (
    METHODS,
    auroc,
    bad_fits,
    calibration_fits,
    fit_quality_model,
    write_calibration,
)
from eft_jax.fitting.recipe import resolve_config
from eft_jax.progress import note


def run_calibrate(config: ml_collections.ConfigDict) -> dict:
    unknown = sorted(set(config.noises) - set(KEYPOINT_NOISES))
    if unknown or not config.noises:
        raise ConfigError(
            f"calibrate: noises must be some of {KEYPOINT_NOISES}; got {config.noises}"
        )
    start = time.perf_counter()
    model = body.load(config.body_model)
    loaded = nets.load_regressor(config.checkpoint, model)
    eft_config = resolve_config(
        default_config_path("eft_default"), list(config.eft_overrides), loaded.record
    )
    smplify_config = load_config(default_config_path("smplify"), list(config.smplify_overrides))
    seeds = range(VALIDATION_SEED_OFFSET, VALIDATION_SEED_OFFSET + int(config.count))
    parts = []
    for style in config.styles:
        note(f"eft-jax calibrate: {len(seeds)} validation humans, {style} style")
        humans = heldout_set(seeds, crop_size=loaded.input_size, style=style)
        for noise in config.noises:
            if noise != "none":
                note(f"eft-jax calibrate: the same humans, {noise} keypoint noise")
            noisy = {**humans, "keypoints": with_noise(humans["keypoints"], humans["seed"], noise)}
            fits = calibration_fits(
                loaded.regressor,
                loaded.variables,
                model,
                eft_config,
                smplify_config,
                noisy,
                loaded.input_size,
            )
            for index, reason in fits["skipped"].items():
                note(f"eft-jax calibrate: left out human {humans['seed'][index]}: {reason}")
            parts.append(fits)
    models, summary = {}, {}
    for method in METHODS:
        signals = {
            name: np.concatenate([p[method]["signals"][name] for p in parts])
            for name in parts[0][method]["signals"]
        }
        bad = np.concatenate([bad_fits(p[method]) for p in parts])
        models[method] = fit_quality_model(signals, bad)
        summary[method] = {
            "fits": int(len(bad)),
            "bad_pct": float(100.0 * bad.mean()),
            "auroc_in_sample": auroc(models[method].score(signals), bad),
        }
    path = write_calibration(
        config.output,
        models,
        fitted_on=f"{len(seeds)} validation synthetic humans (seeds {VALIDATION_SEED_OFFSET:,}..) "
        f"of each style {list(config.styles)}, keypoints {list(config.noises)}; regressor {loaded.source}, body {model.source}",
        fits=summary,
    )
    for method, figures in summary.items():
        print(
            f"eft-jax calibrate: {method}: {figures['fits']} fits, {figures['bad_pct']:.1f} % bad, "
            f"in-sample AUROC {figures['auroc_in_sample']:.3f}"
        )
    print(f"eft-jax calibrate: wrote {Path(path)} ({time.perf_counter() - start:.0f} s)")
    return summary
