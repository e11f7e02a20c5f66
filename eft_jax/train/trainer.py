"""The pure parts of regressor training: state, optimisers, one jitted step, evaluation.

    trainer = Trainer(regressor, model, config)
    state = trainer.init_state(variables, jax.random.key(seed))
    state, terms = trainer.step(state, trainer.shard(batch), rng)   # jitted; batch from train/batches.py
    scores = trainer.evaluate(state.variables, validation)           # the evaluator's summary

Training mode as SPIN's: BatchNorm batch statistics (running statistics updated with torch's
momentum 0.1) and dropout in the head. Adam with a linear warm-up and cosine decay. With
`adversarial.weight` > 0, HMR's discriminator (`train/adversarial.py`) is trained in the same step
with its own Adam, and its least-squares term joins the regressor's loss.

Data parallel over the local devices (`jax.sharding`): the batch is split along its first axis over
a one-axis mesh, the state is replicated; the compiler inserts the gradient all-reduce and computes
BatchNorm's batch statistics over the whole batch, so the step means what it means on one device.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from eft_jax import body
from eft_jax.config import ConfigError
from eft_jax.errors import InputError
from eft_jax.eval.evaluation import evaluate_fits, summarize
from eft_jax.geometry import rot6d_to_rotmat
from eft_jax.nets import Regressor
from eft_jax.train.adversarial import (
    PoseShapeDiscriminator,
    discriminator_losses,
    regressor_adversarial_loss,
)
from eft_jax.train.losses import TrainLossTerms, keypoint_weights, spin_loss

BATCH_AXIS = "batch"
EVALUATION_CHUNK = 256  # samples per evaluator call (their true vertices are ~165 KB each)


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    discriminator: Any = None  # {'params', 'opt_state'} with the adversarial prior, else None

    @property
    def variables(self) -> dict:
        return {"params": self.params, "batch_stats": self.batch_stats}


class TrainingDiverged(InputError, RuntimeError):
    """The training loss stopped being finite: the run is stopped before a bad checkpoint is kept."""


def check_finite(terms: list, first_step: int, last_step: int) -> None:
    """Raise TrainingDiverged if any loss of steps first_step..last_step (their TrainLossTerms,
    host values) is not finite."""
    totals = np.array([float(t.total) for t in terms])
    if not np.all(np.isfinite(totals)):
        bad = first_step + int(np.argmin(np.isfinite(totals)))
        raise TrainingDiverged(
            f"the training loss is not finite at step {bad} (of steps {first_step}..{last_step}); "
            "the checkpoints kept are from before it. Lower `learning_rate` or set `grad_clip_norm` "
            "(e.g. 1.0), and start again in a fresh workdir (a resume would repeat the same steps)"
        )


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


def data_mesh(devices=None) -> Mesh:
    """A one-axis mesh over the local devices (or `devices`) that batches are split over."""
    return Mesh(np.array(jax.local_devices() if devices is None else list(devices)), (BATCH_AXIS,))


class Trainer:
    def __init__(
        self,
        regressor: Regressor,
        model: body.BodyModel,
        config: ml_collections.ConfigDict,
        mesh: Mesh | None = None,
    ):
        self.regressor = regressor
        self.model = model
        self.config = config
        self.optimizer = optax.adam(learning_rate_schedule(config))
        clip = float(config.get("grad_clip_norm", 0.0))
        if clip < 0:
            raise ConfigError(f"grad_clip_norm must be at least 0 (0 = off); got {clip}")
        if clip > 0:
            self.optimizer = optax.chain(optax.clip_by_global_norm(clip), self.optimizer)
        self.weights = jnp.asarray(keypoint_weights(config.loss, model.spin49_available))
        adversarial = config.get("adversarial")
        self.adversarial_weight = float(adversarial.weight) if adversarial is not None else 0.0
        if self.adversarial_weight < 0:
            raise ConfigError(
                f"adversarial.weight must be at least 0 (0 = off); got {self.adversarial_weight}"
            )
        if self.adversarial_weight > 0:
            self.discriminator = PoseShapeDiscriminator()
            self.discriminator_optimizer = optax.adam(float(adversarial.learning_rate))
        self.mesh = data_mesh() if mesh is None else mesh
        devices = self.mesh.devices.size
        if config.batch_size % devices:
            raise ConfigError(
                f"batch_size {config.batch_size} must be a multiple of the {devices} devices it is split over"
            )
        self.batch_sharding = NamedSharding(self.mesh, PartitionSpec(BATCH_AXIS))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.step = jax.jit(self._step, donate_argnums=0, out_shardings=self.replicated)
        self._predict = jax.jit(self._prediction)
        self._vertices = jax.jit(self._truth_vertices)

    @property
    def adversarial(self) -> bool:
        return self.adversarial_weight > 0

    def init_state(self, variables: dict, rng: jax.Array | None = None) -> TrainState:
        """The state at step 0 from the regressor's `variables`; `rng` initialises the
        discriminator (needed with the adversarial prior)."""
        discriminator = None
        if self.adversarial:
            count = 1
            params = self.discriminator.init(
                rng, jnp.zeros((count, 23, 3, 3)), jnp.zeros((count, 10))
            )["params"]
            discriminator = {
                "params": params,
                "opt_state": self.discriminator_optimizer.init(params),
            }
        state = TrainState(
            step=jnp.zeros((), jnp.int32),
            params=variables["params"],
            batch_stats=variables["batch_stats"],
            opt_state=self.optimizer.init(variables["params"]),
            discriminator=discriminator,
        )
        return self.replicate(state)

    def replicate(self, state: TrainState) -> TrainState:
        return jax.device_put(state, self.replicated)

    def shard(self, batch: dict) -> dict:
        """The batch split over the mesh's devices along its first axis."""
        return jax.device_put(batch, self.batch_sharding)

    def _step(
        self, state: TrainState, batch: dict, rng: jax.Array
    ) -> tuple[TrainState, TrainLossTerms]:
        def loss_fn(params):
            variables = {"params": params, "batch_stats": state.batch_stats}
            out, batch_stats = self.regressor.apply(variables, batch["images"], train=True, rng=rng)
            terms = spin_loss(out, batch, self.model, self.weights, self.config.loss)
            total = terms.total
            if self.adversarial:
                scores = self.discriminator.apply(
                    {"params": state.discriminator["params"]}, out.rotmats[:, 1:], out.betas
                )
                adversarial = regressor_adversarial_loss(scores)
                total = total + self.adversarial_weight * adversarial
                terms = terms.replace(total=total, adversarial=adversarial)
            return total, (terms, batch_stats, out)

        (_, (terms, batch_stats, out)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params
        )
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        discriminator = state.discriminator
        if self.adversarial:
            discriminator, real, fake = self._discriminator_step(state.discriminator, batch, out)
            terms = terms.replace(discriminator_real=real, discriminator_fake=fake)
        return TrainState(state.step + 1, params, batch_stats, opt_state, discriminator), terms

    def _discriminator_step(
        self, discriminator: dict, batch: dict, out
    ) -> tuple[dict, jax.Array, jax.Array]:
        """One Adam step of the discriminator on the prior's real bodies against this step's
        predictions (HMR updates both networks from the same forward pass)."""
        fake_rotmats, fake_betas = (
            jax.lax.stop_gradient(out.rotmats[:, 1:]),
            jax.lax.stop_gradient(out.betas),
        )

        def loss_fn(params):
            real = self.discriminator.apply(
                {"params": params}, batch["prior_rotmats"], batch["prior_betas"]
            )
            fake = self.discriminator.apply({"params": params}, fake_rotmats, fake_betas)
            real_loss, fake_loss = discriminator_losses(real, fake)
            return self.adversarial_weight * (real_loss + fake_loss), (real_loss, fake_loss)

        (_, (real_loss, fake_loss)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            discriminator["params"]
        )
        updates, opt_state = self.discriminator_optimizer.update(
            grads, discriminator["opt_state"], discriminator["params"]
        )
        params = optax.apply_updates(discriminator["params"], updates)
        return {"params": params, "opt_state": opt_state}, real_loss, fake_loss

    def _prediction(self, variables, images):
        out = self.regressor.apply(variables, images, train=False)
        return out.rotmats, out.betas, out.camera

    def _truth_vertices(self, rotmats, betas):
        out = body.forward(self.model, rotmats, betas)
        return out.vertices - out.joints[:, :1]

    def evaluate(self, variables: dict, validation: dict, batch_size: int = 64) -> dict:
        """The evaluator's summary (`eval/evaluation.py`: 2D px, MPJPE, PA-MPJPE, PVE, ...) of the
        regressor on held-out synthetic humans, and the MPJPE / PA-MPJPE of the mean parameters
        (the regressor's starting point) as `mean_pose_*`. `validation`: normalised `images` and
        the samples' keypoints, joints3d_spin49, rotmats and betas."""
        images = validation["images"]
        predicted = [
            self._predict(variables, jnp.asarray(images[i : i + batch_size]))
            for i in range(0, len(images), batch_size)
        ]
        rotmats, betas, cameras = (
            np.concatenate([np.asarray(p[k]) for p in predicted]) for k in range(3)
        )
        mean = self.regressor.mean_params
        count = len(images)
        mean_pose = np.asarray(rot6d_to_rotmat(jnp.asarray(mean.pose, jnp.float32).reshape(24, 6)))
        mean_rotmats = np.broadcast_to(mean_pose, (count, 24, 3, 3))
        mean_betas = np.broadcast_to(np.asarray(mean.shape, np.float32), (count, 10))
        mean_cameras = np.broadcast_to(np.asarray(mean.cam, np.float32), (count, 3))
        regressor = summarize(self._evaluate_chunks(rotmats, betas, cameras, validation))
        baseline = summarize(
            self._evaluate_chunks(mean_rotmats, mean_betas, mean_cameras, validation)
        )
        return {
            **regressor,
            "mean_pose_mpjpe_mm": baseline["mpjpe_mm"],
            "mean_pose_pa_mpjpe_mm": baseline["pa_mpjpe_mm"],
            "samples": count,
        }

    def _evaluate_chunks(self, rotmats, betas, cameras, truth: dict) -> dict:
        parts = []
        for i in range(0, len(rotmats), EVALUATION_CHUNK):
            chunk = slice(i, i + EVALUATION_CHUNK)
            vertices = self._vertices(
                jnp.asarray(truth["rotmats"][chunk]), jnp.asarray(truth["betas"][chunk])
            )
            parts.append(
                evaluate_fits(
                    self.model,
                    rotmats[chunk],
                    betas[chunk],
                    cameras[chunk],
                    truth["keypoints"][chunk],
                    truth["joints3d_spin49"][chunk],
                    vertices,
                )
            )
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
