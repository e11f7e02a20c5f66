"""SMPLify after SPIN's port (nkolot/SPIN smplify/): optimise the body's pose, shape and camera
translation directly against 2D keypoints, with a GMM pose prior, B exemplars at a time.

Per exemplar (pure functions; `jax.vmap` runs a batch, each exemplar with its own Adam state, as
SPIN's batch-summed loss with elementwise Adam amounts to):

    stage 1 (smplify.py:71-91)  global orientation + camera translation, `camera_iters` Adam steps on
                                 camera_loss = sum over torso joints |proj - k|^2 + depth_w^2 (t_z - t_z,init)^2
    stage 2 (smplify.py:96-118) body pose + betas + global orientation (translation fixed, as SPIN),
                                 `body_iters` Adam steps on
                                 body_loss = sum_j c_j^2 sum_xy gmof(proj - k, sigma)
                                           + w_pose^2 GMM(body pose) + w_angle^2 sum exp(+-bend)^2
                                           + w_shape^2 |betas|^2

The camera is SPIN's perspective camera: focal 5000 px, principal point at the centre of the
224 px crop, keypoints in pixels (losses.py:36-38, trainer.py:142, 191). With `camera=full_frame`
(docs/camera.md) it is instead the pinhole camera of the whole image (each exemplar's
`FullFrame`: box and intrinsics), the translation lives in that camera's frame (initialised
through the box from the crop camera, CLIFF's `cam_crop2full`), and the projected joints are
expressed in pixels of the 224 px crop before the same losses compare them, so the Geman-McClure
sigma and every weight keep their meaning. Torso joints in stage 1
are OpenPose's hips and shoulders when all four are present, else the ground-truth ones
(losses.py:72-84). Stage 2 ignores OP Neck, OP RHip, OP LHip and both ground-truth hips
(smplify.py:28-29, 105) and every slot the body model cannot produce. All weights, step sizes and
iteration counts are fields of `configs/smplify.py`.

Two deviations from SPIN, both confined to inputs SPIN never sees in training: a stage-1 torso
joint with confidence 0 is left out (SPIN would pull it to its stored coordinates), and the initial
translation for a fit from the mean pose (SPIN always starts from its regressor) is original
SMPLify's: depth from the torso's 3D and 2D lengths by similar triangles (`guess_translation`).

    smplify = Smplify(body_model, config)                  # configs/smplify.py
    init = smplify.init_from_regressor(rotmats, betas, camera)   # or smplify.init_from_mean(keypoints)
    outcome = smplify.fit(init, keypoints)                 # batched arrays, see SmplifyOutcome
    results = smplify.results(ids, outcome)                # FitResults, as EFT's engine gives
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from eft_jax import body
from eft_jax.body.joint_sets import NUM_SMPL_JOINTS
from eft_jax.fitting.exemplar import Exemplar, check_camera, full_frame_of
from eft_jax.fitting.pose_prior import PosePrior, load_pose_prior, max_mixture_nll
from eft_jax.fitting.result import MAX_ITERS, FitResult
from eft_jax.formats.exemplar import exemplar_problem
from eft_jax.geometry import (
    FullFrame,
    axis_angle_to_rotmat,
    crop_to_full_translation,
    full_to_crop_camera,
    image_to_crop,
    perspective_to_weak,
    pinhole,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
    weak_to_perspective_translation,
)
from eft_jax.nets.mean_params import bundled_mean_params

_NAMES = list(body.SPIN49_NAMES)
# losses.py:72-75: OpenPose torso joints, and the ground-truth ones used when any OpenPose one is missing.
OPENPOSE_TORSO = tuple(
    _NAMES.index(n) for n in ("OP RHip", "OP LHip", "OP RShoulder", "OP LShoulder")
)
GT_TORSO = tuple(
    _NAMES.index(n) for n in ("Right Hip", "Left Hip", "Right Shoulder", "Left Shoulder")
)
# losses.py:24: full-pose indices 55, 58, 12, 15 (left elbow y, right elbow y, left knee x, right knee
# x), minus 3 for the body pose, with signs +1, -1, -1, -1 (exp of the unnatural bend).
ANGLE_PRIOR_INDICES = (52, 55, 9, 12)
ANGLE_PRIOR_SIGNS = (1.0, -1.0, -1.0, -1.0)
PARAM_NAMES = ("global_orient", "body_pose", "betas", "translation")


@dataclasses.dataclass(frozen=True)
class SmplifySettings:
    """The constants of `configs/smplify.py`, hashable so they can be static under `jit`."""

    focal_length: float = 5000.0
    crop_size: int = 224
    camera: str = "crop"
    focal_px: float = 0.0
    learning_rate: float = 1e-2
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    camera_iters: int = 100
    body_iters: int = 100
    depth_weight: float = 100.0
    body_stage_camera: bool = False
    sigma: float = 100.0
    pose_prior_weight: float = 4.78
    angle_prior_weight: float = 15.2
    shape_prior_weight: float = 5.0
    ignored_joints: tuple = ("OP Neck", "OP RHip", "OP LHip", "Right Hip", "Left Hip")

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> SmplifySettings:
        opt, loss = config.optimizer, config.loss
        return cls(
            focal_length=float(config.focal_length),
            crop_size=int(config.crop_size),
            camera=check_camera(config.get("camera", "crop")),
            focal_px=float(config.get("focal_px", 0.0)),
            learning_rate=float(opt.learning_rate),
            b1=float(opt.b1),
            b2=float(opt.b2),
            eps=float(opt.eps),
            camera_iters=int(config.camera_iters),
            body_iters=int(config.body_iters),
            depth_weight=float(config.depth_weight),
            body_stage_camera=bool(config.body_stage_camera),
            sigma=float(loss.sigma),
            pose_prior_weight=float(loss.pose_prior_weight),
            angle_prior_weight=float(loss.angle_prior_weight),
            shape_prior_weight=float(loss.shape_prior_weight),
            ignored_joints=tuple(loss.ignored_joints),
        )

    @property
    def iterations(self) -> int:
        return self.camera_iters + self.body_iters

    def slot_mask(self, available: np.ndarray) -> np.ndarray:
        """(49,) float32: 1 where stage 2 uses a slot (the model has it and it is not ignored)."""
        unknown = [name for name in self.ignored_joints if name not in _NAMES]
        if unknown:
            raise ValueError(f"unknown ignored joint(s) {unknown}; SPIN-49 names: {_NAMES}")
        mask = np.asarray(available, bool).copy()
        mask[[_NAMES.index(name) for name in self.ignored_joints]] = False
        return mask.astype(np.float32)


@flax.struct.dataclass
class Shared:
    """What every exemplar's fit reads and never changes."""

    body_model: body.BodyModel | body.JointsModel  # the joints-only view unless joints_only=False
    prior: PosePrior
    available: jax.Array  # (49,) float: slots the body model produces
    slot_mask: jax.Array  # (49,) float: slots stage 2 uses


