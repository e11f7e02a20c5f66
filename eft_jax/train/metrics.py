"""3D pose errors, as SPIN reports them: MPJPE and PA-MPJPE in millimetres over the 14 LSP
joints, both skeletons centred on the midpoint of their hips first.

The LSP-14 joints are SPIN-49 slots 25-38 (ankles, knees, hips, wrists, elbows, shoulders, neck,
head top); SPIN's Human3.6M evaluation (eval.py) uses the same 14 joints and the same centring.
"""

from __future__ import annotations

import jax.numpy as jnp

from eft_jax.body.joint_sets import LSP14_SLOTS
from eft_jax.fitting.losses import LEFT_HIP, RIGHT_HIP
from eft_jax.geometry.procrustes import similarity_align

def hip_centred(joints_spin49):
    """(..., 49, 3) SPIN-49 joints minus the midpoint of their right and left hip (slots 27, 28)."""
    joints = jnp.asarray(joints_spin49)
    return joints - joints[..., (RIGHT_HIP, LEFT_HIP), :].mean(axis=-2, keepdims=True)


def lsp14_hip_centred(joints_spin49):
    """(..., 49, 3) SPIN-49 joints -> (..., 14, 3) LSP-14 joints minus their hip midpoint."""
    return jnp.take(hip_centred(joints_spin49), jnp.asarray(LSP14_SLOTS), axis=-2)


def mpjpe_mm(predicted_spin49, true_spin49):
    """(...,) mean per-joint position error in mm (inputs in metres)."""
    pred, true = lsp14_hip_centred(predicted_spin49), lsp14_hip_centred(true_spin49)
    return 1000.0 * jnp.linalg.norm(pred - true, axis=-1).mean(axis=-1)


def pa_mpjpe_mm(predicted_spin49, true_spin49):
    """(...,) MPJPE in mm after aligning each prediction to its truth by a similarity transform."""
    pred, true = lsp14_hip_centred(predicted_spin49), lsp14_hip_centred(true_spin49)
    aligned = similarity_align(pred, true)
    return 1000.0 * jnp.linalg.norm(aligned - true, axis=-1).mean(axis=-1)
