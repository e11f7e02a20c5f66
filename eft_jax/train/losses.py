"""SPIN's training loss (nkolot/SPIN train/trainer.py, weights from utils/train_options.py),
with the camera in eft-jax's (EFT's) weak-perspective convention:

    60 * ( 5 * keypoints_2d + 5 * keypoints_3d + 1 * pose + 0.001 * betas + exp(-10 s)^2 )

- keypoints_2d: confidence-weighted squared error of the projected SPIN-49 keypoints, averaged
  over every (sample, keypoint, coordinate); the confidences are multiplied by 0 for the 25
  OpenPose keypoints and 1 for the 24 ground-truth keypoints (--openpose_train_weight,
  --gt_train_weight);
- keypoints_3d: squared error of the 24 ground-truth keypoints in 3D, both skeletons centred on the
  midpoint of their hips, weighted by each joint's confidence (SPIN's `keypoint_3d_loss`), over the
  samples with `has_pose_3d` only;
- pose: squared error of the 24 rotation matrices; betas: squared error of the shape; both over
  the samples with `has_smpl` only (SPIN's `smpl_losses`);
- the camera term keeps the weak-perspective scale positive.

Masked terms are means over the samples that have the target, as SPIN selects them
(`x[has_smpl == 1]`), and 0 when no sample of the batch has it. On a batch where every sample has
every target they equal the plain means over the batch.

One departure from SPIN, `loss.keypoints_train_betas` (False in configs/train_synthetic.py): the
keypoint terms are computed with the predicted betas but their gradient does not reach the betas,
which learn from the betas term only. SPIN lets the keypoint terms move the shape too; trained so
on synthetic humans, the network learned to shrink every body (the first shape component, the
stature, drifted to +2.5) because, while the pose is uncertain, a smaller skeleton has a smaller
expected squared 3D joint error - the betas hedged the pose instead of describing the body, and
their error rose from 1.0 (zero betas) to 2.5 over training (docs/ARCHITECTURE.md, "Training";
experiments/betas_defect/README.md).

Every weight is a field of the training config's `loss`.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from eft_jax import body
from eft_jax.body.joint_sets import NUM_OPENPOSE_KEYPOINTS
from eft_jax.eval.metrics import hip_centred
from eft_jax.fitting.losses import openpose_gt_weights
from eft_jax.geometry import weak_perspective
from eft_jax.nets.hmr import RegressorOutput


@flax.struct.dataclass
class TrainLossTerms:
    total: jax.Array
    keypoints_2d: jax.Array
    keypoints_3d: jax.Array
    pose: jax.Array
    betas: jax.Array
    camera: jax.Array
    # with the adversarial prior (train/adversarial.py), else None: the regressor's term (already
    # in `total`) and the discriminator's real and fake terms
    adversarial: jax.Array | None = None
    discriminator_real: jax.Array | None = None
    discriminator_fake: jax.Array | None = None


def keypoint_weights(config: ml_collections.ConfigDict, available) -> np.ndarray:
    """(49,) multipliers of the SPIN-49 keypoint confidences (the training config's `loss`)."""
    return openpose_gt_weights(config.openpose_weight, config.gt_weight, available)


def masked_mean(values, mask):
    """Mean of `values` (B, ...) over the samples whose `mask` (B,) is 1; 0 when there are none."""
    per_sample = values.reshape(values.shape[0], -1)
    count = jnp.sum(mask) * per_sample.shape[1]
    return jnp.sum(mask[:, None] * per_sample) / jnp.maximum(count, 1.0)


def spin_loss(
    out: RegressorOutput, batch: dict, model: body.BodyModel, weights, config
) -> TrainLossTerms:
    """The loss of a batch of training samples (`train/sources.py`): keypoints (B, 49, 3),
    joints3d_spin49 (B, 49, 3), joints3d_confidence (B, 49), rotmats (B, 24, 3, 3), betas (B, 10),
    has_smpl (B,), has_pose_3d (B,); `weights` is `keypoint_weights(...)`."""
    betas_for_keypoints = (
        out.betas if config.keypoints_train_betas else jax.lax.stop_gradient(out.betas)
    )
    joints = body.forward(model, out.rotmats, betas_for_keypoints).spin49
    projected = weak_perspective(joints, out.camera)
    confidence = batch["keypoints"][..., 2] * weights
    keypoints_2d = jnp.mean(confidence[..., None] * (projected - batch["keypoints"][..., :2]) ** 2)

    available = jnp.asarray(model.spin49_available, jnp.float32)[NUM_OPENPOSE_KEYPOINTS:]
    confidence_3d = available * batch["joints3d_confidence"][:, NUM_OPENPOSE_KEYPOINTS:]
    error_3d = (hip_centred(joints) - hip_centred(batch["joints3d_spin49"]))[
        ..., NUM_OPENPOSE_KEYPOINTS:, :
    ]
    keypoints_3d = masked_mean(confidence_3d[..., None] * error_3d**2, batch["has_pose_3d"])

    pose = masked_mean((out.rotmats - batch["rotmats"]) ** 2, batch["has_smpl"])
    betas = masked_mean((out.betas - batch["betas"]) ** 2, batch["has_smpl"])
    camera = jnp.mean(jnp.exp(-config.camera_scale_rate * out.camera[:, 0]) ** 2)
    total = config.overall_scale * (
        config.keypoint_weight * (keypoints_2d + keypoints_3d)
        + config.pose_weight * pose
        + config.betas_weight * betas
        + config.camera_scale_weight * camera
    )
    return TrainLossTerms(total, keypoints_2d, keypoints_3d, pose, betas, camera)
