"""Exemplar Fine-Tuning: fit the body model to images with 2D keypoints by fine-tuning a private
copy of the regressor per exemplar, B exemplars at a time.

    from eft_jax import fitting
    engine = fitting.EftEngine(regressor, variables, body_model, config)   # configs/eft_default.py
    for result in fitting.fit_stream(exemplars, engine):                   # fitting.Exemplar(id, image, keypoints)
        result.rotmats, result.betas, result.camera, result.stop_reason, ...

SMPLify (SPIN's port), the optimisation baseline, gives the same FitResults:

    smplify = fitting.Smplify(body_model, config)                          # configs/smplify.py
    for result in fitting.smplify_stream(exemplars, smplify): ...          # from the mean pose
"""

from eft_jax.fitting.engine import EftEngine, Slots
from eft_jax.fitting.exemplar import Exemplar, checked_inputs
from eft_jax.fitting.losses import LossSettings, LossTerms, eft_loss
from eft_jax.fitting.lowering import default_lowering
from eft_jax.fitting.pose_prior import PosePrior, load_pose_prior
from eft_jax.fitting.reference import SequentialEft, Trajectory, TrajectoryPoint
from eft_jax.fitting.result import FitResult
from eft_jax.fitting.smplify import Smplify, smplify_stream
from eft_jax.fitting.stream import fit_stream
from eft_jax.geometry import weak_perspective

__all__ = [
    "EftEngine",
    "Exemplar",
    "FitResult",
    "LossSettings",
    "LossTerms",
    "PosePrior",
    "SequentialEft",
    "Slots",
    "Smplify",
    "Trajectory",
    "TrajectoryPoint",
    "checked_inputs",
    "default_lowering",
    "eft_loss",
    "fit_stream",
    "load_pose_prior",
    "smplify_stream",
    "weak_perspective",
]
