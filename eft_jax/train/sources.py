"""Training sources: what a regressor learns from, each yielding the same training sample.

A training sample (a dict; `SAMPLE_KEYS`):

    image                 (S, S, 3) uint8 RGB crop (normalised when batched)
    keypoints             (49, 3) SPIN-49, x, y in [-1, 1] of the crop, confidence
    joints3d_spin49       (49, 3) 3D joints in metres, camera frame (zeros without them)
    joints3d_confidence   (49,)   which of those 3D joints are known
    rotmats               (24, 3, 3) pose of the training body model (identity without it)
    betas                 (10,)   shape of the training body model (zeros without it)
    has_smpl              ()      1.0 when rotmats / betas are targets (SPIN's has_smpl)
    has_pose_3d           ()      1.0 when joints3d_spin49 is a target (SPIN's has_pose_3d)

Sources (`eft-jax train`'s `sources` config; the job reads the files, this module shapes them):

- synthetic humans (`SyntheticSource` over the tensorflow-datasets split): full 3D truth;
- pseudo ground truth: an EFT JSON written by `eft-jax fit` or `eft-jax smplify` (`fits_targets`),
  matched by exemplar id to the crops the fit was made on; has_smpl, no 3D joints;
- SPIN's training `.npz` (`spin_npz_targets`): Human3.6M-format files with `S` (3D joints) and,
  when the user has them, `pose` / `shape`; or the `.npz` `eft-jax fit --spin-npz` writes;
- 2D keypoints only (`ArraySource` without targets): has_smpl = has_pose_3d = 0.

Parameters are targets only for the body model the regressor is trained for: the rows of another
model (SMPL parameters while training the bundled open body, say) keep has_smpl = 0, so their
pose and shape never pass for this model's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eft_jax.body.joint_sets import GT_OFFSET, NUM_GT_KEYPOINTS, NUM_SPIN49
from eft_jax.errors import InputError
from eft_jax.formats.eft_json import smpltype_for, stack_eft_data
from eft_jax.geometry import axis_angle_to_rotmat

SAMPLE_KEYS = (
    "image",
    "keypoints",
    "joints3d_spin49",
    "joints3d_confidence",
    "rotmats",
    "betas",
    "has_smpl",
    "has_pose_3d",
)


class TrainingDataError(InputError, ValueError):
    """A training source that cannot be used (missing fits, mismatched crops, wrong body model)."""


class SyntheticSource:
    """Synthetic humans (a `SyntheticHumans` data source) as training samples: every target known.
    The 3D joints the body model cannot produce are zeros in the records and unknown here."""

    def __init__(self, records: Sequence[dict], spin49_available):
        self.records = records
        self.confidence = np.asarray(spin49_available, np.float32)

    def __len__(self) -> int:
        return len(self.records)

    def _sample(self, record: dict) -> dict:
        sample = {
            key: record[key]
            for key in ("image", "keypoints", "joints3d_spin49", "rotmats", "betas")
        }
        sample.update(
            joints3d_confidence=self.confidence, has_smpl=np.float32(1), has_pose_3d=np.float32(1)
        )
        return sample

    def __getitem__(self, index: int) -> dict:
        return self._sample(self.records[index])

    def __getitems__(self, indices) -> list[dict]:
        getitems = getattr(self.records, "__getitems__", None)
        records = (
            getitems(list(indices)) if getitems is not None else [self.records[i] for i in indices]
        )
        return [self._sample(r) for r in records]


class ArraySource:
    """Training samples held as arrays (crops read once at the start). Targets that are not given
    are placeholders with has_smpl / has_pose_3d = 0 (`SAMPLE_KEYS`)."""

    def __init__(
        self,
        images,
        keypoints,
        *,
        rotmats=None,
        betas=None,
        has_smpl=None,
        joints3d=None,
        joints3d_confidence=None,
        has_pose_3d=None,
        description: str = "",
    ):
        images = np.asarray(images)
        count = len(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise TrainingDataError(
                f"{description}: crops must be uint8 (N, S, S, 3); got {images.dtype} {images.shape}"
            )
        self.description = description
        self.arrays = {
            "image": images,
            "keypoints": _finite(keypoints, (count, NUM_SPIN49, 3), "keypoints", description),
            "joints3d_spin49": np.zeros((count, NUM_SPIN49, 3), np.float32),
            "joints3d_confidence": np.zeros((count, NUM_SPIN49), np.float32),
            "rotmats": np.broadcast_to(np.eye(3, dtype=np.float32), (count, 24, 3, 3)),
            "betas": np.zeros((count, 10), np.float32),
            "has_smpl": np.zeros(count, np.float32),
            "has_pose_3d": np.zeros(count, np.float32),
        }
        if rotmats is not None:
            has_smpl = (
                np.ones(count, np.float32) if has_smpl is None else np.asarray(has_smpl, np.float32)
            )
            self.arrays.update(
                rotmats=_finite(
                    rotmats, (count, 24, 3, 3), "rotmats", description, where=has_smpl > 0
                ),
                betas=_finite(betas, (count, 10), "betas", description, where=has_smpl > 0),
                has_smpl=has_smpl,
            )
        if joints3d is not None:
            has_pose_3d = (
                np.ones(count, np.float32)
                if has_pose_3d is None
                else np.asarray(has_pose_3d, np.float32)
            )
            self.arrays.update(
                joints3d_spin49=_finite(
                    joints3d,
                    (count, NUM_SPIN49, 3),
                    "3D joints",
                    description,
                    where=has_pose_3d > 0,
                ),
                joints3d_confidence=np.asarray(joints3d_confidence, np.float32).reshape(
                    count, NUM_SPIN49
                ),
                has_pose_3d=has_pose_3d,
            )

    def __len__(self) -> int:
        return len(self.arrays["image"])

    def __getitem__(self, index: int) -> dict:
        return {key: value[index] for key, value in self.arrays.items()}


def _finite(values, shape, name, description, where=None) -> np.ndarray:
    values = np.asarray(values, np.float32)
    if values.shape != shape:
        raise TrainingDataError(
            f"{description}: {name} must have shape {shape}; got {values.shape}"
        )
    rows = values.reshape(shape[0], -1)
    bad = ~np.all(np.isfinite(rows), axis=1)
    if where is not None:
        bad &= where
    if bad.any():
        raise TrainingDataError(
            f"{description}: {name} of rows {np.flatnonzero(bad)[:10].tolist()} are not finite"
        )
    return np.where(np.isfinite(values), values, 0.0).astype(np.float32)


def fits_targets(document: dict, body_kind: str, where: str) -> dict[str, dict]:
    """Exemplar id -> {'rotmats', 'betas'} of an EFT JSON document (`read_eft_json`) written by
    `eft-jax fit` / `eft-jax smplify` for the body model of kind `body_kind`."""
    data = document["data"]
    if not data:
        raise TrainingDataError(f"{where}: no fits in the file")
    missing = [i for i, entry in enumerate(data) if "exemplar_id" not in entry]
    if missing:
        raise TrainingDataError(
            f"{where}: data[{missing[0]}] has no 'exemplar_id' (only files written by eft-jax fit / smplify"
            " name the crops their fits belong to)"
        )
    stacked = stack_eft_data(data)
    expected = smpltype_for(body_kind)
    other = sorted(set(stacked["smpltype"].tolist()) - {expected})
    if other:
        raise TrainingDataError(
            f"{where}: fits of body model {other} cannot train a regressor of the {body_kind} body model"
            f" (smpltype {expected!r})"
        )
    ids = [str(entry["exemplar_id"]) for entry in data]
    if len(set(ids)) != len(ids):
        raise TrainingDataError(f"{where}: exemplar ids are not unique")
    return {
        exemplar_id: {"rotmats": stacked["parm_pose"][i], "betas": stacked["parm_shape"][i]}
        for i, exemplar_id in enumerate(ids)
    }


def spin_npz_targets(arrays: dict, body_kind: str, where: str) -> dict[str, np.ndarray]:
    """The targets of SPIN's training `.npz` rows (SPIN's `datasets/base_dataset.py` fields):
    rotmats (N, 24, 3, 3), betas (N, 10), has_smpl (N,), joints3d (N, 49, 3), joints3d_confidence
    (N, 49), has_pose_3d (N,). `S` (N, 24, 4) fills the 24 ground-truth keypoints of SPIN-49 and
    its 4th column their confidence. `pose` / `shape` count where `has_smpl` is 1 (1 when absent)
    and the rows' `smpltype` (eft-jax's extra column; SMPL when absent) is the training body's."""
    count = len(arrays["imgname"])
    targets = {
        "rotmats": np.broadcast_to(np.eye(3, dtype=np.float32), (count, 24, 3, 3)),
        "betas": np.zeros((count, 10), np.float32),
        "has_smpl": np.zeros(count, np.float32),
        "joints3d": np.zeros((count, NUM_SPIN49, 3), np.float32),
        "joints3d_confidence": np.zeros((count, NUM_SPIN49), np.float32),
        "has_pose_3d": np.zeros(count, np.float32),
    }
    if "pose" in arrays and "shape" in arrays:
        smpltype = (
            arrays["smpltype"].astype(str) if "smpltype" in arrays else np.full(count, "smpl")
        )
        flag = np.asarray(arrays.get("has_smpl", np.ones(count)), np.float32)
        pose = np.asarray(arrays["pose"], np.float32).reshape(count, 24, 3)
        usable = (
            (flag > 0)
            & (smpltype == smpltype_for(body_kind))
            & np.all(np.isfinite(pose.reshape(count, -1)), axis=1)
        )
        targets["rotmats"] = np.asarray(
            axis_angle_to_rotmat(np.where(usable[:, None, None], pose, 0.0)), np.float32
        )
        targets["betas"] = np.asarray(arrays["shape"], np.float32)
        targets["has_smpl"] = usable.astype(np.float32)
    if "S" in arrays:
        joints = np.asarray(arrays["S"], np.float32)
        if joints.shape != (count, NUM_GT_KEYPOINTS, 4):
            raise TrainingDataError(
                f"{where}: 'S' must have shape {(count, NUM_GT_KEYPOINTS, 4)}; got {joints.shape}"
            )
        confidence = np.where(np.all(np.isfinite(joints[..., :3]), axis=-1), joints[..., 3], 0.0)
        targets["joints3d"][:, GT_OFFSET:] = np.where(
            confidence[..., None] > 0, joints[..., :3], 0.0
        )
        targets["joints3d_confidence"][:, GT_OFFSET:] = confidence
        targets["has_pose_3d"] = (confidence.sum(axis=1) > 0).astype(np.float32)
    return targets