@flax.struct.dataclass
class BodyTerms:
    total: jax.Array
    reprojection: jax.Array  # sum over joints of c^2 gmof
    pose_prior: jax.Array  # weighted
    angle_prior: jax.Array  # weighted
    shape_prior: jax.Array  # weighted


@flax.struct.dataclass
class SmplifyOutcome:
    """Per exemplar (leading batch axis on every leaf)."""

    params: dict  # global_orient (3,), body_pose (69,), betas (10,), translation (3,)
    keypoints_2d: jax.Array  # (49, 2) fitted keypoints in crop coordinates [-1, 1]
    keypoint_loss_before: (
        jax.Array
    )  # SPIN's fit quality: mean over the 49 keypoints of c^2 gmof (trainer.py:151-153)
    keypoint_loss_after: jax.Array
    keypoint_error_px_before: (
        jax.Array
    )  # confidence-weighted mean distance, pixels of a 224 px crop
    keypoint_error_px_after: jax.Array
    terms: BodyTerms  # stage-2 loss terms at the final parameters


# -- the camera and the loss terms ------------------------------------------------------------


def project(points, translation, focal_length: float, crop_size: float):
    """SPIN's `perspective_projection` with identity rotation: (K, 3) -> (K, 2) pixels of the crop."""
    camera_points = points + translation
    return focal_length * camera_points[:, :2] / camera_points[:, 2:] + 0.5 * crop_size


