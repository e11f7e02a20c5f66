"""How much to trust a fit without its ground truth: quality signals and one calibrated score.

    signals = QualitySignals(model)(rotmats, betas, camera, keypoints, iterations=..., ...)
    score = read_calibration()["models"]["eft"].score(signals)   # (N,) in [0, 1]: P(good fit)
    scorer = QualityScorer(model, method="eft", max_iters=100, regressor=..., variables=...)
    scorer.fields(result, exemplar)        # {"quality_residual_all": ..., "quality_score": ...}

Signals (`quality_signals`, batched and jitted; each a named field, `quality_<name>` in the fit log
and the EFT JSON), made comparable across regressors and bodies: lengths are fractions of the
fitted body's height (`height`: the extent of its SPIN-49 keypoints in the rest pose), 2D
distances fractions of the crop box's side. Keypoints are projected through the fit's own camera:
the crop camera's weak perspective [s, tx, ty], or, for a full-frame fit (`full_frame`: its
translation and `geometry.FullFrame`, docs/camera.md), the pinhole camera of the whole image,
expressed in the box's coordinates as the full-frame loss compares them.

- residual_<part>: the confidence-weighted mean 2D distance between the fit's projected SPIN-49
  keypoints and the input keypoints of one body part (head, torso, left/right arm, left/right
  leg), and over all of them (`residual_all`); absent for a part with no visible keypoint;
- turned_residual, mirrored_residual: `residual_all` of the fit turned 180 degrees about the
  vertical axis through its hips (labels kept), and of its mirror image about that axis (left and
  right keypoints exchanged, as `body/mirror.py` mirrors a pose), both without refitting: when
  either explains the keypoints about as well as the fit, its facing or sides are ambiguous;
- facing_camera_deg: the angle between the pelvis's forward direction and the direction to the
  camera (0 faces the camera, 180 faces away): the optical axis for the crop camera, the ray
  from the body to the camera for a full-frame fit;
- pose_prior_nll: SMPLify's pose prior (`pose_prior.max_mixture_nll`, the bundled GMM unless one
  is given) of the body pose;
- joint_limit_excess_deg: degrees outside the range-of-motion tables (`datasets/joint_limits.py`)
  summed over the hips, knees, spine, neck, head and elbows (the joints whose mocap frames stay
  inside the tables);
- self_intersection: the summed depth by which capsules around non-adjacent body segments
  (thighs, shins, upper arms, forearms, torso, head) overlap, over the height;
- limb_depth_mean, limb_depth_max, leg_depth_mean, torso_depth: how much the fit's limb segments
  (upper arms, forearms, thighs, shins: their mean, their most, the legs' mean) and its torso point
  along the line of sight (the sine of the angle to the image plane, 0..1; the line of sight is
  the optical axis for the crop camera, the ray to the body for a full-frame fit). A segment
  along the line of sight projects the same whether it points towards the camera or away, which
  a 2D fit cannot tell apart: the depth ambiguity behind many fits with the right 2D and the
  wrong 3D;
- moved_pa: how far the fit moved from the regressor's first prediction: the mean LSP-14 joint
  distance after Procrustes (similarity) alignment, over the height; absent without a start;
- betas_norm: the length of the betas; betas_moved: the length of their change from the
  regressor's first prediction (from zero, the mean shape, without a start). A regressor's own
  shape predictions set the scale of betas_norm, so a calibration fitted with one regressor reads
  it wrongly for another; betas_moved carries over;
- box_fill: the fitted body's projected height as a fraction of the box side (s * height / 2);
- visible_limbs: the fraction of the 12 LSP-14 limb keypoints (shoulders to ankles) given;
- iterations_fraction: iterations used over the method's most; converged: 1 when the fit stopped
  on its loss threshold (EFT's), else 0.

The score (`QualityModel`) is a logistic regression over transformed, standardised signals (a
missing signal counts as the calibration's mean), one per fitting method, fitted by
`eft_jax.eval.quality_calibration` on validation synthetic humans and stored as JSON
(`assets/quality_calibration.json`, written by `eft-jax calibrate`). The score is the probability
that the fit is good; a bad fit is defined there (docs/quality.md).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body
from eft_jax.body.joint_sets import (
    LSP14_IN_SPIN49,
    SMPL_JOINT_NAMES,
    SPIN49_MIRROR,
    SPIN49_NAMES,
)
from eft_jax.datasets.joint_limits import EULER_ORDER, JOINT_LIMITS
from eft_jax.errors import InputError
from eft_jax.fitting.exemplar import Exemplar
from eft_jax.fitting.pose_prior import PosePrior, load_pose_prior, max_mixture_nll
from eft_jax.fitting.result import CONVERGED, FitResult
from eft_jax.geometry import (
    FullFrame,
    image_to_crop,
    pinhole,
    rotmat_to_axis_angle,
    similarity_align,
    weak_perspective,
)
from eft_jax.geometry.crops import SCALE_UNIT
from eft_jax.nets import predictor

BUNDLED_CALIBRATION_PATH = Path(__file__).resolve().parent / "assets" / "quality_calibration.json"
CALIBRATION_VERSION = 1
FIELD_PREFIX = "quality_"
SCORE_FIELD = "quality_score"

PARTS = {
    "head": ("Nose", "Eye", "Ear", "Head", "Jaw", "Neck"),
    "torso": ("Shoulder", "Hip", "Pelvis", "Thorax", "Spine"),
    "left_arm": ("LElbow", "LWrist", "Left Elbow", "Left Wrist"),
    "right_arm": ("RElbow", "RWrist", "Right Elbow", "Right Wrist"),
    "left_leg": ("LKnee", "LAnkle", "LBigToe", "LSmallToe", "LHeel", "Left Knee", "Left Ankle"),
    "right_leg": ("RKnee", "RAnkle", "RBigToe", "RSmallToe", "RHeel", "Right Knee", "Right Ankle"),
}


def _part_of(name: str) -> str:
    for part in ("left_arm", "right_arm", "left_leg", "right_leg", "head", "torso"):
        if any(word in name for word in PARTS[part]):
            return part
    raise ValueError(f"no body part for SPIN-49 keypoint {name!r}")


PART_NAMES = tuple(PARTS)
# (6, 49) one-hot membership of each SPIN-49 keypoint in each part.
PART_MASKS = np.array(
    [[_part_of(name) == part for name in SPIN49_NAMES] for part in PART_NAMES], np.float32
)
LIMB_KEYPOINTS = LSP14_IN_SPIN49[:12]  # shoulders .. ankles; LSP-14 ends with neck, head top

# Joints whose range-of-motion limits the mocap frames respect (datasets/joint_limits.py).
LIMITED_JOINTS = np.array(
    [
        SMPL_JOINT_NAMES.index(n)
        for n in SMPL_JOINT_NAMES
        if any(k in n for k in ("hip", "knee", "spine", "neck", "head", "elbow"))
    ]
)

# Capsules: (SMPL joint from, SMPL joint to, radius as a fraction of the height).
_J = SMPL_JOINT_NAMES.index
CAPSULES = (
    ("left_thigh", _J("left_hip"), _J("left_knee"), 0.045),
    ("right_thigh", _J("right_hip"), _J("right_knee"), 0.045),
    ("left_shin", _J("left_knee"), _J("left_ankle"), 0.03),
    ("right_shin", _J("right_knee"), _J("right_ankle"), 0.03),
    ("left_upper_arm", _J("left_shoulder"), _J("left_elbow"), 0.025),
    ("right_upper_arm", _J("right_shoulder"), _J("right_elbow"), 0.025),
    ("left_forearm", _J("left_elbow"), _J("left_wrist"), 0.02),
    ("right_forearm", _J("right_elbow"), _J("right_wrist"), 0.02),
    ("torso", _J("pelvis"), _J("neck"), 0.07),
    ("head", _J("neck"), _J("head"), 0.05),
)
# Pairs that meet at a joint or sit side by side at the hips are not tested.
_ADJACENT = {
    frozenset(p)
    for p in (
        ("left_thigh", "left_shin"),
        ("right_thigh", "right_shin"),
        ("left_upper_arm", "left_forearm"),
        ("right_upper_arm", "right_forearm"),
        ("left_thigh", "torso"),
        ("right_thigh", "torso"),
        ("left_thigh", "right_thigh"),
        ("left_upper_arm", "torso"),
        ("right_upper_arm", "torso"),
        ("left_upper_arm", "head"),
        ("right_upper_arm", "head"),
        ("torso", "head"),
    )
}
CAPSULE_PAIRS = np.array(
    [
        (a, b)
        for a in range(len(CAPSULES))
        for b in range(a + 1, len(CAPSULES))
        if frozenset((CAPSULES[a][0], CAPSULES[b][0])) not in _ADJACENT
    ]
)
_CAPSULE_SAMPLES = np.linspace(0.0, 1.0, 8, dtype=np.float32)

SIGNALS = (
    *(f"residual_{part}" for part in PART_NAMES),
    "residual_all",
    "turned_residual",
    "mirrored_residual",
    "facing_camera_deg",
    "pose_prior_nll",
    "joint_limit_excess_deg",
    "self_intersection",
    "limb_depth_mean",
    "limb_depth_max",
    "leg_depth_mean",
    "torso_depth",
    "moved_pa",
    "betas_norm",
    "betas_moved",
    "box_fill",
    "visible_limbs",
    "iterations_fraction",
    "converged",
)


class QualityCalibrationError(InputError, ValueError):
    """A quality calibration file that cannot be used."""


def joint_angles(rotmats):
    """(..., 24, 3, 3) -> (..., 24, 3) angles about x, y, z of each joint in its Euler order
    (`joint_limits.EULER_ORDER`: "XYZ" R = Rx Ry Rz, or "YZX" R = Ry Rz Rx), radians."""
    r = rotmats
    xyz = jnp.stack(
        [
            jnp.arctan2(-r[..., 1, 2], r[..., 2, 2]),
            jnp.arcsin(jnp.clip(r[..., 0, 2], -1.0, 1.0)),
            jnp.arctan2(-r[..., 0, 1], r[..., 0, 0]),
        ],
        axis=-1,
    )
    yzx = jnp.stack(
        [
            jnp.arctan2(-r[..., 1, 2], r[..., 1, 1]),
            jnp.arctan2(-r[..., 2, 0], r[..., 0, 0]),
            jnp.arcsin(jnp.clip(r[..., 1, 0], -1.0, 1.0)),
        ],
        axis=-1,
    )
    is_yzx = jnp.asarray([order == "YZX" for order in EULER_ORDER])[:, None]
    return jnp.where(is_yzx, yzx, xyz)


def _residuals(projected, keypoints):
    """Per-part and overall confidence-weighted mean 2D distances, in box sides."""
    weight = jnp.maximum(keypoints[..., 2], 0.0)
    distance = 0.5 * jnp.linalg.norm(projected - keypoints[..., :2], axis=-1)
    per_part = (distance * weight) @ PART_MASKS.T
    part_weight = weight @ PART_MASKS.T
    parts = jnp.where(part_weight > 0, per_part / jnp.maximum(part_weight, 1e-9), jnp.nan)
    overall = jnp.sum(distance * weight, -1) / jnp.maximum(jnp.sum(weight, -1), 1e-9)
    return parts, overall


# LSP-14's limb segments (upper arms, forearms, thighs, shins; the legs' four first) and the torso.
_LEG_SEGMENTS = ((0, 1), (1, 2), (3, 4), (4, 5))
LIMB_SEGMENTS = _LEG_SEGMENTS + ((6, 7), (7, 8), (9, 10), (10, 11))
_NECK, _HIPS = 12, (2, 3)


def _depth_fractions(lsp, line_of_sight):
    """How much of each limb segment, and of the torso (hips' midpoint to neck), points along the
    line of sight (the sine of its angle to the image plane, 0..1) for (..., 14, 3) LSP-14 joints:
    what a 2D fit cannot tell forwards from backwards."""

    def along(vectors):
        length = jnp.maximum(jnp.linalg.norm(vectors, axis=-1), 1e-9)
        return jnp.abs(jnp.sum(vectors * line_of_sight[..., None, :], axis=-1)) / length

    a, b = (np.array(i) for i in zip(*LIMB_SEGMENTS))
    limbs = along(lsp[..., b, :] - lsp[..., a, :])
    torso = lsp[..., _NECK, :] - lsp[..., _HIPS, :].mean(-2)
    return limbs, along(torso[..., None, :])[..., 0]


def _segment_points(joints, height):
    starts = joints[..., [c[1] for c in CAPSULES], :]
    ends = joints[..., [c[2] for c in CAPSULES], :]
    t = _CAPSULE_SAMPLES[:, None]
    points = starts[..., :, None, :] + t * (ends - starts)[..., :, None, :]  # (..., C, S, 3)
    radii = jnp.asarray([c[3] for c in CAPSULES]) * height[..., None]
    return points, radii


def _self_intersection(joints, height):
    points, radii = _segment_points(joints, height)
    a, b = CAPSULE_PAIRS[:, 0], CAPSULE_PAIRS[:, 1]
    gaps = jnp.linalg.norm(
        points[..., a, :, None, :] - points[..., b, None, :, :], axis=-1
    )  # (..., P, S, S)
    closest = jnp.min(gaps, axis=(-1, -2))
    depth = jnp.maximum(radii[..., a] + radii[..., b] - closest, 0.0)
    return jnp.sum(depth, -1) / height


@jax.jit
def _signals(
    view, prior, rotmats, betas, camera, keypoints, start_rotmats, start_betas, full_frame
):
    out = body.forward_joints(view, rotmats, betas)
    rest = body.forward_joints(view, jnp.broadcast_to(jnp.eye(3), rotmats.shape), betas).spin49
    available = jnp.asarray(view.spin49_available)
    y = rest[..., 1]
    height = jnp.max(jnp.where(available, y, -jnp.inf), -1) - jnp.min(
        jnp.where(available, y, jnp.inf), -1
    )
    keypoints = keypoints * available[:, None]
    forward = rotmats[..., 0, :, 2]  # the pelvis's +z (the body's front) in the camera frame
    if full_frame is None:
        projected = weak_perspective(out.spin49, camera)
        to_camera = jnp.broadcast_to(jnp.asarray([0.0, 0.0, -1.0]), forward.shape)
    else:
        translation, frame = full_frame
        pixels = pinhole(out.spin49, translation, frame.focal, frame.principal_point)
        projected = image_to_crop(pixels, frame)
        to_camera = -translation / jnp.linalg.norm(translation, axis=-1, keepdims=True)
    toward_camera = jnp.sum(forward * to_camera, axis=-1)
    parts, overall = _residuals(projected, keypoints)
    hips = projected[..., [SPIN49_NAMES.index("OP RHip"), SPIN49_NAMES.index("OP LHip")], :]
    axis_x = hips[..., 0].mean(-1)[..., None]
    turned = projected.at[..., 0].set(2.0 * axis_x - projected[..., 0])
    _, turned_residual = _residuals(turned, keypoints)
    _, mirrored_residual = _residuals(turned[..., SPIN49_MIRROR, :], keypoints)
    facing = jnp.degrees(jnp.arccos(jnp.clip(toward_camera, -1.0, 1.0)))
    body_pose = rotmat_to_axis_angle(rotmats[..., 1:, :, :]).reshape(*rotmats.shape[:-3], 69)
    angles = jnp.degrees(joint_angles(rotmats))
    limits = jnp.degrees(jnp.asarray(JOINT_LIMITS, jnp.float32))
    excess = jnp.maximum(limits[..., 0] - angles, 0.0) + jnp.maximum(angles - limits[..., 1], 0.0)
    lsp = out.spin49[..., LSP14_IN_SPIN49, :]
    start = body.forward_joints(view, start_rotmats, start_betas).spin49[..., LSP14_IN_SPIN49, :]
    moved = jnp.linalg.norm(similarity_align(start, lsp) - lsp, axis=-1).mean(-1) / height
    limb_depth, torso_depth = _depth_fractions(lsp, to_camera)
    signals = {f"residual_{part}": parts[..., i] for i, part in enumerate(PART_NAMES)}
    signals.update(
        residual_all=overall,
        turned_residual=turned_residual,
        mirrored_residual=mirrored_residual,
        facing_camera_deg=facing,
        pose_prior_nll=max_mixture_nll(prior, body_pose),
        joint_limit_excess_deg=jnp.sum(excess[..., LIMITED_JOINTS, :], axis=(-1, -2)),
        self_intersection=_self_intersection(out.joints, height),
        limb_depth_mean=limb_depth.mean(-1),
        limb_depth_max=limb_depth.max(-1),
        leg_depth_mean=limb_depth[..., : len(_LEG_SEGMENTS)].mean(-1),
        torso_depth=torso_depth,
        moved_pa=moved,
        betas_norm=jnp.linalg.norm(betas, axis=-1),
        betas_moved=jnp.linalg.norm(betas - start_betas, axis=-1),
        box_fill=camera[..., 0] * height / 2.0,
        visible_limbs=jnp.mean(keypoints[..., LIMB_KEYPOINTS, 2] > 0, axis=-1),
    )
    return signals


def _float32(array):
    return jnp.asarray(array, jnp.float32)


def _full_frame(result: FitResult, exemplar: Exemplar) -> tuple | None:
    """A full-frame fit's (translation, FullFrame) with a batch axis of one; None for the crop
    camera's fits."""
    if result.translation is None:
        return None
    center, scale = exemplar.box()
    frame = FullFrame(
        box_center=np.asarray(center, np.float32)[None],
        box_size=np.asarray([SCALE_UNIT * scale], np.float32),
        focal=np.asarray(result.focal_length, np.float32)[None],
        principal_point=np.asarray(result.principal_point, np.float32)[None],
    )
    return np.asarray(result.translation, np.float32)[None], frame


class QualitySignals:
    """`quality_signals` with its body-model view and pose prior built once."""

    def __init__(self, model: body.BodyModel, prior: PosePrior | None = None):
        self.view = body.joints_model(model, include_h36m=False)
        self.prior = load_pose_prior() if prior is None else prior

    def __call__(
        self,
        rotmats,
        betas,
        camera,
        keypoints,
        *,
        iterations,
        max_iters,
        converged,
        start_rotmats=None,
        start_betas=None,
        full_frame: tuple | None = None,
    ) -> dict[str, np.ndarray]:
        """(N,) float64 arrays of every signal in `SIGNALS` for N fits: rotmats (N, 24, 3, 3),
        betas (N, S), camera (N, 3), the input keypoints (N, 49, 3) in [-1, 1] of the crop,
        iterations (N,), max_iters (the method's most), converged (N,) bool; start_* the
        regressor's first prediction (None: `moved_pa` is NaN); `full_frame` (translation (N, 3),
        `geometry.FullFrame` with (N, ...) fields) for full-frame fits, None for crop-camera
        ones. NaN marks a missing signal."""
        rotmats = jnp.asarray(rotmats, jnp.float32)
        betas = jnp.asarray(betas, jnp.float32)
        has_start = start_rotmats is not None
        signals = jax.device_get(
            _signals(
                self.view,
                self.prior,
                rotmats,
                betas,
                jnp.asarray(camera, jnp.float32),
                jnp.asarray(keypoints, jnp.float32),
                jnp.asarray(start_rotmats, jnp.float32) if has_start else rotmats,
                # Without a start the betas moved from the mean shape's zeros.
                jnp.asarray(start_betas, jnp.float32) if has_start else jnp.zeros_like(betas),
                None if full_frame is None else jax.tree.map(_float32, full_frame),
            )
        )
        signals = {k: np.asarray(v, np.float64) for k, v in signals.items()}
        if not has_start:
            signals["moved_pa"] = np.full_like(signals["moved_pa"], np.nan)
        signals["iterations_fraction"] = np.asarray(iterations, np.float64) / float(max_iters)
        signals["converged"] = np.asarray(converged, np.float64)
        return {name: signals[name] for name in SIGNALS}


# -- the score -----------------------------------------------------------------------------------

# How each signal enters the model: heavy-tailed ones through a log.
TRANSFORMS = {
    "log": lambda x: np.log(np.maximum(x, 0.0) + 1e-3),
    "log1p": lambda x: np.log1p(np.maximum(x, 0.0)),
    "linear": lambda x: x,
}
FEATURES = {
    **{f"residual_{part}": "log" for part in PART_NAMES},
    "residual_all": "log",
    "turned_residual": "log",
    "mirrored_residual": "log",
    "facing_camera_deg": "linear",
    "pose_prior_nll": "linear",
    "joint_limit_excess_deg": "log1p",
    "self_intersection": "log",
    "limb_depth_mean": "linear",
    "limb_depth_max": "linear",
    "leg_depth_mean": "linear",
    "torso_depth": "linear",
    "moved_pa": "log",
    "betas_norm": "linear",
    "betas_moved": "linear",
    "box_fill": "linear",
    "visible_limbs": "linear",
    "iterations_fraction": "linear",
    "converged": "linear",
}


def features(signals: Mapping[str, np.ndarray], names=tuple(FEATURES)) -> np.ndarray:
    """(N, F) transformed signals (NaN where a signal is missing), in the order of `names`."""
    return np.stack(
        [TRANSFORMS[FEATURES[n]](np.asarray(signals[n], np.float64)) for n in names], axis=-1
    )


@dataclasses.dataclass(frozen=True)
class QualityModel:
    """One method's logistic regression: P(good) = sigmoid(bias + weights . (x - mean) / std),
    x the transformed signals (`features`); a missing signal contributes nothing. `threshold`:
    the default score under which a fit is flagged."""

    names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float = 0.5

    def score(self, signals: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.score_features(features(signals, self.names))

    def score_features(self, x: np.ndarray) -> np.ndarray:
        """The score of (N, F) transformed signals (`features`), F in the order of `names`."""
        z = (x - self.mean) / self.std
        z = np.where(np.isfinite(z), z, 0.0)
        return 1.0 / (1.0 + np.exp(-(self.bias + z @ self.weights)))

    def to_json(self) -> dict:
        return {
            "names": list(self.names),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "weights": self.weights.tolist(),
            "bias": float(self.bias),
            "threshold": float(self.threshold),
        }

    @classmethod
    def from_json(cls, item: Mapping) -> QualityModel:
        names = tuple(item["names"])
        unknown = [n for n in names if n not in FEATURES]
        if unknown:
            raise QualityCalibrationError(f"unknown quality signals {unknown}")
        arrays = [np.asarray(item[k], np.float64) for k in ("mean", "std", "weights")]
        if any(a.shape != (len(names),) for a in arrays):
            raise QualityCalibrationError("mean, std and weights need one value per signal")
        return cls(names, *arrays, float(item["bias"]), float(item.get("threshold", 0.5)))


def read_calibration(path: str | Path | None = None) -> dict:
    """{'models': {method: QualityModel}, 'source': str, ...the file's other fields}: the given
    calibration file (`eft-jax calibrate`'s output) or the bundled one."""
    path = BUNDLED_CALIBRATION_PATH if path is None else Path(path)
    try:
        item = json.loads(Path(path).read_text())
        if item.get("version") != CALIBRATION_VERSION:
            raise QualityCalibrationError(
                f"{path}: quality calibration version {item.get('version')!r}, "
                f"expected {CALIBRATION_VERSION}"
            )
        models = {m: QualityModel.from_json(v) for m, v in item["methods"].items()}
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise QualityCalibrationError(
            f"{path}: not a quality calibration file ({error})"
        ) from error
    source = "bundled" if path == BUNDLED_CALIBRATION_PATH else str(path)
    return {**item, "models": models, "source": source}


class QualityScorer:
    """The quality fields of single fits as a fitting run logs them (`fitting.run`): the signals
    and score of `method`'s calibration model; the regressor's first prediction on the crop is
    the start `moved_pa` is measured from (no regressor: `moved_pa` is left out)."""

    def __init__(
        self,
        model: body.BodyModel,
        *,
        method: str,
        max_iters: int,
        calibration: str | Path | None = None,
        regressor=None,
        variables=None,
    ):
        self.signals = QualitySignals(model)
        self.calibration = read_calibration(calibration)
        models = self.calibration["models"]
        if method not in models:
            raise QualityCalibrationError(
                f"the quality calibration {self.calibration['source']} has no model for "
                f"{method!r} fits (it has {sorted(models)})"
            )
        self.model = models[method]
        self.max_iters = max_iters
        self.predict = None
        if regressor is not None:
            self.predict = predictor(regressor, variables)

    @property
    def source(self) -> str:
        return self.calibration["source"]

    def fields(self, result: FitResult, exemplar: Exemplar) -> dict[str, float]:
        """`quality_<signal>` for every signal present and `quality_score` of one fit; {} for a
        skipped or non-finite fit."""
        arrays = (result.rotmats, result.betas, result.camera)
        if result.skipped or any(a is None or not np.all(np.isfinite(a)) for a in arrays):
            return {}
        start_rotmats = start_betas = None
        if self.predict is not None:
            start = self.predict(jnp.asarray(exemplar.image, jnp.float32)[None])
            start_rotmats, start_betas = start.rotmats, start.betas
        signals = self.signals(
            *(np.asarray(a)[None] for a in arrays),
            np.asarray(exemplar.keypoints)[None],
            iterations=[result.iterations],
            max_iters=self.max_iters,
            converged=[result.stop_reason == CONVERGED],
            start_rotmats=start_rotmats,
            start_betas=start_betas,
            full_frame=_full_frame(result, exemplar),
        )
        fields = {
            FIELD_PREFIX + name: float(value[0])
            for name, value in signals.items()
            if math.isfinite(float(value[0]))
        }
        fields[SCORE_FIELD] = float(self.model.score(signals)[0])
        return fields
