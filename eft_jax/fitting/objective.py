"""The function EFT differentiates for one exemplar: regressor -> body model -> projection -> EFT
loss, as a pure function of the trainable parameters.

The projection is the crop camera's (weak perspective, EFT's) unless the exemplar comes with a
`FullFrame` (config `camera=full_frame`): then the regressor's crop camera becomes a translation
in the full image's camera frame and the joints are projected into the whole image with the
image's intrinsics, and compared with the keypoints in the box's normalised coordinates
(`geometry.full_frame_projection`), so every loss weight keeps its meaning."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections

from eft_jax import body
from eft_jax.fitting.losses import LossSettings, LossTerms, eft_loss
from eft_jax.geometry import (
    FullFrame,
    crop_to_full_translation,
    full_frame_projection,
    rotmat_to_axis_angle,
    weak_perspective,
)
from eft_jax.nets import Regressor, merge, partition


@flax.struct.dataclass
class Prediction:
    """One exemplar's regressor output and where its keypoints land in the crop."""

    rotmats: jax.Array  # (24, 3, 3)
    pose_axis_angle: jax.Array  # (24, 3)
    betas: jax.Array  # (10,)
    camera: jax.Array  # (3,)
    keypoints_2d: jax.Array  # (49, 2)
    # (3,) the body's translation in the full image's camera frame; None with the crop camera
    translation: jax.Array | None = None


@flax.struct.dataclass
class Frozen:
    """Everything an exemplar's fit reads but never changes (shared by all slots)."""

    params: dict  # the regressor parameters outside the trainable subset
    batch_stats: dict
    body_model: (
        body.BodyModel | body.JointsModel
    )  # the joints-only view unless config.joints_only is False
    keypoint_weights: jax.Array  # (49,) LossSettings.keypoint_weights of this body model


def split_for_fitting(
    variables: dict, body_model: body.BodyModel, config: ml_collections.ConfigDict
):
    """(base trainable params, Frozen, LossSettings) of EFT with `config` on `body_model`.

    BatchNorm scale and bias stay frozen, as EFT keeps them (eftFitter.py:191-206). The loss
    reads SPIN-49 joints only, so the body model becomes its joints-only view
    (`body.joints_model`: the bundled model skins 920 of its 13,718 vertices) unless
    `config.joints_only` is False."""
    settings = LossSettings.from_config(config.loss)
    base, frozen_params = partition(variables["params"], config.trainable, include_batchnorm=False)
    keypoint_weights = jnp.asarray(settings.keypoint_weights(body_model.spin49_available))
    if config.get("joints_only", True):
        body_model = body.joints_model(body_model, include_h36m=False)
    return (
        base,
        Frozen(frozen_params, variables["batch_stats"], body_model, keypoint_weights),
        settings,
    )


def exemplar_loss(
    trainable,
    frozen: Frozen,
    image,
    keypoints,
    *,
    regressor: Regressor,
    settings: LossSettings,
    start: str = "image",
    frame: FullFrame | None = None,
):
    """(total loss, (LossTerms, Prediction)) for one (H, W, 3) image and (49, 3) keypoints,
    projected with the crop camera, or with the full-frame camera of `frame` when given.

    With `start` (nets.resnet.ENTRY_POINTS), `image` is the activation entering that point of
    the regressor, as `Regressor.prefix` computes it (frozen-prefix caching)."""
    variables = {"params": merge(trainable, frozen.params), "batch_stats": frozen.batch_stats}
    out = regressor.apply(variables, image[None], train=False, start=start)
    rotmats, betas, camera = out.rotmats[0], out.betas[0], out.camera[0]
    pose = body.forward_joints if isinstance(frozen.body_model, body.JointsModel) else body.forward
    joints = pose(frozen.body_model, rotmats, betas).spin49
    if frame is None:
        projected, translation = weak_perspective(joints, camera), None
    else:
        projected = full_frame_projection(joints, camera, frame)
        translation = crop_to_full_translation(camera, frame)
    terms: LossTerms = eft_loss(
        projected, keypoints, betas, camera, frozen.keypoint_weights, settings
    )
    prediction = Prediction(
        rotmats, rotmat_to_axis_angle(rotmats), betas, camera, projected, translation
    )
    return terms.total, (terms, prediction)