def project_to_crop(points, translation, settings: SmplifySettings, frame: FullFrame | None):
    """(K, 3) points -> (K, 2) pixels of the crop: SPIN's crop camera (`project`) when `frame` is
    None, else the full image's pinhole camera at `translation`, its pixels mapped into the box
    and scaled to the crop's pixels (a residual of one image pixel weighs crop_size / b)."""
    if frame is None:
        return project(points, translation, settings.focal_length, settings.crop_size)
    pixels = pinhole(points, translation, frame.focal, frame.principal_point)
    return (image_to_crop(pixels, frame) + 1.0) * (0.5 * settings.crop_size)


def gmof(residual, sigma: float):
    """Geman-McClure robust error (losses.py:11-17)."""
    squared = residual**2
    return sigma**2 * squared / (sigma**2 + squared)


def angle_prior(body_pose):
    """(69,) -> (4,): exp(signed bend)^2 of the elbows and knees (losses.py:19-24)."""
    return (
        jnp.exp(body_pose[jnp.asarray(ANGLE_PRIOR_INDICES)] * jnp.asarray(ANGLE_PRIOR_SIGNS)) ** 2
    )


def _full_pose(params) -> jax.Array:
    return jnp.concatenate([params["global_orient"], params["body_pose"]]).reshape(24, 3)


def _joints(params, shared: Shared):
    if isinstance(shared.body_model, body.JointsModel):
        return body.forward_joints(shared.body_model, _full_pose(params), params["betas"]).spin49
    return body.forward(shared.body_model, _full_pose(params), params["betas"]).spin49


def camera_loss(
    params,
    init_translation,
    joints,
    keypoints_px,
    confidence,
    shared: Shared,
    settings: SmplifySettings,
    frame: FullFrame | None = None,
):
    """Stage 1 (losses.py:60-90): torso reprojection (OpenPose joints if all four are present,
    else the ground-truth ones with confidence) + the pull towards the initial depth."""
    projected = project_to_crop(joints, params["translation"], settings, frame)
    openpose, gt = jnp.asarray(OPENPOSE_TORSO), jnp.asarray(GT_TORSO)
    error_op = (
        jnp.sum((keypoints_px[openpose] - projected[openpose]) ** 2, axis=-1)
        * shared.available[openpose]
    )
    error_gt = jnp.sum((keypoints_px[gt] - projected[gt]) ** 2, axis=-1) * shared.available[gt]
    use_openpose = jnp.min(confidence[openpose] * shared.available[openpose]) > 0
    reprojection = jnp.where(
        use_openpose, jnp.sum(error_op), jnp.sum(error_gt * (confidence[gt] > 0))
    )
    depth = settings.depth_weight**2 * (params["translation"][2] - init_translation[2]) ** 2
    return reprojection + depth


def reprojection_per_joint(projected, keypoints_px, weights, sigma: float):
    """(49,) c^2 * sum_xy gmof(projected - keypoint) (losses.py:40-42)."""
    return weights**2 * jnp.sum(gmof(projected - keypoints_px, sigma), axis=-1)


def body_loss(
    params,
    joints,
    keypoints_px,
    weights,
    shared: Shared,
    settings: SmplifySettings,
    frame: FullFrame | None = None,
) -> BodyTerms:
    """Stage 2 (losses.py:26-58) for one exemplar; `weights` = confidence x stage-2 slot mask."""
    projected = project_to_crop(joints, params["translation"], settings, frame)
    reprojection = jnp.sum(reprojection_per_joint(projected, keypoints_px, weights, settings.sigma))
    pose = settings.pose_prior_weight**2 * max_mixture_nll(shared.prior, params["body_pose"])
    angle = settings.angle_prior_weight**2 * jnp.sum(angle_prior(params["body_pose"]))
    shape = settings.shape_prior_weight**2 * jnp.sum(params["betas"] ** 2)
    return BodyTerms(reprojection + pose + angle + shape, reprojection, pose, angle, shape)


