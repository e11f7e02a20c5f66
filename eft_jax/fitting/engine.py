"""The batched EFT engine: B slots, each fine-tuning a private copy of the trainable weights on
one exemplar, advanced together by one jitted step.

A slot holds its trainable parameters, its Adam state, its exemplar (image, keypoints), its
iteration count, a done flag and the prediction to keep. The frozen weights, the BatchNorm
statistics and the body model are shared by all slots, never copied. One step, per slot:

    running slot         -> forward + backward; keep this forward's prediction; stop when the
                            2D keypoint loss is under the threshold, at max_iters, or on a
                            non-finite loss; otherwise apply the Adam update
    done / empty slot    -> parameters, Adam state and outputs unchanged, bit for bit

Putting exemplars into slots (`put_exemplars`, a small jitted scatter) writes the new images
and keypoints, the base weights and a fresh Adam state into those slots only, on the device: the
weights never travel from the host, and a refill costs one copy of the weights per refilled slot.
(Resetting inside the step instead, with a per-slot select, costs a pass over every slot's
weights and moments at every step: with ResNet-50 @224, B = 16, vmap+im2col on this project's
2-core CPU, a step took 4.69 s that way and 4.03 s with the reset here.)
`fit_stream` (stream.py) drives this loop from Python; one call of the step runs several
iterations and ends after the one in which a slot stops (`EftEngine.step`).

Frozen-prefix caching (config.cache_prefix): when the trainable subset leaves the first layers
frozen (presets "layer3+", "layer4+head", "head", "decoders"), `put_exemplars` runs those layers
once per exemplar and the slot keeps their output; every step then starts the regressor there
(`EftEngine.entry`). Exact, since BatchNorm uses running statistics and frozen weights never
change; the prefix's forward pass leaves the per-iteration cost.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from eft_jax import body
from eft_jax.body.joint_sets import NUM_SPIN49
from eft_jax.fitting import lowering as lowering_lib
from eft_jax.fitting import sharding
from eft_jax.fitting.exemplar import check_camera
from eft_jax.fitting.objective import Frozen, Prediction, exemplar_loss, split_for_fitting
from eft_jax.fitting.result import CONVERGED, MAX_ITERS, FitResult
from eft_jax.geometry import FullFrame
from eft_jax.nets import Regressor, entry_point, merge, program_key_of

RUNNING, STOP_CONVERGED, STOP_MAX_ITERS, STOP_NON_FINITE = 0, 1, 2, 3


@flax.struct.dataclass
class Slots:
    """State of B slots; every leaf has the slot axis first."""

    params: Any  # trainable subset, per slot
    opt_state: Any  # Adam's moments (`adam_moments`' state), per slot
    # (B, S, S, 3) crops, or with frozen-prefix caching (EftEngine.entry != "image") the
    # activation the frozen prefix computed from them: (B, h, w, c) or (B, features).
    images: jax.Array
    keypoints: jax.Array  # (B, 49, 3)
    frames: FullFrame | None  # (B, ...) each exemplar's box and intrinsics; None: crop camera
    done: jax.Array  # (B,) bool: empty, or its fit has stopped
    iteration: jax.Array  # (B,) int32: forward/backward passes run on the current exemplar
    stop_code: jax.Array  # (B,) int32
    kept: Prediction  # the prediction to keep (the last forward pass)
    keypoint_loss: jax.Array  # (B,) of `kept`
    keypoint_error_px: jax.Array
    keypoint_loss_before: jax.Array  # (B,) of the first forward pass
    keypoint_error_px_before: jax.Array


@flax.struct.dataclass
class StepNumbers:
    """The numbers that runs of one engine differ in most (an ablation's sweep, the tests): passed
    to the compiled step as arguments rather than written into it, so that such runs share one
    compilation. Adam's b1, b2 and eps stay constants of the program."""

    learning_rate: jax.Array  # float32 scalar
    stop_threshold: jax.Array  # float32 scalar: a fit stops when its 2D keypoint loss is under it
    max_iters: jax.Array  # int32 scalar

    @classmethod
    def of(cls, config: ml_collections.ConfigDict) -> StepNumbers:
        return cls(
            learning_rate=np.float32(config.optimizer.learning_rate),
            stop_threshold=np.float32(config.stop_threshold),
            max_iters=np.int32(config.max_iters),
        )


def _select(mask, new, old):
    return jax.tree.map(lambda n, o: jnp.where(mask, n, o), new, old)


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
    opt = config.optimizer
    # optax's Adam is torch's Adam (bias-corrected moments, eps outside the square root).
    return optax.adam(opt.learning_rate, b1=opt.b1, b2=opt.b2, eps=opt.eps)


def adam_moments(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """The moment estimates of make_optimizer's Adam (its first part, optax.scale_by_adam): the
    engine applies the learning rate itself, from `StepNumbers` (`adam_step_where`)."""
    opt = config.optimizer
    return optax.scale_by_adam(b1=opt.b1, b2=opt.b2, eps=opt.eps)


def adam_step_where(
    moments_fn, config: ml_collections.ConfigDict, learning_rate, update, grads, state, params
):
    """(params, state) after an Adam step at `learning_rate` where `update`, and unchanged
    otherwise; `moments_fn` is `adam_moments(config)` and `state` its state.

    Same arithmetic as optax.apply_updates(params, make_optimizer(config).update(...)), in fewer
    passes over memory: left to itself, XLA's CPU backend recomputes the new moments inside the
    parameters' update and copies the donated moments first to keep their old values for it. The
    barrier makes the parameters' update read the new moments instead.

    `update` goes through a reduction first, which XLA's CPU backend does not fuse into its
    consumers (an optimization barrier does not stop fusion): otherwise the scalar computation
    behind it (the loss terms, the stop test) is fused into every elementwise loop over the
    weights and moments and runs once per element."""
    opt = config.optimizer
    update = jnp.min(jnp.stack([update, update]).astype(jnp.int32)) > 0
    moments = jax.lax.optimization_barrier(
        _select(update, moments_fn.update(grads, state, params)[1], state)
    )
    mu_hat = optax.tree.bias_correction(moments.mu, opt.b1, moments.count)
    nu_hat = optax.tree.bias_correction(moments.nu, opt.b2, moments.count)
    stepped = jax.tree.map(
        lambda p, m, v: jnp.where(update, p + (m / (jnp.sqrt(v) + opt.eps)) * -learning_rate, p),
        params,
        mu_hat,
        nu_hat,
    )
    return stepped, moments


class EftEngine:
    """EFT over B slots for one regressor, body model and config (configs/eft_default.py).

    engine = EftEngine(regressor, variables, body_model, config)
    for result in fit_stream(exemplars, engine): ...
    """

    def __init__(
        self,
        regressor: Regressor,
        variables: dict,
        body_model: body.BodyModel,
        config: ml_collections.ConfigDict,
        *,
        crop_size: int = 224,
        batch_size: int | None = None,
        lowering: str | None = None,
        devices: Sequence[jax.Device] | None = None,
    ):
        # config.compute_dtype "bfloat16": convolutions and matmuls in bfloat16 (weights, Adam
        # state, BatchNorm, body model and loss stay float32).
        dtype = config.get("compute_dtype", "float32")
        self.regressor = regressor if dtype == "float32" else regressor.with_dtype(jnp.dtype(dtype))
        self.config = config
        self.crop_size = crop_size
        self.batch_size = int(batch_size or config.batch_size)
        name = lowering or config.lowering
        self.lowering = (
            lowering_lib.default_lowering(batch_size=self.batch_size) if name == "auto" else name
        )
        mapping, im2col = lowering_lib.parse_lowering(self.lowering)
        self.iterations_per_call = int(config.get("iterations_per_call", 1))
        # The camera model (docs/camera.md): "crop" (EFT's) or "full_frame", whose slots also
        # hold each exemplar's FullFrame (box and intrinsics; `focal_px` when the input has none).
        self.camera = check_camera(config.get("camera", "crop"))
        self.focal_px = config.get("focal_px", None)
        if int(config.max_iters) < 1:
            raise ValueError(f"max_iters must be at least 1, got {config.max_iters}")

        base, frozen, self.settings = split_for_fitting(variables, body_model, config)
        # Where each step starts the regressor; the frozen layers before it run once, in `put_exemplars`.
        self.entry = entry_point(config.trainable) if config.get("cache_prefix", True) else "image"
        self._im2col = im2col
        self.keypoint_weights = np.asarray(frozen.keypoint_weights)
        self.adam_moments = adam_moments(config)

        self.mesh = sharding.slot_mesh(devices) if config.shard else None
        if self.mesh is not None:
            sharding.check_batch_size(self.batch_size, self.mesh)
            shared = sharding.replicated(self.mesh)
            self._slot_sharding = sharding.slot_sharding(self.mesh)
            base, frozen = jax.device_put((base, frozen), shared)
        else:
            self._slot_sharding = None
        self.base, self.frozen = base, frozen
        self.numbers = StepNumbers.of(config)
        if self.mesh is not None:
            self.numbers = jax.device_put(self.numbers, shared)
        # How many groups of slots fitting.fit_stream steps side by side.
        self.lanes = lanes_for(int(config.get("lanes", 1)), self.mesh)

        chunk_size = int(config.chunk_size)
        self._step = _shared_step(
            self._step_key(mapping, chunk_size),
            lambda: self._jitted_step(mapping, chunk_size),
        )
        self._put_exemplars = jax.jit(
            self._put_exemplars_into_slots, donate_argnums=0, out_shardings=self._slot_sharding
        )
        self._empty = jax.jit(self._empty_slots, out_shardings=self._slot_sharding)

    # -- the per-slot step ------------------------------------------------------------------

    def _step_key(self, mapping: str, chunk_size: int) -> tuple | None:
        """Everything the step's program depends on besides its arguments' shapes (the weights,
        body model and slots are arguments): engines with equal keys share one jitted step, so a
        second run in the same process (a notebook, a job run twice, the tests) neither traces
        nor compiles it again. None (never shared) for a regressor without a `program_key`
        of its own class (`nets.program_key_of`)."""
        regressor_key = program_key_of(self.regressor)
        if regressor_key is None:
            return None
        opt = self.config.optimizer
        adam = (float(opt.b1), float(opt.b2), float(opt.eps))
        return (
            regressor_key,
            self.settings,
            adam,
            self.entry,
            self._im2col,
            mapping,
            chunk_size,
            self.mesh,
        )

    def _jitted_step(self, mapping: str, chunk_size: int):
        """The step `_step_key` describes (both read the same attributes and arguments)."""
        batched = lowering_lib.map_over_slots(self._slot_step_fn(self._im2col), mapping, chunk_size)
        if self.mesh is not None:
            batched = sharding.shard_over_slots(batched, self.mesh, num_shared=2)
        return jax.jit(
            functools.partial(_iterate, batched),
            donate_argnums=0,
            compiler_options=step_compiler_options(),
        )

    def _slot_step_fn(self, im2col: bool):
        regressor, settings, moments_fn, config = (
            self.regressor,
            self.settings,
            self.adam_moments,
            self.config,
        )
        entry = self.entry

        def loss_fn(params, frozen, image, keypoints, frame):
            return exemplar_loss(
                params,
                frozen,
                image,
                keypoints,
                regressor=regressor,
                settings=settings,
                start=entry,
                frame=frame,
            )

        def slot_step(slot: Slots, frozen: Frozen, numbers: StepNumbers) -> Slots:
            params, opt_state, iteration = slot.params, slot.opt_state, slot.iteration
            active = ~slot.done

            with lowering_lib.conv_lowering(im2col):
                (total, (terms, prediction)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                    params, frozen, slot.images, slot.keypoints, slot.frames
                )
            passes = iteration + 1
            finite = jnp.isfinite(total) & jnp.isfinite(terms.keypoint_loss)
            converged = terms.keypoint_loss < numbers.stop_threshold
            stop = active & (~finite | converged | (passes >= numbers.max_iters))
            code = jnp.where(
                ~finite, STOP_NON_FINITE, jnp.where(converged, STOP_CONVERGED, STOP_MAX_ITERS)
            )
            update = active & ~stop
            new_params, new_opt_state = adam_step_where(
                moments_fn, config, numbers.learning_rate, update, grads, opt_state, params
            )
            first = active & (iteration == 0)
            return Slots(
                params=new_params,
                opt_state=new_opt_state,
                images=slot.images,
                keypoints=slot.keypoints,
                frames=slot.frames,
                done=slot.done | stop,
                iteration=jnp.where(active, passes, iteration),
                stop_code=jnp.where(stop, code, slot.stop_code),
                kept=_select(active, prediction, slot.kept),
                keypoint_loss=jnp.where(active, terms.keypoint_loss, slot.keypoint_loss),
                keypoint_error_px=jnp.where(
                    active, terms.keypoint_error_px, slot.keypoint_error_px
                ),
                keypoint_loss_before=jnp.where(
                    first, terms.keypoint_loss, slot.keypoint_loss_before
                ),
                keypoint_error_px_before=jnp.where(
                    first, terms.keypoint_error_px, slot.keypoint_error_px_before
                ),
            )

        return slot_step

    # -- slot management --------------------------------------------------------------------

    def _empty_slots(self, base) -> Slots:
        count = self.batch_size

        def stack(tree):
            return jax.tree.map(lambda x: jnp.zeros((count,) + x.shape, x.dtype) + x, tree)

        def zeros_like_stacked(shape: jax.ShapeDtypeStruct):
            return jnp.zeros((count,) + shape.shape, shape.dtype)

        zeros = jnp.zeros((count,), jnp.float32)
        inputs = jax.eval_shape(
            self._prefix, base, self.frozen, jnp.zeros((1, self.crop_size, self.crop_size, 3))
        )
        slot_input = jax.ShapeDtypeStruct(inputs.shape[1:], inputs.dtype)
        keypoints = jax.ShapeDtypeStruct((NUM_SPIN49, 3), jnp.float32)
        frame = None
        if self.camera == "full_frame":
            frame = FullFrame(
                box_center=jax.ShapeDtypeStruct((2,), jnp.float32),
                box_size=jax.ShapeDtypeStruct((), jnp.float32),
                focal=jax.ShapeDtypeStruct((2,), jnp.float32),
                principal_point=jax.ShapeDtypeStruct((2,), jnp.float32),
            )
        _, (_, prediction) = jax.eval_shape(
            functools.partial(
                exemplar_loss, regressor=self.regressor, settings=self.settings, start=self.entry
            ),
            base,
            self.frozen,
            slot_input,
            keypoints,
            frame=frame,
        )
        return Slots(
            params=stack(base),
            opt_state=stack(self.adam_moments.init(base)),
            images=zeros_like_stacked(slot_input),
            keypoints=zeros_like_stacked(keypoints),
            frames=None if frame is None else _unit_frames(count),
            done=jnp.ones((count,), bool),
            iteration=jnp.zeros((count,), jnp.int32),
            stop_code=jnp.zeros((count,), jnp.int32),
            kept=jax.tree.map(zeros_like_stacked, prediction),
            keypoint_loss=zeros,
            keypoint_error_px=zeros,
            keypoint_loss_before=zeros,
            keypoint_error_px_before=zeros,
        )

    def empty_slots(self) -> Slots:
        """B empty slots (done, so a step leaves them alone)."""
        return self._empty(self.base)

    def put_exemplars(
        self,
        slots: Slots,
        slot_ids: Sequence[int],
        images: np.ndarray,
        keypoints: np.ndarray,
        frames: FullFrame | None = None,
    ) -> Slots:
        """Put exemplars into the given slots, starting from the base weights and a fresh Adam
        state (donates `slots`). `frames` (a FullFrame of stacked arrays, one per exemplar, as
        `fitting.exemplar.full_frame_of` gives them) is needed with camera=full_frame only.

        Only the new images, keypoints and frames travel to the device, padded to a power of two
        (so at most log2(B) + 1 versions of this small scatter are compiled)."""
        if (frames is None) != (self.camera == "crop"):
            raise ValueError(
                f"camera={self.camera}: put_exemplars takes frames "
                + ("only with camera=full_frame" if frames is not None else "for every exemplar")
            )
        count = len(slot_ids)
        padded = min(1 << max(count - 1, 0).bit_length(), self.batch_size)
        ids = np.full((padded,), self.batch_size, np.int32)  # out of range: dropped by the scatter
        ids[:count] = slot_ids
        images = np.concatenate(
            [images, np.zeros((padded - count,) + images.shape[1:], np.float32)]
        )
        keypoints = np.concatenate(
            [keypoints, np.zeros((padded - count, NUM_SPIN49, 3), np.float32)]
        )
        if frames is not None:  # padded with copies of the last row, which the scatter drops
            frames = jax.tree.map(
                lambda x: np.concatenate([x, np.repeat(x[-1:], padded - count, axis=0)]),
                jax.tree.map(lambda x: np.asarray(x, np.float32), frames),
            )
        return self._put_exemplars(slots, self.base, self.frozen, ids, images, keypoints, frames)

    def _prefix(self, base, frozen: Frozen, images):
        """What a slot keeps of its crops: the crops, or the frozen prefix's output."""
        if self.entry == "image":
            return images
        variables = {"params": merge(base, frozen.params), "batch_stats": frozen.batch_stats}
        with lowering_lib.conv_lowering(self._im2col):
            return self.regressor.prefix(variables, images, self.entry)

    def _put_exemplars_into_slots(
        self, slots: Slots, base, frozen: Frozen, ids, images, keypoints, frames
    ) -> Slots:
        def put(stacked, value):
            rows = jnp.broadcast_to(value, (len(ids),) + value.shape)
            return stacked.at[ids].set(rows, mode="drop")

        return slots.replace(
            params=jax.tree.map(put, slots.params, base),
            opt_state=jax.tree.map(put, slots.opt_state, self.adam_moments.init(base)),
            images=slots.images.at[ids].set(self._prefix(base, frozen, images), mode="drop"),
            keypoints=slots.keypoints.at[ids].set(keypoints, mode="drop"),
            frames=None
            if frames is None
            else jax.tree.map(
                lambda old, new: old.at[ids].set(new, mode="drop"), slots.frames, frames
            ),
            done=slots.done.at[ids].set(False, mode="drop"),
            iteration=slots.iteration.at[ids].set(0, mode="drop"),
            stop_code=slots.stop_code.at[ids].set(RUNNING, mode="drop"),
        )

    def step(self, slots: Slots, iterations: int = 1) -> Slots:
        """EFT iterations of every running slot (donates `slots`): `iterations` of them, or fewer
        when a slot stops before (the call ends after the iteration in which it stops)."""
        return self._step(slots, self.frozen, self.numbers, np.int32(iterations))

    def done_flags(self, slots: Slots) -> np.ndarray:
        return np.asarray(jax.device_get(slots.done))

    def results(self, slots: Slots, occupants: dict[int, Hashable]) -> list[FitResult]:
        """FitResults of the (done) slots in `occupants` (slot index -> exemplar id)."""
        record = jax.device_get(
            (
                slots.iteration,
                slots.stop_code,
                slots.kept,
                slots.keypoint_loss,
                slots.keypoint_error_px,
                slots.keypoint_loss_before,
                slots.keypoint_error_px_before,
                slots.frames,
            )
        )
        iteration, code, kept, loss, error, loss_before, error_before, frames = record
        results = []
        for slot, exemplar_id in occupants.items():
            if code[slot] == STOP_NON_FINITE:
                results.append(
                    FitResult.skip(
                        exemplar_id,
                        f"non-finite loss at iteration {iteration[slot]}",
                        int(iteration[slot]),
                    )
                )
                continue
            results.append(
                FitResult(
                    id=exemplar_id,
                    stop_reason=CONVERGED if code[slot] == STOP_CONVERGED else MAX_ITERS,
                    iterations=int(iteration[slot]),
                    rotmats=np.array(kept.rotmats[slot]),
                    pose_axis_angle=np.array(kept.pose_axis_angle[slot]),
                    betas=np.array(kept.betas[slot]),
                    camera=np.array(kept.camera[slot]),
                    keypoints_2d=np.array(kept.keypoints_2d[slot]),
                    keypoint_loss_before=float(loss_before[slot]),
                    keypoint_loss_after=float(loss[slot]),
                    keypoint_error_px_before=float(error_before[slot]),
                    keypoint_error_px_after=float(error[slot]),
                    **({} if frames is None else _full_frame_fields(kept, frames, slot)),
                )
            )
        return results


# The jitted steps of the last few distinct engine programs, by `EftEngine._step_key`, most
# recently used last.
_SHARED_STEPS: collections.OrderedDict = collections.OrderedDict()
_SHARED_STEPS_KEPT = 8


def _shared_step(key: Hashable | None, build: Callable):
    """The jitted step of `key`, made by `build()` the first time; None: never shared."""
    if key is None:
        return build()
    if key not in _SHARED_STEPS:
        _SHARED_STEPS[key] = build()
        if len(_SHARED_STEPS) > _SHARED_STEPS_KEPT:
            _SHARED_STEPS.popitem(last=False)
    _SHARED_STEPS.move_to_end(key)
    return _SHARED_STEPS[key]


def lanes_for(setting: int, mesh) -> int:
    """How many lanes (groups of slots stepped side by side, `fitting.fit_stream`) a config's
    `lanes` asks for: 0 is 2 on a CPU whose slots are on one device, else 1."""
    if setting:
        return setting
    one_device = mesh is None or mesh.devices.size == 1
    return 2 if one_device and jax.default_backend() == "cpu" else 1


def step_compiler_options() -> dict | None:
    """XLA options of the compiled step. On the CPU: copy insertion by region analysis. The step's
    loop updates each weight in place while the backward pass still reads it (the input
    gradients), and the CPU backend's default copy insertion cannot see that every read comes
    first, so it copies every weight of every slot at every iteration (a pass over all of them);
    region analysis can and does not (ResNet-50's step 1.12x faster on one core,
    experiments/bench_eft/speed_notes.md; tests/test_step_weight_copies.py). The fits are the
    same bit for bit with XLA's optimisations on."""
    if jax.default_backend() != "cpu":
        return None
    return {"xla_cpu_copy_insertion_use_region_analysis": True}


def _iterate(
    batched_step, slots: Slots, frozen: Frozen, numbers: StepNumbers, iterations=1
) -> Slots:
    """`batched_step` up to `iterations` times inside one computation, returning early after the
    iteration in which a slot stops (or at once if every slot is done): the host looks for
    stopped slots once per call instead of after every iteration, and still refills each slot
    right after its fit stops, as with one iteration per call."""

    def more(carry):
        count, slots, stopped = carry
        return (count < iterations) & ~stopped & ~jnp.all(slots.done)

    def once(carry):
        count, slots, _ = carry
        stepped = batched_step(slots, frozen, numbers)
        return count + 1, stepped, jnp.any(stepped.done & ~slots.done)

    return jax.lax.while_loop(more, once, (jnp.int32(0), slots, jnp.bool_(False)))[1]


def _unit_frames(count: int) -> FullFrame:
    """`count` placeholder frames for empty slots: a box of one pixel at the principal point,
    focal length 1 (finite arithmetic; an empty slot's results are never read)."""
    return FullFrame(
        box_center=jnp.zeros((count, 2), jnp.float32),
        box_size=jnp.ones((count,), jnp.float32),
        focal=jnp.ones((count, 2), jnp.float32),
        principal_point=jnp.zeros((count, 2), jnp.float32),
    )


def _full_frame_fields(kept: Prediction, frames: FullFrame, slot: int) -> dict:
    """A full-frame fit's extra FitResult fields: its translation and the intrinsics used."""
    return {
        "translation": np.array(kept.translation[slot]),
        "focal_length": np.array(frames.focal[slot]),
        "principal_point": np.array(frames.principal_point[slot]),
    }
