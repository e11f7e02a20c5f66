"""The fits the quality study scores: EFT (the regressor's tuned recipe, crop camera: today's
defaults) and SMPLify from the regressor, on synthetic humans of one split, style and keypoint
setting, with the regressor's first prediction and the truth's scores (`eft_jax.eval`).

    python -m experiments.quality.fits --split validation --style basic --count 200
    python -m experiments.quality.fits --split heldout --style lifelike --count 200 --noise detector

The fits are `eft_jax.eval.quality_calibration.calibration_fits`, what `eft-jax calibrate` runs.
Each setting is cached as eft_jax_output/quality_fits/<split>_<style>_<noise>_<count>.npz
(git-ignored), grown in place: a larger --count fits only the new humans. A human a method skips
(every keypoint hidden) is left out and counted (`attempted` is how many were fitted). Keypoint
noise "detector": `eft_jax.eval.keypoint_noise.detector_noise`, seeded by the human's seed.
`--checkpoint DIR` fits with another regressor (its own EFT recipe) instead of the bundled one,
cached under eft_jax_output/quality_fits/<DIR's name>/ (`study.py --checkpoint DIR` scores them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from eft_jax import body, nets
from eft_jax.config import default_config_path, load_config
from eft_jax.eval.keypoint_noise import KEYPOINT_NOISES, with_noise
from eft_jax.eval.quality_calibration import METHODS, calibration_fits
from eft_jax.fitting.recipe import resolve_config
from eft_jax.fitting.run import enable_compilation_cache
from experiments.fitting_runs import SPLITS, evaluation_set

CACHE = Path("eft_jax_output/quality_fits")


def method_configs(restored) -> tuple:
    """The configs of EFT (the regressor's tuned recipe) and SMPLify, today's defaults."""
    eft_config = resolve_config(default_config_path("eft_default"), [], restored.record)
    return eft_config, load_config(default_config_path("smplify"))


def most_iterations(eft_config, smplify_config) -> dict[str, int]:
    """Each method's most iterations (`iterations_fraction`'s denominator)."""
    return {
        "eft": int(eft_config.max_iters),
        "smplify": int(smplify_config.camera_iters) + int(smplify_config.body_iters),
    }


def regressor_setup(checkpoint: str | None) -> tuple:
    """(the loaded regressor, the body model, the crop size): the one in `checkpoint`, or the
    bundled one (None)."""
    model = body.load()
    loaded = nets.load_regressor(checkpoint, model)
    return loaded, model, loaded.input_size


def cache_dir(checkpoint: str | None) -> Path:
    """Where a regressor's fits are cached: CACHE for the bundled one, CACHE/<the checkpoint
    folder's name>/ for another."""
    return CACHE if checkpoint is None else CACHE / Path(checkpoint).name


def fit_setting(
    split: str, style: str, noise: str, count: int, checkpoint: str | None = None
) -> Path:
    """Fit (or grow) one setting's cache with the bundled regressor or `checkpoint`'s; returns
    its path."""
    enable_compilation_cache(CACHE / "compilation_cache")
    restored, model, size = regressor_setup(checkpoint)
    cache = cache_dir(checkpoint)
    cache.mkdir(parents=True, exist_ok=True)
    stem = f"{split}_{style}_{noise}"
    done: dict = {}
    for cached in sorted(cache.glob(f"{stem}_*.npz")):
        with np.load(cached) as data:
            if len(data["seed"]) > len(done.get("seed", ())):
                done = {k: data[k] for k in data.files}
    have = int(done["attempted"]) if "attempted" in done else len(done.get("seed", ()))
    if have >= count:
        return cache / f"{stem}_{have}.npz"
    data = evaluation_set(split, count, size, style)
    new = slice(have, count)
    keypoints = data["keypoints"][new]
    keypoints = with_noise(keypoints, data["seed"][new], noise)
    humans = {k: v[new] for k, v in data.items()}
    humans["keypoints"] = keypoints
    eft_config, smplify_config = method_configs(restored)
    fits = calibration_fits(
        restored.regressor, restored.variables, model, eft_config, smplify_config, humans, size
    )
    for index, reason in fits["skipped"].items():
        print(f"skipped seed {humans['seed'][index]}: {reason}")
    kept = fits["kept"]
    max_iters = most_iterations(eft_config, smplify_config)
    part = {
        "seed": humans["seed"][kept],
        "clip": humans["clip"][kept],
        "keypoints": keypoints[kept],
        "true_keypoints": data["keypoints"][new][kept],
        "start_rotmats": fits["start"]["rotmats"],
        "start_betas": fits["start"]["betas"],
    }
    for method in METHODS:
        per = {k: v for k, v in fits[method].items() if k != "signals"}
        per["max_iters"] = np.full(len(kept), max_iters[method])
        part.update({f"{method}/{k}": v for k, v in per.items()})
    merged = {k: np.concatenate([done[k], v]) if done else v for k, v in part.items()}
    merged["attempted"] = np.int64(count)
    path = cache / f"{stem}_{count}.npz"
    np.savez_compressed(path, **merged)
    for cached in cache.glob(f"{stem}_*.npz"):
        if cached != path:
            cached.unlink()
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=sorted(SPLITS), required=True)
    parser.add_argument("--style", choices=("basic", "lifelike"), required=True)
    parser.add_argument("--noise", choices=KEYPOINT_NOISES, default="none")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument(
        "--checkpoint", help="another regressor's checkpoint folder (default: the bundled one)"
    )
    args = parser.parse_args(argv)
    print(fit_setting(args.split, args.style, args.noise, args.count, args.checkpoint))
    return 0


if __name__ == "__main__":
    sys.exit(main())