# smplify_public fit_3d.py `initialize_camera`: shoulder-to-hip lengths, per side.
TORSO_SIDES = tuple(
    (_NAMES.index(shoulder), _NAMES.index(hip))
    for shoulder, hip in (
        ("OP RShoulder", "OP RHip"),
        ("OP LShoulder", "OP LHip"),
        ("Right Shoulder", "Right Hip"),
        ("Left Shoulder", "Left Hip"),
    )
)


def guess_translation(joints, keypoints_px, visible, settings: SmplifySettings, fallback):
    """SMPLify's initial camera translation for a body (joints (K, 3)) and keypoints (K, 2) with
    `visible` (K,) in {0, 1}: depth by similar triangles, t_z = f x (model torso length) / (2D torso
    length) over the shoulder-hip sides visible in 2D (original SMPLify, `initialize_camera`; the
    model's length is taken in x, y, the plane the camera sees);
    without any visible side, the spread of all visible joints stands in for the torso length.
    t_x, t_y then centre the visible joints on their keypoints. `fallback` (3,) when neither
    gives a positive finite depth (fewer than two keypoints)."""
    f, centre = settings.focal_length, 0.5 * settings.crop_size
    shoulders, hips = (jnp.asarray(i) for i in zip(*TORSO_SIDES))
    side = visible[shoulders] * visible[hips]
    length_3d = jnp.linalg.norm(joints[shoulders, :2] - joints[hips, :2], axis=-1)
    length_2d = jnp.linalg.norm(keypoints_px[shoulders] - keypoints_px[hips], axis=-1)
    count = jnp.maximum(jnp.sum(visible), 1.0)
    mean_3d = jnp.sum(visible[:, None] * joints, 0) / count
    mean_2d = jnp.sum(visible[:, None] * keypoints_px, 0) / count
    spread_3d = jnp.sqrt(jnp.sum(visible * jnp.sum((joints[:, :2] - mean_3d[:2]) ** 2, -1)))
    spread_2d = jnp.sqrt(jnp.sum(visible * jnp.sum((keypoints_px - mean_2d) ** 2, -1)))
    has_torso = jnp.sum(side) > 0
    ratio = jnp.where(has_torso, jnp.sum(side * length_3d), spread_3d) / jnp.maximum(
        jnp.where(has_torso, jnp.sum(side * length_2d), spread_2d), 1e-6
    )
    depth = f * ratio
    valid = (depth > 0) & jnp.isfinite(depth) & (ratio < 1e3) & (jnp.sum(visible) >= 2)
    depth = jnp.where(valid, depth, fallback[2])
    # u = f (X + t_x) / (Z + t_z) + c, averaged over the visible joints.
    shift = (keypoints_px - centre) * (joints[:, 2:] + depth) / f - joints[:, :2]
    xy = jnp.sum(visible[:, None] * shift, 0) / count
    return jnp.where(valid, jnp.concatenate([xy, depth[None]]), fallback)


# -- one exemplar's fit ----------------------------------------------------------------------


CAMERA_STAGE_PARAMS = ("global_orient", "translation")  # smplify.py:73-78
BODY_STAGE_PARAMS = ("global_orient", "body_pose", "betas")  # smplify.py:98-102


