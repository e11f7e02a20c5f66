"""The EFT loss for one exemplar, term by term, as EFT's public code computes it.

Sources (facebookresearch/eft at c8400a6): `EFTFitter.run_eft_step` in eft/train/eftFitter.py
(lines 271-341), `Trainer.keypoint_loss` in eft/train/trainer.py (117-126), the defaults in
eft/utils/train_options.py (46-50, 140-142). With predicted crop keypoints p (49, 2), target
keypoints k (49, 2) and confidences c (49,):

    keypoint_loss = mean over 49 x 2 of  w * (p - k)^2,   w = c * [openpose 0.0 | ground truth 1.0]
               with the hip slots (LSP hips, MPII pelvis) and both ankles at weight 0
    leg      = sum over lower legs of  c_knee c_ankle (1 - <unit(k_ankle - k_knee), unit(p_ankle - p_knee)>)
               where the target leg is longer than 0.0089 (1 px of the crop), else 0
    total    = 60 * (5 * keypoint + 0.001 * mean(betas^2) + exp(-10 s)^2 + 0.005 * leg)

The ankles still set the leg directions after they leave the keypoint term (EFT zeroes their
confidence only after the leg term has read it). Slots the body model cannot produce
(`BodyModel.spin49_available` False) get weight 0 as well. EFT stops an exemplar when
`keypoint` (not `total`) falls under its threshold.
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from eft_jax.body.joint_sets import (
    LSP14_IN_SPIN49,
    NUM_OPENPOSE_KEYPOINTS,
    NUM_SPIN49,
    SPIN49_NAMES,
)
from eft_jax.geometry import CROP_SIZE

# SPIN-49 positions of LSP-14's legs (LSP's first six keypoints).
RIGHT_ANKLE, RIGHT_KNEE, RIGHT_HIP, LEFT_HIP, LEFT_KNEE, LEFT_ANKLE = (
    int(i) for i in LSP14_IN_SPIN49[:6]
)
PELVIS_MPII = SPIN49_NAMES.index("Pelvis (MPII)")
HIP_KEYPOINTS = (RIGHT_HIP, LEFT_HIP, PELVIS_MPII)  # eftFitter.py:279-281
ANKLE_KEYPOINTS = (LEFT_ANKLE, RIGHT_ANKLE)  # "Disable Foots", eftFitter.py:311-312
LOWER_LEGS = ((LEFT_ANKLE, LEFT_KNEE), (RIGHT_ANKLE, RIGHT_KNEE))  # eftFitter.py:284, 296


def openpose_gt_weights(openpose_weight: float, gt_weight: float, available) -> np.ndarray:
    """(49,) float32: `openpose_weight` on the 25 OpenPose keypoints, `gt_weight` on the 24
    ground-truth keypoints, 0 where the body model cannot produce the joint (SPIN's and EFT's
    --openpose_train_weight / --gt_train_weight)."""
    weights = np.where(np.arange(NUM_SPIN49) < NUM_OPENPOSE_KEYPOINTS, openpose_weight, gt_weight)
    return (weights * np.asarray(available, bool)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """Weights and switches of the EFT loss; defaults are EFT's (see configs/eft_default.py)."""

    keypoint_weight: float = 5.0
    openpose_weight: float = 0.0
    gt_weight: float = 1.0
    betas_weight: float = 0.001
    camera_scale_weight: float = 1.0
    camera_scale_rate: float = 10.0
    leg_orientation_weight: float = 0.005
    leg_min_length: float = 0.0089
    overall_scale: float = 60.0
    use_hips: bool = False
    use_ankles: bool = False

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> LossSettings:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(config.keys()) - fields
        if unknown:
            raise ValueError(f"unknown loss settings {sorted(unknown)}; known: {sorted(fields)}")
        return cls(**{k: config[k] for k in config.keys()})

    def keypoint_weights(self, available: np.ndarray) -> np.ndarray:
        """(49,) per-slot multipliers of the confidences in the keypoint term."""
        weights = openpose_gt_weights(self.openpose_weight, self.gt_weight, available)
        if not self.use_hips:
            weights[list(HIP_KEYPOINTS)] = 0.0
        if not self.use_ankles:
            weights[list(ANKLE_KEYPOINTS)] = 0.0
        return weights


@flax.struct.dataclass
class LossTerms:
    total: jax.Array
    keypoint_loss: jax.Array  # EFT's `loss_keypoints`, the stopping criterion
    betas: jax.Array
    camera_scale: jax.Array
    leg_orientation: jax.Array
    keypoint_error_px: jax.Array  # weighted mean distance in pixels of the 224 crop (reporting)


def _unit(vector):
    squared = jnp.sum(vector**2, axis=-1, keepdims=True)
    # Double `where`: a zero vector gives a zero direction and a finite gradient.
    safe = jnp.where(squared > 0, squared, 1.0)
    return jnp.where(squared > 0, vector / jnp.sqrt(safe), 0.0), jnp.sqrt(safe[..., 0]) * (
        squared[..., 0] > 0
    )


def leg_orientation(predicted, target, confidence, min_length: float):
    """EFT's lower-leg orientation term (eftFitter.py:283-308)."""
    total = 0.0
    for ankle, knee in LOWER_LEGS:
        target_dir, target_length = _unit(target[ankle] - target[knee])
        predicted_dir, _ = _unit(predicted[ankle] - predicted[knee])
        validity = confidence[ankle] * confidence[knee]
        term = validity * (1.0 - jnp.dot(target_dir, predicted_dir))
        total = total + jnp.where(target_length > min_length, term, 0.0)
    return total


def eft_loss(
    predicted: jax.Array,
    keypoints: jax.Array,
    betas: jax.Array,
    camera: jax.Array,
    keypoint_weights: jax.Array,
    settings: LossSettings,
) -> LossTerms:
    """predicted: (49, 2) projected model keypoints; keypoints: (49, 3) target x, y (crop
    coordinates in [-1, 1]) and confidence; betas (10,); camera (3,) [s, tx, ty]."""
    target, confidence = keypoints[:, :2], keypoints[:, 2]
    weights = confidence * keypoint_weights
    keypoint_loss = jnp.mean(weights[:, None] * (predicted - target) ** 2)
    betas_term = jnp.mean(betas**2)
    camera_scale = jnp.exp(-camera[0] * settings.camera_scale_rate) ** 2
    leg = leg_orientation(predicted, target, confidence, settings.leg_min_length)
    total = settings.overall_scale * (
        settings.keypoint_weight * keypoint_loss
        + settings.betas_weight * betas_term
        + settings.camera_scale_weight * camera_scale
        + settings.leg_orientation_weight * leg
    )
    distance = jnp.linalg.norm(jax.lax.stop_gradient(predicted - target), axis=-1)
    error_px = jnp.sum(weights * distance) / jnp.maximum(jnp.sum(weights), 1e-12) * (CROP_SIZE / 2)
    return LossTerms(total, keypoint_loss, betas_term, camera_scale, leg, error_px)
