"""Detector-like noise on a synthetic human's keypoints, for calibrating and measuring the quality
score on keypoints as a detector gives them (`eft-jax calibrate`, experiments/quality/).

    noisy = detector_noise(keypoints, seed)        # (49, 3) crop keypoints, seeded per human

What a detector does to keypoints, simply: 2 px (of a 224 px crop) of Gaussian jitter on every
visible keypoint, each visible keypoint dropped with probability 0.1, and with probability 0.1 one
left/right limb pair (elbow and wrist, or knee and ankle) exchanged. The same seed gives the same
noise.
"""

from __future__ import annotations

import numpy as np

from eft_jax.body.joint_sets import SPIN49_NAMES

__all__ = ["KEYPOINT_NOISES", "detector_noise", "with_noise"]

KEYPOINT_NOISES = ("none", "detector")
JITTER_PX = 2.0
DROP_PROBABILITY = 0.1
SWAP_PROBABILITY = 0.1
# Left/right limb pairs the noise may exchange: SPIN-49 names of the right side.
SWAPPABLE = (("Elbow", "Wrist"), ("Knee", "Ankle"))


def _slots(part: str) -> list[tuple[int, int]]:
    """(right, left) SPIN-49 slots of a joint, OpenPose's and the ground-truth set's."""
    pairs = []
    for right, left in ((f"OP R{part}", f"OP L{part}"), (f"Right {part}", f"Left {part}")):
        pairs.append((SPIN49_NAMES.index(right), SPIN49_NAMES.index(left)))
    return pairs


def detector_noise(keypoints: np.ndarray, seed: int) -> np.ndarray:
    """(49, 3) crop keypoints (x, y in [-1, 1], confidence) as a detector might give them (module
    docstring), seeded by `seed`."""
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


def with_noise(keypoints: np.ndarray, seeds, noise: str) -> np.ndarray:
    """(N, 49, 3) keypoints of the humans `seeds` under `noise` ("none": unchanged)."""
    if noise not in KEYPOINT_NOISES:
        raise ValueError(f"keypoint noise must be one of {KEYPOINT_NOISES}; got {noise!r}")
    if noise == "none":
        return keypoints
    return np.stack([detector_noise(k, int(s)) for k, s in zip(keypoints, seeds)])