def fit_one(
    init: dict,
    keypoints,
    shared: Shared,
    settings: SmplifySettings,
    iterations=None,
    frame: FullFrame | None = None,
) -> SmplifyOutcome:
    """SMPLify on one exemplar: init (PARAM_NAMES -> arrays), keypoints (49, 3) crop coordinates in
    [-1, 1] with confidence (zero-confidence coordinates must be finite). `iterations`: (camera,
    body) Adam steps, default the settings' (may be traced, so one compiled fit serves all counts).
    `frame`: the exemplar's FullFrame with camera=full_frame (the translation is then in the full
    image's camera frame), None with the crop camera.

    Both stages run in one loop over camera + body steps whose loss and free parameters switch
    at the stage boundary, where the Adam state starts afresh (SPIN builds a new optimiser,
    smplify.py:107). A parameter outside the stage gets a zero gradient and, its Adam moments
    being zero, a zero update, exactly as if it were not optimised. (One loop traces the body
    model's forward and backward pass once instead of once per stage, which shortens compilation.)"""
    camera_iters, body_iters = (
        (settings.camera_iters, settings.body_iters) if iterations is None else iterations
    )
    optimizer = optax.adam(settings.learning_rate, b1=settings.b1, b2=settings.b2, eps=settings.eps)
    keypoints_px = (keypoints[:, :2] + 1.0) * (0.5 * settings.crop_size)
    confidence = keypoints[:, 2]
    weights = confidence * shared.slot_mask
    body_free = BODY_STAGE_PARAMS + (("translation",) if settings.body_stage_camera else ())

    def loss(params, in_camera_stage):
        joints = _joints(params, shared)
        camera = camera_loss(
            params, init["translation"], joints, keypoints_px, confidence, shared, settings, frame
        )
        return jnp.where(
            in_camera_stage,
            camera,
            body_loss(params, joints, keypoints_px, weights, shared, settings, frame).total,
        )

    def step(i, carry):
        params, state = carry
        in_camera_stage = i < camera_iters
        state = jax.tree.map(
            lambda fresh, s: jnp.where(i == camera_iters, fresh, s), optimizer.init(params), state
        )
        grads = jax.grad(loss)(params, in_camera_stage)
        grads = {
            name: g * jnp.where(in_camera_stage, name in CAMERA_STAGE_PARAMS, name in body_free)
            for name, g in grads.items()
        }
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    final, _ = jax.lax.fori_loop(0, camera_iters + body_iters, step, (init, optimizer.init(init)))

    def evaluate(params):
        joints = _joints(params, shared)
        projected = project_to_crop(joints, params["translation"], settings, frame)
        per_joint = reprojection_per_joint(projected, keypoints_px, weights, settings.sigma)
        distance = jnp.linalg.norm(projected - keypoints_px, axis=-1)
        error_px = jnp.sum(weights * distance) / jnp.maximum(jnp.sum(weights), 1e-12)
        terms = body_loss(params, joints, keypoints_px, weights, shared, settings, frame)
        return projected, jnp.mean(per_joint), error_px, terms

    # Before and after in one traced evaluation (vmapped over the two parameter sets).
    projected, keypoint_loss, error_px, terms = jax.vmap(evaluate)(
        jax.tree.map(lambda a, b: jnp.stack([a, b]), init, final)
    )
    return SmplifyOutcome(
        params=final,
        keypoints_2d=projected[1] / (0.5 * settings.crop_size) - 1.0,
        keypoint_loss_before=keypoint_loss[0],
        keypoint_loss_after=keypoint_loss[1],
        keypoint_error_px_before=error_px[0],
        keypoint_error_px_after=error_px[1],
        terms=jax.tree.map(lambda t: t[1], terms),
    )


# -- the batched driver ----------------------------------------------------------------------


def keypoints_problem(keypoints: np.ndarray, slot_mask: np.ndarray) -> str | None:
    """Why SMPLify cannot fit these (49, 3) keypoints, or None."""
    # The readers' keypoint checks; a one-pixel image passes the image checks.
    problem = exemplar_problem(np.zeros((1, 1, 3), np.float32), keypoints)
    if problem is not None:
        return problem
    if not np.any((np.asarray(keypoints)[:, 2] > 0) & (slot_mask > 0)):
        return "no keypoint has weight in SMPLify's loss (all confidences zero where SMPLify's slots are used)"
    return None


