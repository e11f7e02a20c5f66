"""What EFT fits: one person crop and its SPIN-49 keypoints, and the checks that decide whether
it can be fitted at all (a bad exemplar is skipped with its reason, never fitted into NaNs)."""

from __future__ import annotations

import dataclasses
from typing import Hashable

import numpy as np

from eft_jax.formats.exemplar_npz import exemplar_problem


@dataclasses.dataclass
class Exemplar:
    """id: any hashable key (written with the result; used to resume).
    image: (S, S, 3) float32 crop, RGB, ImageNet-normalised (docs/ARCHITECTURE.md §4).
    keypoints: (49, 3) SPIN-49 slots: x, y in [-1, 1] of the crop, confidence (0 = missing)."""

    id: Hashable
    image: np.ndarray
    keypoints: np.ndarray


def checked_inputs(exemplar: Exemplar, image_size: int, slot_weights: np.ndarray):
    """(image, keypoints) as float32 ready for fitting, or (None, reason) when the exemplar
    cannot be fitted. On top of the data checks every reader applies (`exemplar_problem`), the
    engine needs its crop size, a non-blank image and a keypoint that EFT's slot weights use.
    Coordinates of zero-confidence slots are set to 0, so a missing joint marked with NaN
    coordinates is harmless."""
    image = np.asarray(exemplar.image, np.float32)
    keypoints = np.array(exemplar.keypoints, np.float32)
    if image.shape != (image_size, image_size, 3):
        return None, f"image has shape {image.shape}, expected ({image_size}, {image_size}, 3)"
    if keypoints.shape != (49, 3):
        return None, f"keypoints have shape {keypoints.shape}, expected (49, 3) SPIN-49 slots"
    if image.max() == image.min():
        return None, "blank image (every pixel has the same value)"
    confidence = keypoints[:, 2]
    if not (confidence * slot_weights > 0).any():
        return None, "no keypoint has weight in the loss (all confidences zero where EFT's slot weights are not)"
    problem = exemplar_problem(image, keypoints)
    if problem is not None:
        return None, problem
    keypoints[confidence == 0, :2] = 0.0
    return (image, keypoints), None
