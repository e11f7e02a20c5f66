"""Multi-start EFT: fit K hypotheses of each exemplar and keep the one that explains its 2D
keypoints best. A layer above the engine; the engine itself is unchanged.

A single EFT start often lands in the wrong basin: the regressor's first guess faces the wrong
way, and a few Adam steps on 2D keypoints rarely turn a body around. The hypotheses, in order
(`config.hypotheses = K` takes the first K):

    0 "plain"           the crop as given (K = 1 is plain EFT, bit for bit)
    1 "mirrored"        the crop mirrored horizontally, keypoints mirrored to match (x -> -x,
                        left/right slots exchanged); the fit is mirrored back
    2 "turned"          the regressor's global orientation turned 180 degrees about the camera's
                        vertical axis (y) before EFT starts, and kept turned while it fine-tunes
    3 "mirrored+turned" both

Every hypothesis runs through the ordinary engine (`EftEngine`, `fit_stream`): the plain and
mirrored ones share one engine, the turned ones share a second engine whose regressor applies the
turn to its output (`TurnedRegressor`), so no slot state changes. Each mapped-back fit is scored
again on the original exemplar (EFT's keypoint loss, so hypotheses compare in the same frame), and
the lowest loss wins; hypotheses within `config.hypothesis_tie_tolerance` (relative) of the best
are tied, and among them the most probable pose under a pose prior wins (`pose_norm_prior` until a
learned prior is plugged in as `pose_prior=`).

Mirroring a fit: reflecting the scene through x -> -x maps every joint rotation R to D R D with
D = diag(-1, 1, 1) (axis-angle (x, y, z) -> (x, -y, -z)) and exchanges left and right joints;
the camera [s, tx, ty] becomes [s, -tx, ty]. This is exact for a left/right symmetric body; the
bundled body is nearly so, and the re-scoring makes the choice honest either way.

With the full-frame camera (camera=full_frame) the mirror is the camera's own plane x = 0: the
image is mirrored about the principal point's column (u -> 2 p_x - u), so the mirrored person's
box sits at 2 p_x - c_x with the same intrinsics, the crop itself is mirrored as above, and the
fit's translation comes back as (-T_x, T_y, T_z). The hypotheses are scored through each
exemplar's own full-frame camera.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from eft_jax import body
from eft_jax.body.joint_sets import SPIN49_MIRROR
from eft_jax.body.mirror import mirror_rotmats
from eft_jax.fitting.engine import EftEngine
from eft_jax.fitting.exemplar import Exemplar, full_frame_of
from eft_jax.fitting.losses import eft_loss
from eft_jax.fitting.result import FitResult
from eft_jax.fitting.stream import fit_stream
from eft_jax.geometry import (
    full_frame_projection,
    rotmat_to_axis_angle,
    rotmat_to_rot6d,
    weak_perspective,
)
from eft_jax.nets import program_key_of

HYPOTHESES = ("plain", "mirrored", "turned", "mirrored+turned")
TURN_180_Y = np.diag([-1.0, 1.0, -1.0]).astype(np.float32)  # 180 degrees about the camera's y axis


# -- mirroring ----------------------------------------------------------------------------------


def mirror_image(image: np.ndarray) -> np.ndarray:
    """(S, S, C) crop mirrored horizontally. Pixel column j goes to S-1-j, so a point at crop
    coordinate x goes to -x exactly."""
    return np.ascontiguousarray(np.asarray(image)[:, ::-1])


def mirror_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """(..., 49, 2 or 3) SPIN-49 keypoints of the mirrored crop: x -> -x, left/right slots
    exchanged (confidences travel with their joint)."""
    mirrored = np.array(np.asarray(keypoints)[..., SPIN49_MIRROR, :])
    mirrored[..., 0] *= -1
    return mirrored


def mirror_camera(camera: np.ndarray) -> np.ndarray:
    camera = np.array(camera)
    camera[..., 1] *= -1
    return camera


# -- the turned start ---------------------------------------------------------------------------


class TurnedRegressor:
    """A regressor whose output global orientation is turned by a fixed rotation (R_root ->
    turn @ R_root, in the camera frame), everything else as `regressor` computes it. The engine
    fine-tunes the wrapped weights as usual; the turn stays applied at every iteration."""

    def __init__(self, regressor, turn: np.ndarray = TURN_180_Y):
        self.regressor = regressor
        self.turn = jnp.asarray(turn, jnp.float32)

    def __getattr__(self, name):
        return getattr(self.regressor, name)

    def _turned(self, out):
        rotmats = out.rotmats.at[:, 0].set(self.turn @ out.rotmats[:, 0])
        pose6d = rotmat_to_rot6d(rotmats).reshape(out.pose6d.shape)
        return out.replace(rotmats=rotmats, pose6d=pose6d)

    def with_dtype(self, dtype) -> TurnedRegressor:
        return TurnedRegressor(self.regressor.with_dtype(dtype), np.asarray(self.turn))

    def program_key(self) -> Hashable | None:
        """`Regressor.program_key`'s counterpart (None: the wrapped one has none)."""
        inner = program_key_of(self.regressor)
        if inner is None:
            return None
        return ("turned", inner, tuple(np.asarray(self.turn).ravel().tolist()))

    def apply(self, variables, images, train: bool = False, rng=None, start: str = "image"):
        out = self.regressor.apply(variables, images, train=train, rng=rng, start=start)
        if train:
            out, batch_stats = out
            return self._turned(out), batch_stats
        return self._turned(out)