class Smplify:
    """SMPLify over batches of exemplars for one body model, pose prior and config.

    `joints_only=True` (default) fits on `body.joints_model(body_model)`, which gives the same
    keypoints without posing the whole mesh (results are the same up to float rounding).
    """

    def __init__(
        self,
        body_model: body.BodyModel,
        config: ml_collections.ConfigDict,
        *,
        prior: PosePrior | None = None,
        joints_only: bool = True,
    ):
        self.config = config
        self.settings = SmplifySettings.from_config(config)
        if self.settings.camera_iters < 0 or self.settings.body_iters < 0:
            raise ValueError("camera_iters and body_iters must be non-negative")
        self.body_model = body_model
        self.prior = load_pose_prior(config.pose_prior) if prior is None else prior
        fitted_model = (
            body.joints_model(body_model, include_h36m=False) if joints_only else body_model
        )
        available = np.asarray(body_model.spin49_available, np.float32)
        self.slot_mask = self.settings.slot_mask(available)
        self.shared = Shared(
            fitted_model, self.prior, jnp.asarray(available), jnp.asarray(self.slot_mask)
        )
        self.batch_size = int(config.batch_size)
        self._fit_settings = dataclasses.replace(self.settings, camera_iters=0, body_iters=0)
        self._fit = _compiled_fit(self._fit_settings)
        self._iterations = (
            jnp.int32(self.settings.camera_iters),
            jnp.int32(self.settings.body_iters),
        )
        self._mean_translation = _compiled_mean_translation(self._fit_settings)

    # -- initialisation ------------------------------------------------------------------

    def init_from_regressor(self, rotmats, betas, camera, frames: FullFrame | None = None) -> dict:
        """Batched init from the regressor's (B, 24, 3, 3) rotations, (B, 10) betas and (B, 3)
        EFT-convention weak-perspective cameras (SPIN trainer.py:164-166, 181-194); with
        camera=full_frame, `frames` (stacked FullFrames) turn the cameras into translations in the
        full image's camera frame (`geometry.crop_to_full_translation`)."""
        pose = np.asarray(rotmat_to_axis_angle(jnp.asarray(rotmats))).reshape(-1, 72)
        if frames is None:
            translation = weak_to_perspective_translation(
                camera,
                focal=self.settings.focal_length,
                crop_size=self.settings.crop_size,
                convention="eft",
            )
        else:
            translation = crop_to_full_translation(jnp.asarray(camera, jnp.float32), frames)
        return {
            "global_orient": jnp.asarray(pose[:, :3]),
            "body_pose": jnp.asarray(pose[:, 3:]),
            "betas": jnp.asarray(betas, jnp.float32),
            "translation": jnp.asarray(translation, jnp.float32),
        }

    def init_from_mean(self, keypoints, mean_params=None, frames: FullFrame | None = None) -> dict:
        """Batched init from the mean pose and betas (`mean_params`, default the bundled open
        body's; `eft_jax.nets.MeanParams`) with SMPLify's torso-based initial translation
        (`guess_translation`) for (B, 49, 3) keypoints; with `frames`, that translation's crop
        camera turned into the full image's camera frame, as the regressor's is."""
        mean = bundled_mean_params() if mean_params is None else mean_params
        rotmats = rot6d_to_rotmat(jnp.asarray(mean.pose).reshape(24, 6))
        pose = np.asarray(rotmat_to_axis_angle(rotmats)).reshape(72)
        keypoints = _finite_keypoints(np.asarray(keypoints, np.float32))
        count = keypoints.shape[0]
        fallback = weak_to_perspective_translation(
            mean.cam,
            focal=self.settings.focal_length,
            crop_size=self.settings.crop_size,
            convention="eft",
        )
        params = {
            "global_orient": jnp.asarray(np.tile(pose[:3], (count, 1))),
            "body_pose": jnp.asarray(np.tile(pose[3:], (count, 1))),
            "betas": jnp.asarray(np.tile(mean.shape, (count, 1))),
        }
        one = {k: v[0] for k, v in params.items()}
        params["translation"] = self._mean_translation(
            one, jnp.asarray(keypoints), self.shared, fallback
        )
        if frames is not None:
            crop_camera = perspective_to_weak(
                params["translation"],
                focal=self.settings.focal_length,
                crop_size=self.settings.crop_size,
            )
            params["translation"] = crop_to_full_translation(crop_camera, frames)
        return params

    # -- fitting -------------------------------------------------------------------------

    def fit(self, init: dict, keypoints, frames: FullFrame | None = None) -> SmplifyOutcome:
        """Fit a batch: `init` (PARAM_NAMES -> (B, ...) arrays), keypoints (B, 49, 3), and with
        camera=full_frame the exemplars' stacked FullFrames. Coordinates of zero-confidence slots
        are ignored (set to 0), so missing joints marked NaN are harmless."""
        if (frames is None) != (self.settings.camera == "crop"):
            raise ValueError(
                f"camera={self.settings.camera}: frames are for camera=full_frame only"
            )
        keypoints = _finite_keypoints(np.asarray(keypoints, np.float32))
        init = {name: jnp.asarray(init[name], jnp.float32) for name in PARAM_NAMES}
        return self._fit(init, jnp.asarray(keypoints), self.shared, self._iterations, frames)

    def problem(self, keypoints) -> str | None:
        return keypoints_problem(keypoints, self.slot_mask)

    def results(
        self, ids: Sequence[Hashable], outcome: SmplifyOutcome, frames: FullFrame | None = None
    ) -> list[FitResult]:
        """FitResults (EFT's convention: rotmats, betas, weak-perspective camera [s, tx, ty] with
        x = s X + t in the crop) for the first len(ids) exemplars of a fitted batch; with `frames`
        (camera=full_frame) the camera is the crop camera of the full-frame translation's
        weak-perspective limit, and the translation and intrinsics are kept too."""
        outcome = jax.device_get(outcome)
        params = outcome.params
        pose = np.concatenate([params["global_orient"], params["body_pose"]], axis=-1).reshape(
            -1, NUM_SMPL_JOINTS, 3
        )
        rotmats = np.asarray(axis_angle_to_rotmat(jnp.asarray(pose)))
        if frames is None:
            camera = np.asarray(
                perspective_to_weak(
                    params["translation"],
                    focal=self.settings.focal_length,
                    crop_size=self.settings.crop_size,
                )
            )
        else:
            frames = jax.device_get(frames)
            camera = np.asarray(full_to_crop_camera(jnp.asarray(params["translation"]), frames))
        results = []
        for i, exemplar_id in enumerate(ids):
            values = [
                pose[i],
                params["betas"][i],
                params["translation"][i],
                outcome.keypoint_loss_after[i],
            ]
            if not all(np.all(np.isfinite(v)) for v in values) or params["translation"][i][2] <= 0:
                results.append(
                    FitResult.skip(
                        exemplar_id,
                        "non-finite or degenerate SMPLify result",
                        self.settings.iterations,
                    )
                )
                continue
            results.append(
                FitResult(
                    id=exemplar_id,
                    stop_reason=MAX_ITERS,
                    iterations=self.settings.iterations,
                    rotmats=rotmats[i],
                    pose_axis_angle=pose[i],
                    betas=np.asarray(params["betas"][i]),
                    camera=camera[i],
                    keypoints_2d=np.asarray(outcome.keypoints_2d[i]),
                    keypoint_loss_before=float(outcome.keypoint_loss_before[i]),
                    keypoint_loss_after=float(outcome.keypoint_loss_after[i]),
                    keypoint_error_px_before=float(outcome.keypoint_error_px_before[i]),
                    keypoint_error_px_after=float(outcome.keypoint_error_px_after[i]),
                    **(
                        {}
                        if frames is None
                        else {
                            "translation": np.asarray(params["translation"][i]),
                            "focal_length": np.asarray(frames.focal[i]),
                            "principal_point": np.asarray(frames.principal_point[i]),
                        }
                    ),
                )
            )
        return results


