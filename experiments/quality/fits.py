"""The fits the quality study scores: EFT (the regressor's tuned recipe, crop camera: today's
defaults) and SMPLify from the regressor, on synthetic humans of one split, style and keypoint
setting, with the regressor's first prediction and the truth's scores (`eft_jax.eval`).

    python -m experiments.quality.fits --split validation --style basic --count 200
    python -m experiments.quality.fits --split heldout --style lifelike --count 200 --noise detector

The fits are `eft_jax.eval.quality_calibration.calibration_fits`, what `eft-jax calibrate` runs.
Each setting is cached as eft_jax_output/quality_fits/<split>_<style>_<noise>_<count>.npz
(git-ignored), grown in place: a larger --count fits only the new humans. Keypoint noise
"detector" (`detector_noise`): 2 px (of a 224 px crop) of Gaussian jitter on every visible
keypoint, each visible keypoint dropped with probability 0.1, and with probability 0.1 one
left/right limb pair (elbow and wrist, or knee and ankle) exchanged, seeded by the human's seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from eft_jax.body.joint_sets import SPIN49_NAMES
from eft_jax.config import default_config_path, load_config
from eft_jax.eval.quality_calibration import METHODS, calibration_fits
from eft_jax.fitting.recipe import resolve_config
from eft_jax.fitting.run import enable_compilation_cache
from experiments.fitting_runs import SPLITS, bundled_setup, evaluation_set

CACHE = Path("eft_jax_output/quality_fits")
NOISES = ("none", "detector")
JITTER_PX = 2.0
DROP_PROBABILITY = 0.1
SWAP_PROBABILITY = 0.1
# Left/right limb pairs the detector noise may exchange: SPIN-49 names of the right side.
SWAPPABLE = (("Elbow", "Wrist"), ("Knee", "Ankle"))


def _slots(part: str) -> list[tuple[int, int]]:
    """(right, left) SPIN-49 slots of a joint, OpenPose's and the ground-truth set's."""
    pairs = []
    for right, left in ((f"OP R{part}", f"OP L{part}"), (f"Right {part}", f"Left {part}")):
        pairs.append((SPIN49_NAMES.index(right), SPIN49_NAMES.index(left)))
    return pairs


def detector_noise(keypoints: np.ndarray, seed: int) -> np.ndarray:
    """(49, 3) crop keypoints as a detector might give them (module docstring), seeded."""
    rng = np.random.default_rng([seed, 7])
    noisy = np.array(keypoints, np.float32)
    visible = noisy[:, 2] > 0
    noisy[visible, :2] += rng.normal(0.0, 2.0 * JITTER_PX / 224.0, (visible.sum(), 2))
    noisy[visible & (rng.random(len(noisy)) < DROP_PROBABILITY)] = 0.0
    if rng.random() < SWAP_PROBABILITY:
        for part in SWAPPABLE[rng.integers(len(SWAPPABLE))]:
            for right, left in _slots(part):
                noisy[[right, left]] = noisy[[left, right]]
    return noisy


def fit_setting(split: str, style: str, noise: str, count: int) -> Path:
    """Fit (or grow) one setting's cache; returns its path."""
    enable_compilation_cache(CACHE / "compilation_cache")
    restored, model, size = bundled_setup()
    CACHE.mkdir(parents=True, exist_ok=True)
    stem = f"{split}_{style}_{noise}"
    done: dict = {}
    for cached in sorted(CACHE.glob(f"{stem}_*.npz")):
        with np.load(cached) as data:
            if len(data["seed"]) > len(done.get("seed", ())):
                done = {k: data[k] for k in data.files}
    have = len(done.get("seed", ()))
    if have >= count:
        return CACHE / f"{stem}_{have}.npz"
    data = evaluation_set(split, count, size, style)
    new = slice(have, count)
    keypoints = data["keypoints"][new]
    if noise == "detector":
        keypoints = np.stack(
            [detector_noise(k, int(s)) for k, s in zip(keypoints, data["seed"][new])]
        )
    humans = {k: v[new] for k, v in data.items()}
    humans["keypoints"] = keypoints
    eft_config = resolve_config(default_config_path("eft_default"), [], restored.record)
    smplify_config = load_config(default_config_path("smplify"))
    fits = calibration_fits(
        restored.regressor, restored.variables, model, eft_config, smplify_config, humans, size
    )
    max_iters = {
        "eft": int(eft_config.max_iters),
        "smplify": int(smplify_config.camera_iters) + int(smplify_config.body_iters),
    }
    part = {
        "seed": humans["seed"],
        "clip": humans["clip"],
        "keypoints": keypoints,
        "true_keypoints": data["keypoints"][new],
        "start_rotmats": fits["start"]["rotmats"],
        "start_betas": fits["start"]["betas"],
    }
    for method in METHODS:
        per = {k: v for k, v in fits[method].items() if k != "signals"}
        per["max_iters"] = np.full(len(keypoints), max_iters[method])
        part.update({f"{method}/{k}": v for k, v in per.items()})
    merged = {k: np.concatenate([done[k], v]) if done else v for k, v in part.items()}
    path = CACHE / f"{stem}_{count}.npz"
    np.savez_compressed(path, **merged)
    for cached in CACHE.glob(f"{stem}_*.npz"):
        if cached != path:
            cached.unlink()
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=sorted(SPLITS), required=True)
    parser.add_argument("--style", choices=("basic", "lifelike"), required=True)
    parser.add_argument("--noise", choices=NOISES, default="none")
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args(argv)
    print(fit_setting(args.split, args.style, args.noise, args.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
