"""EFT written plainly: one exemplar at a time, a Python loop over iterations, the same math as
the engine (EFTFitter.eftAllInDB / run_eft_step, eft/train/eftFitter.py:1543-1604, 212-362).

The tests hold the batched engine to this, and the benchmark times it as the sequential loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from eft_jax import body
from eft_jax.fitting.engine import make_optimizer
from eft_jax.fitting.exemplar import Exemplar, check_camera, checked_inputs, full_frame_of
from eft_jax.fitting.objective import Prediction, exemplar_loss, split_for_fitting
from eft_jax.fitting.result import CONVERGED, MAX_ITERS, FitResult
from eft_jax.nets import Regressor


@dataclasses.dataclass
class TrajectoryPoint:
    """The prediction of the forward pass that had `updates` Adam updates behind it (numpy
    arrays), with its EFT keypoint loss and its keypoint error in pixels (as in FitResult)."""

    updates: int
    prediction: Prediction
    keypoint_loss: float
    keypoint_error_px: float


@dataclasses.dataclass
class Trajectory:
    """One exemplar's fit and the points recorded along the way, in order of `updates` (the
    paper's Figure 1: how the body moves onto the keypoints as EFT updates the weights)."""

    result: FitResult
    points: list[TrajectoryPoint]


class SequentialEft:
    def __init__(
        self,
        regressor: Regressor,
        variables: dict,
        body_model: body.BodyModel,
        config: ml_collections.ConfigDict,
        *,
        crop_size: int = 224,
    ):
        self.config = config
        self.crop_size = crop_size
        self.base, self.frozen, settings = split_for_fitting(variables, body_model, config)
        self.keypoint_weights = np.asarray(self.frozen.keypoint_weights)
        self.optimizer = make_optimizer(config)
        self.camera = check_camera(config.get("camera", "crop"))

        def loss_fn(params, frozen, image, keypoints, frame):
            return exemplar_loss(
                params,
                frozen,
                image,
                keypoints,
                regressor=regressor,
                settings=settings,
                frame=frame,
            )

        self._loss_and_grad = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
        self._update = jax.jit(self._adam_step)

    def _adam_step(self, grads, opt_state, params):
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def fit(self, exemplar: Exemplar) -> FitResult:
        return self._run(exemplar)

    def trajectory(
        self, exemplar: Exemplar, record: Iterable[int] = (0, 1, 2, 5, 10)
    ) -> Trajectory:
        """`fit(exemplar)` plus the prediction after each number of Adam updates in `record`.

        0 is the base regressor's own output. A point exists only where the fit ran a forward
        pass with that many updates behind it (fewer than `result.iterations`), so an exemplar
        that converges early has fewer points; a skipped exemplar has none.
        """
        wanted = {int(k) for k in record}
        if any(k < 0 for k in wanted):
            raise ValueError(
                f"record holds numbers of Adam updates, which cannot be negative; got {sorted(wanted)}"
            )
        points = []

        def on_pass(updates, terms, prediction):
            if updates in wanted:
                points.append(
                    TrajectoryPoint(
                        updates,
                        jax.device_get(prediction),
                        float(terms.keypoint_loss),
                        float(terms.keypoint_error_px),
                    )
                )

        result = self._run(exemplar, on_pass)
        return Trajectory(result, [] if result.skipped else points)

    def _run(self, exemplar: Exemplar, on_pass: Callable | None = None) -> FitResult:
        """The EFT loop. `on_pass(updates, terms, prediction)` sees every finite forward pass,
        `updates` being the number of Adam updates applied before it."""
        inputs, reason = checked_inputs(exemplar, self.crop_size, self.keypoint_weights)
        if inputs is None:
            return FitResult.skip(exemplar.id, reason)
        image, keypoints = jnp.asarray(inputs[0]), jnp.asarray(inputs[1])
        frame = None
        if self.camera == "full_frame":
            frame, reason = full_frame_of(exemplar, self.config.get("focal_px", None))
            if frame is None:
                return FitResult.skip(exemplar.id, reason)
        params, opt_state = self.base, self.optimizer.init(self.base)
        for iteration in range(self.config.max_iters):
            (total, (terms, prediction)), grads = self._loss_and_grad(
                params, self.frozen, image, keypoints, frame
            )
            if iteration == 0:
                loss_before, error_before = (
                    float(terms.keypoint_loss),
                    float(terms.keypoint_error_px),
                )
            if not (np.isfinite(float(total)) and np.isfinite(float(terms.keypoint_loss))):
                return FitResult.skip(
                    exemplar.id, f"non-finite loss at iteration {iteration + 1}", iteration + 1
                )
            if on_pass is not None:
                on_pass(iteration, terms, prediction)
            if float(terms.keypoint_loss) < self.config.stop_threshold:
                stop_reason = CONVERGED
                break
            stop_reason = MAX_ITERS
            # EFT also takes a step after the last forward pass; it cannot change the kept
            # prediction, so it is left out.
            if iteration + 1 < self.config.max_iters:
                params, opt_state = self._update(grads, opt_state, params)
        prediction = jax.device_get(prediction)
        return FitResult(
            id=exemplar.id,
            stop_reason=stop_reason,
            iterations=iteration + 1,
            rotmats=np.array(prediction.rotmats),
            pose_axis_angle=np.array(prediction.pose_axis_angle),
            betas=np.array(prediction.betas),
            camera=np.array(prediction.camera),
            keypoints_2d=np.array(prediction.keypoints_2d),
            keypoint_loss_before=loss_before,
            keypoint_loss_after=float(terms.keypoint_loss),
            keypoint_error_px_before=error_before,
            keypoint_error_px_after=float(terms.keypoint_error_px),
            **(
                {}
                if frame is None
                else {
                    "translation": np.array(prediction.translation),
                    "focal_length": np.array(frame.focal),
                    "principal_point": np.array(frame.principal_point),
                }
            ),
        )

    def fit_all(self, exemplars: Iterable[Exemplar]) -> Iterator[FitResult]:
        for exemplar in exemplars:
            yield self.fit(exemplar)