def smplify_stream(
    exemplars: Iterable[Exemplar],
    smplify: Smplify,
    *,
    predict: Callable | None = None,
    crop_size: int | None = None,
) -> Iterator[FitResult]:
    """SMPLify every exemplar once, `smplify.batch_size` at a time; yield a FitResult per exemplar
    (fits and skips). `predict`: images (B, S, S, 3) -> (rotmats, betas, cameras) of a regressor
    to start from (SPIN's way); None starts from the mean pose and then needs no image. The last
    batch is padded (with copies of its last exemplar), so every batch has one compiled shape."""
    batch: list[tuple[Exemplar, FullFrame | None]] = []
    for exemplar in exemplars:
        reason, frame = smplify.problem(exemplar.keypoints), None
        if reason is None and smplify.settings.camera == "full_frame":
            frame, reason = full_frame_of(exemplar, smplify.settings.focal_px)
        if reason is None and predict is not None:
            image = np.asarray(exemplar.image)
            if image.shape != (crop_size, crop_size, 3):
                reason = f"image has shape {image.shape}, expected ({crop_size}, {crop_size}, 3)"
            else:
                reason = exemplar_problem(image, exemplar.keypoints)
        if reason is not None:
            yield FitResult.skip(exemplar.id, reason)
            continue
        batch.append((exemplar, frame))
        if len(batch) == smplify.batch_size:
            yield from _fit_batch(batch, smplify, predict)
            batch = []
    if batch:
        yield from _fit_batch(batch, smplify, predict)