# -- choosing among hypotheses ------------------------------------------------------------------


def pose_norm_prior(pose_axis_angle: np.ndarray) -> float:
    """Energy of a pose (lower = more probable): the sum of squared rotation angles of the 23
    body joints (the root excluded). A stand-in for a learned pose prior (a GMM's negative
    log-likelihood plugs in here with the same signature)."""
    return float(np.sum(np.asarray(pose_axis_angle)[1:] ** 2))


@dataclasses.dataclass
class MultiStartResult(FitResult):
    """A FitResult (of the kept hypothesis; `iterations` is that hypothesis's passes) plus which
    hypothesis was kept, every hypothesis's final keypoint loss on the original exemplar (None
    for one that failed) and the passes all hypotheses took together (the cost)."""

    hypothesis: str | None = None
    hypothesis_losses: list | None = None
    total_iterations: int | None = None


def choose(losses: Sequence[float | None], energies: Sequence[float], tie_tolerance: float) -> int:
    """Index of the kept hypothesis: the lowest loss, or among those within `tie_tolerance`
    (relative) of it, the lowest pose-prior energy. None losses are failed hypotheses."""
    valid = [k for k, loss in enumerate(losses) if loss is not None and np.isfinite(loss)]
    if not valid:
        raise ValueError("no hypothesis has a finite loss")
    best = min(losses[k] for k in valid)
    tied = [k for k in valid if losses[k] <= best * (1.0 + tie_tolerance)]
    return min(tied, key=lambda k: (energies[k], losses[k], k))


# -- the driver ---------------------------------------------------------------------------------


