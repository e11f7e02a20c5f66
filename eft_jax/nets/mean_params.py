"""The regressor's starting point: mean pose (24 x 6D), mean betas (10) and mean camera (3).

SPIN reads these from `smpl_mean_params.npz` (keys `pose` (144,), `shape` (10,), `cam` (3,)) and
stores them in its checkpoints as the buffers `init_pose`, `init_shape`, `init_cam`. Its mean
pose descends from HMR's: the mean SMPL pose with the root rotation replaced by pi about x, which
turns SMPL's y-up body upright in image coordinates (y down); its camera is [0.9, 0, 0].

The bundled open body model has no such statistics, so `open_body_mean_params()` builds the
same kind of starting point from first principles: SMPL's T-pose with the arms lowered into an
A-pose (`eft_jax.body.named_poses`, shoulders rotated 0.8 rad), root rotated by pi about x as in
SPIN, zero betas and camera [0.9, 0, 0]. `assets/open_body_mean_params.npz` holds exactly that.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from eft_jax.body.named_poses import named_pose
from eft_jax.body.upright import UPRIGHT_AXIS_ANGLE
from eft_jax.geometry.rotations import axis_angle_to_rotmat, rotmat_to_rot6d

NUM_JOINTS = 24
POSE_DIM = NUM_JOINTS * 6
NUM_BETAS = 10
CAM_DIM = 3

OPEN_BODY_MEAN_PARAMS_PATH = (
    Path(__file__).resolve().parent / "assets" / "open_body_mean_params.npz"
)


class MeanParams(NamedTuple):
    pose: np.ndarray  # (144,) 6D per joint, SPIN's layout (see geometry.rotations)
    shape: np.ndarray  # (10,)
    cam: np.ndarray  # (3,) weak perspective [s, tx, ty]

    @classmethod
    def from_arrays(cls, pose, shape, cam, source: str = "mean parameters") -> MeanParams:
        """Flattens (SPIN's buffers are (1, N)), casts to float32 and checks sizes."""
        arrays = []
        for name, value, size in (
            ("pose", pose, POSE_DIM),
            ("shape", shape, NUM_BETAS),
            ("cam", cam, CAM_DIM),
        ):
            value = np.asarray(value, np.float32).reshape(-1)
            if value.size != size:
                raise ValueError(f"{source}: '{name}' has {value.size} values, expected {size}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{source}: '{name}' contains non-finite values")
            arrays.append(value)
        return cls(*arrays)

    def to_record(self) -> dict:
        """JSON-serialisable form (float32 values survive a float round trip exactly)."""
        return {name: [float(v) for v in getattr(self, name)] for name in self._fields}

    @classmethod
    def from_record(cls, record: dict) -> MeanParams:
        return cls.from_arrays(record["pose"], record["shape"], record["cam"], "config record")


def load_mean_params(path: str | Path) -> MeanParams:
    """A SPIN-style `smpl_mean_params.npz` (keys pose, shape, cam)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"mean parameters file not found: {path}")
    with np.load(path) as data:
        missing = [k for k in ("pose", "shape", "cam") if k not in data.files]
        if missing:
            raise ValueError(
                f"{path}: missing key(s) {missing}; expected pose (144), shape (10), cam (3)"
            )
        return MeanParams.from_arrays(data["pose"], data["shape"], data["cam"], str(path))


def save_mean_params(path: str | Path, mean: MeanParams) -> None:
    np.savez(path, pose=mean.pose, shape=mean.shape, cam=mean.cam)


def open_body_mean_params() -> MeanParams:
    """A-pose, upright in the image (root pi about x), zero betas, camera [0.9, 0, 0]."""
    pose = named_pose("a_pose")
    pose[0] = UPRIGHT_AXIS_ANGLE
    rot6d = np.asarray(rotmat_to_rot6d(axis_angle_to_rotmat(pose)))
    return MeanParams.from_arrays(rot6d, np.zeros(NUM_BETAS), [0.9, 0.0, 0.0], "open body mean")


def bundled_mean_params() -> MeanParams:
    return load_mean_params(OPEN_BODY_MEAN_PARAMS_PATH)


if __name__ == "__main__":
    save_mean_params(OPEN_BODY_MEAN_PARAMS_PATH, open_body_mean_params())
    print(f"wrote {OPEN_BODY_MEAN_PARAMS_PATH}")