def _fit_batch(
    batch: list[tuple[Exemplar, FullFrame | None]], smplify: Smplify, predict: Callable | None
) -> list[FitResult]:
    padded = batch + [batch[-1]] * (smplify.batch_size - len(batch))
    keypoints = np.stack([np.asarray(e.keypoints, np.float32) for e, _ in padded])
    frames = None
    if smplify.settings.camera == "full_frame":
        frames = jax.tree.map(
            lambda *leaves: jnp.asarray(np.stack(leaves)), *[f for _, f in padded]
        )
    if predict is None:
        init = smplify.init_from_mean(keypoints, frames=frames)
    else:
        init = smplify.init_from_regressor(
            *predict(np.stack([np.asarray(e.image, np.float32) for e, _ in padded])), frames=frames
        )
    outcome = smplify.fit(init, keypoints, frames)
    return smplify.results([e.id for e, _ in batch], outcome, frames)


@functools.lru_cache(maxsize=8)
def _compiled_fit(settings: SmplifySettings):
    """The jitted, vmapped `fit_one` for settings without iteration counts (those are arguments),
    shared by every `Smplify` with these settings, so a second instance compiles nothing new."""

    def batched(init, keypoints, shared, iterations, frames):
        return jax.vmap(lambda i, k, f: fit_one(i, k, shared, settings, iterations, f))(
            init, keypoints, frames
        )

    return jax.jit(batched)


@functools.lru_cache(maxsize=8)
def _compiled_mean_translation(settings: SmplifySettings):
    """Jitted: SMPLify's initial translation of one body (params) for (B, 49, 3) keypoints."""

    def one(params, keypoints, shared: Shared, fallback):
        joints = _joints(params, shared)
        keypoints_px = (keypoints[:, :2] + 1.0) * (0.5 * settings.crop_size)
        visible = (keypoints[:, 2] * shared.available > 0).astype(joints.dtype)
        return guess_translation(joints, keypoints_px, visible, settings, fallback)

    return jax.jit(jax.vmap(one, in_axes=(None, 0, None, None)))


def _finite_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """Zero the coordinates of zero-confidence (or non-finite) slots and non-finite confidences."""
    keypoints = np.array(keypoints, np.float32)
    bad = ~np.isfinite(keypoints).all(-1) | ~(keypoints[..., 2] > 0)
    keypoints[bad] = 0.0
    return keypoints