class MultiStartEft:
    """K-hypothesis EFT over a stream of exemplars (configs/eft_default.py field `hypotheses`).

        multistart = MultiStartEft(regressor, variables, body_model, config, crop_size=224)
        for result in multistart.fit_stream(exemplars): ...     # one result per exemplar

    With `hypotheses = 1` this is `fit_stream(exemplars, EftEngine(...))`, unchanged. Otherwise
    exemplars are taken in chunks of `chunk_size`; each chunk's hypotheses go through the engines
    (continuous batching inside each), then the chunk's results come out in input order.
    """

    def __init__(
        self,
        regressor,
        variables: dict,
        body_model: body.BodyModel,
        config: ml_collections.ConfigDict,
        *,
        crop_size: int = 224,
        pose_prior: Callable[[np.ndarray], float] = pose_norm_prior,
        chunk_size: int | None = None,
        **engine_options: Any,
    ):
        count = int(config.get("hypotheses", 1))
        if not 1 <= count <= len(HYPOTHESES):
            raise ValueError(f"hypotheses must be 1..{len(HYPOTHESES)}, got {count}")
        self.hypotheses = HYPOTHESES[:count]
        self.config = config
        self.tie_tolerance = float(config.get("hypothesis_tie_tolerance", 0.0))
        self.pose_prior = pose_prior
        self.body_model = body_model
        self.engine = EftEngine(
            regressor, variables, body_model, config, crop_size=crop_size, **engine_options
        )
        self.turned_engine = None
        if any("turned" in h for h in self.hypotheses):
            self.turned_engine = EftEngine(
                TurnedRegressor(regressor),
                variables,
                body_model,
                config,
                crop_size=crop_size,
                **engine_options,
            )
        self.chunk_size = int(chunk_size or 4 * self.engine.batch_size)
        settings, keypoint_weights = self.engine.settings, self.engine.frozen.keypoint_weights

        def score(rotmats, betas, camera, keypoints, frame):
            joints = body.forward(body_model, rotmats, betas).spin49
            if frame is None:
                projected = weak_perspective(joints, camera)
            else:
                projected = full_frame_projection(joints, camera, frame)
            terms = eft_loss(projected, keypoints, betas, camera, keypoint_weights, settings)
            return terms.keypoint_loss, terms.keypoint_error_px, projected

        self._score = jax.jit(score)

    @property
    def batch_size(self) -> int:
        return self.engine.batch_size

    @property
    def crop_size(self) -> int:
        return self.engine.crop_size

    def fit_stream(self, exemplars: Iterable[Exemplar]) -> Iterator[FitResult]:
        if len(self.hypotheses) == 1:
            yield from fit_stream(exemplars, self.engine)
            return
        chunk: list[Exemplar] = []
        for exemplar in exemplars:
            chunk.append(exemplar)
            if len(chunk) == self.chunk_size:
                yield from self._fit_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._fit_chunk(chunk)

    def _fit_chunk(self, chunk: list[Exemplar]) -> list[FitResult]:
        runs: dict[tuple[Hashable, str], FitResult] = {}
        for engine, turned in ((self.engine, False), (self.turned_engine, True)):
            names = [h for h in self.hypotheses if ("turned" in h) == turned]
            if not names:
                continue
            inputs = [
                dataclasses.replace(self._hypothesis(exemplar, name), id=(i, name))
                for i, exemplar in enumerate(chunk)
                for name in names
            ]
            for result in fit_stream(inputs, engine):
                runs[result.id] = result
        return [
            self._combine(exemplar, [runs[(i, h)] for h in self.hypotheses])
            for i, exemplar in enumerate(chunk)
        ]

    def _hypothesis(self, exemplar: Exemplar, name: str) -> Exemplar:
        """The exemplar a hypothesis fits: the exemplar itself, or its mirror image (module
        docstring), with the box and intrinsics of the mirrored image under the full-frame
        camera."""
        if "mirrored" not in name:
            return exemplar
        mirrored = dataclasses.replace(
            exemplar,
            image=mirror_image(exemplar.image),
            keypoints=mirror_keypoints(exemplar.keypoints),
        )
        if self.engine.camera != "full_frame":
            return mirrored
        intrinsics = exemplar.intrinsics(self.engine.focal_px)
        if isinstance(intrinsics, str):  # the plain hypothesis is skipped with the reason
            return mirrored
        focal, principal = intrinsics
        center, scale = exemplar.box()
        return dataclasses.replace(
            mirrored,
            center=np.array([2.0 * principal[0] - center[0], center[1]]),
            scale=scale,
            focal_length=focal,
            principal_point=principal,
        )

    def _combine(self, exemplar: Exemplar, results: list[FitResult]) -> FitResult:
        plain = results[0]
        if plain.skipped:  # the exemplar itself cannot be fitted; its hypotheses neither
            return dataclasses.replace(plain, id=exemplar.id)
        keypoints = np.array(exemplar.keypoints, np.float32)
        keypoints[keypoints[:, 2] == 0, :2] = 0.0
        frame = None
        if self.engine.camera == "full_frame":
            frame, _ = full_frame_of(exemplar, self.engine.focal_px)
        candidates, losses, energies = [], [], []
        for name, result in zip(self.hypotheses, results):
            if result.skipped:
                candidates.append(None), losses.append(None), energies.append(np.inf)
                continue
            rotmats, camera, translation = result.rotmats, result.camera, result.translation
            if "mirrored" in name:
                rotmats, camera = mirror_rotmats(rotmats), mirror_camera(camera)
                if translation is not None:
                    translation = translation * np.array([-1.0, 1.0, 1.0], np.float32)
            loss, error_px, projected = jax.device_get(
                self._score(rotmats, result.betas, camera, keypoints, frame)
            )
            candidates.append(
                (rotmats, camera, translation, float(loss), float(error_px), np.asarray(projected))
            )
            losses.append(float(loss) if np.isfinite(loss) else None)
            energies.append(self.pose_prior(np.asarray(rotmat_to_axis_angle(rotmats))))
        kept = choose(losses, energies, self.tie_tolerance)
        rotmats, camera, translation, loss, error_px, projected = candidates[kept]
        result = results[kept]
        return MultiStartResult(
            id=exemplar.id,
            stop_reason=result.stop_reason,
            iterations=result.iterations,
            rotmats=np.asarray(rotmats, np.float32),
            pose_axis_angle=np.asarray(rotmat_to_axis_angle(rotmats), np.float32),
            betas=result.betas,
            camera=np.asarray(camera, np.float32),
            keypoints_2d=projected,
            keypoint_loss_before=plain.keypoint_loss_before,
            keypoint_loss_after=loss,
            keypoint_error_px_before=plain.keypoint_error_px_before,
            keypoint_error_px_after=error_px,
            translation=translation,
            focal_length=plain.focal_length,
            principal_point=plain.principal_point,
            hypothesis=self.hypotheses[kept],
            hypothesis_losses=losses,
            total_iterations=sum(r.iterations for r in results),
        )
