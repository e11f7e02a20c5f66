"""The pure parts of regressor training: state, optimiser, one jitted step, evaluation.

    trainer = Trainer(regressor, model, config)
    state = trainer.init_state(variables)
    state, terms = trainer.step(state, batch, rng)          # jitted; batch from TrainBatches
    scores = trainer.evaluate(state_variables, samples)      # MPJPE / PA-MPJPE, mm

Training mode as SPIN's: BatchNorm batch statistics (running statistics updated with torch's
momentum 0.1) and dropout in the head. Adam with a linear warm-up and cosine decay.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from eft_jax import body
from eft_jax.config import ConfigError
from eft_jax.geometry import rot6d_to_rotmat
from eft_jax.nets import Regressor
from eft_jax.train.losses import TrainLossTerms, keypoint_weights, spin_loss
from eft_jax.train.metrics import mpjpe_mm, pa_mpjpe_mm


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any

    @property
    def variables(self) -> dict:
        return {"params": self.params, "batch_stats": self.batch_stats}


def learning_rate_schedule(config: ml_collections.ConfigDict) -> optax.Schedule:
    if not 0 <= config.warmup_steps < config.total_steps:
        raise ConfigError(
            f"warmup_steps ({config.warmup_steps}) must be at least 0 and less than total_steps ({config.total_steps})"
        )
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.learning_rate,
        warmup_steps=config.warmup_steps,
        decay_steps=config.total_steps,
        end_value=config.learning_rate * config.final_learning_rate_fraction,
    )


class Trainer:
    def __init__(self, regressor: Regressor, model: body.BodyModel, config: ml_collections.ConfigDict):
        self.regressor = regressor
        self.model = model
        self.config = config
        self.optimizer = optax.adam(learning_rate_schedule(config))
        self.weights = jnp.asarray(keypoint_weights(config.loss, model.spin49_available))
        self.step = jax.jit(self._step, donate_argnums=0)
        self._predict_joints = jax.jit(self._joints_of_images)

    def init_state(self, variables: dict) -> TrainState:
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=variables["params"],
            batch_stats=variables["batch_stats"],
            opt_state=self.optimizer.init(variables["params"]),
        )

    def _step(self, state: TrainState, batch: dict, rng: jax.Array) -> tuple[TrainState, TrainLossTerms]:
        def loss_fn(params):
            variables = {"params": params, "batch_stats": state.batch_stats}
            out, batch_stats = self.regressor.apply(variables, batch["images"], train=True, rng=rng)
            terms = spin_loss(out, batch, self.model, self.weights, self.config.loss)
            return terms.total, (terms, batch_stats)

        (_, (terms, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(state.step + 1, params, batch_stats, opt_state), terms

    def _joints_of_images(self, variables, images):
        out = self.regressor.apply(variables, images, train=False)
        return body.forward(self.model, out.rotmats, out.betas).spin49

    def evaluate(self, variables: dict, images: np.ndarray, true_joints: np.ndarray, batch_size: int = 64) -> dict:
        """MPJPE and PA-MPJPE (mm, LSP-14, hip-centred) of the regressor on normalised `images`
        against SPIN-49 `true_joints`, plus the same errors of the mean parameters (the
        regressor's starting point) as the baseline."""
        predicted = np.concatenate(
            [
                np.asarray(self._predict_joints(variables, jnp.asarray(images[i : i + batch_size])))
                for i in range(0, len(images), batch_size)
            ]
        )
        mean = self.regressor.mean_params
        mean_rotmats = rot6d_to_rotmat(jnp.asarray(mean.pose, jnp.float32).reshape(24, 6))
        mean_joints = np.asarray(body.forward(self.model, mean_rotmats, jnp.asarray(mean.shape, jnp.float32)).spin49)
        mean_joints = np.broadcast_to(mean_joints, predicted.shape)
        return {
            "mpjpe_mm": float(np.mean(mpjpe_mm(predicted, true_joints))),
            "pa_mpjpe_mm": float(np.mean(pa_mpjpe_mm(predicted, true_joints))),
            "mean_pose_mpjpe_mm": float(np.mean(mpjpe_mm(mean_joints, true_joints))),
            "mean_pose_pa_mpjpe_mm": float(np.mean(pa_mpjpe_mm(mean_joints, true_joints))),
            "samples": int(len(images)),
        }
