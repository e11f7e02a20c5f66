"""SPIN's 3D benchmark protocols (nkolot/SPIN `eval.py`): which joints each benchmark scores, how
they are centred, and the per-exemplar errors.

    protocol = PROTOCOLS["h36m-p2"]
    pred = centred_h36m_joints(out.h36m17, protocol.joints)     # (N, J, 3) from the predicted mesh
    true = centred_truth_joints(S, protocol.joints)              # from the benchmark's S (N, 24, 4)
    scores = joint_scores(pred, true, with_pck=protocol.pck)     # {'mpjpe_mm': (N,), ...}

| benchmark | joints | truth | frames |
|---|---|---|---|
| 3dpw | 14 | H36M-17 regressor on the true SMPL mesh (male / female model by the person's gender) | test split, every frame with a valid camera pose |
| h36m-p1 | 14 | `S` of `h36m_valid_protocol1.npz` | S9 and S11, every 5th frame, all four cameras |
| h36m-p2 | 14 | `S` of `h36m_valid_protocol2.npz` | the same frames of the frontal camera (60457274) only |
| mpi-inf-3dhp | 17 | `S` of `mpi_inf_3dhp_valid.npz` | test set TS1-TS6, valid frames |

The predicted joints are always the H36M-17 regressor (`J_regressor_h36m.npy`) applied to the
predicted mesh, picked with `H36M_TO_J14` / `J17` (`eft_jax.body.joint_sets`). Per exemplar, in
millimetres (inputs in metres):

- MPJPE: mean joint distance, both skeletons centred on their pelvis;
- PA-MPJPE: the same after a similarity Procrustes alignment (SPIN's reconstruction error);
- PVE: mean vertex distance, both meshes centred on their H36M-17 pelvis, no rotation alignment
  (SPIN's eval.py computes none; this is the centring its MPJPE uses);
- PCK (MPI-INF-3DHP): % of joints closer than 150 mm (strictly, as the benchmark's own test code
  counts); AUC: the mean PCK over the thresholds 0, 5, ..., 150 mm (31 values, the test code's
  range), so a perfect prediction scores 30/31 = 96.8 %. Both are given on the centred joints and
  after the Procrustes alignment (`pa_` columns).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from eft_jax.body.joint_sets import (
    GT_OFFSET,
    H36M_PELVIS,
    H36M_TO_J17,
    J24_PELVIS,
    J24_TO_J17,
    SPIN49_NAMES,
)
from eft_jax.eval.metrics import joint_errors_mm
from eft_jax.geometry.procrustes import similarity_align

PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = np.linspace(0.0, 150.0, 31)


@dataclasses.dataclass(frozen=True)
class Protocol:
    name: str
    joints: int  # 14 (LSP-14's order) or 17
    pck: bool  # also PCK / AUC
    smpl_truth: bool  # truth is SMPL parameters (a mesh: PVE too), not 3D joints
    frames: str


PROTOCOLS = {
    "3dpw": Protocol(
        "3dpw", 14, False, True, "3DPW test split, every frame with a valid camera pose"
    ),
    "h36m-p1": Protocol(
        "h36m-p1", 14, False, False, "Human3.6M S9 + S11, every 5th frame, all cameras"
    ),
    "h36m-p2": Protocol(
        "h36m-p2", 14, False, False, "Human3.6M S9 + S11, every 5th frame, frontal camera 60457274"
    ),
    "mpi-inf-3dhp": Protocol(
        "mpi-inf-3dhp", 17, True, False, "MPI-INF-3DHP test set TS1-TS6, valid frames"
    ),
}


def centred_h36m_joints(h36m17, joints: int):
    """(..., 17, 3) H36M-17 joints -> (..., joints, 3) SPIN's evaluation joints minus the pelvis."""
    h36m17 = jnp.asarray(h36m17)
    picked = jnp.take(h36m17, jnp.asarray(H36M_TO_J17[:joints]), axis=-2)
    return picked - h36m17[..., H36M_PELVIS : H36M_PELVIS + 1, :]


def centred_truth_joints(s24, joints: int):
    """(..., 24, 4) a benchmark's `S` (SPIN's 24 ground-truth keypoints + validity) -> (..., joints,
    3) SPIN's evaluation joints minus the pelvis (keypoint 14, Pelvis (MPII)). SPIN's files are
    centred already; centring again makes files centred elsewhere score the same."""
    s24 = jnp.asarray(s24)[..., :3]
    picked = jnp.take(s24, jnp.asarray(J24_TO_J17[:joints]), axis=-2)
    return picked - s24[..., J24_PELVIS : J24_PELVIS + 1, :]


def missing_truth_joints(s24, joints: int) -> list[str]:
    """The names of the ground-truth keypoints that scoring `joints` joints reads (theirs and the
    pelvis) and that a row of `S` marks invalid (4th column 0) or leaves non-finite. Such a row
    cannot be scored."""
    s24 = np.asarray(s24)
    rows = sorted({*J24_TO_J17[:joints].tolist(), J24_PELVIS})
    return [
        SPIN49_NAMES[GT_OFFSET + r]
        for r in rows
        if s24[r, 3] <= 0 or not np.all(np.isfinite(s24[r, :3]))
    ]


def pck_pct(errors_mm, threshold_mm: float = PCK_THRESHOLD_MM):
    """(...,) % of the joints (last axis) whose error is under `threshold_mm`."""
    return 100.0 * jnp.mean(jnp.asarray(errors_mm) < threshold_mm, axis=-1)


def auc_pct(errors_mm):
    """(...,) mean of `pck_pct` over AUC_THRESHOLDS_MM."""
    errors = jnp.asarray(errors_mm)[..., None, :]
    return jnp.mean(pck_pct(errors, jnp.asarray(AUC_THRESHOLDS_MM)[:, None]), axis=-1)


def joint_scores(pred, true, *, with_pck: bool) -> dict:
    """Per-exemplar errors of centred joints (..., J, 3): mpjpe_mm, pa_mpjpe_mm, and with_pck
    pck150_pct, auc_pct, pa_pck150_pct, pa_auc_pct."""
    errors = joint_errors_mm(pred, true)
    aligned = joint_errors_mm(similarity_align(pred, true), true)
    scores = {"mpjpe_mm": errors.mean(axis=-1), "pa_mpjpe_mm": aligned.mean(axis=-1)}
    if with_pck:
        scores |= {
            "pck150_pct": pck_pct(errors),
            "auc_pct": auc_pct(errors),
            "pa_pck150_pct": pck_pct(aligned),
            "pa_auc_pct": auc_pct(aligned),
        }
    return scores


def centred_pve_mm(pred_vertices, true_vertices, pred_centre, true_centre):
    """(...,) mean vertex distance in mm, each mesh (..., V, 3) first moved by its own centre (..., 3)."""
    pred = jnp.asarray(pred_vertices) - jnp.asarray(pred_centre)[..., None, :]
    true = jnp.asarray(true_vertices) - jnp.asarray(true_centre)[..., None, :]
    return joint_errors_mm(pred, true).mean(axis=-1)
