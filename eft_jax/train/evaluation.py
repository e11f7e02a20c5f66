"""Score body fits against 3D ground truth and their 2D keypoints: one evaluator for every method
(regressor alone, EFT, multi-start EFT, SMPLify), so their numbers are comparable.

    per = evaluate_fits(model, rotmats, betas, cameras, keypoints, true_spin49, true_vertices)
    summary = summarize(per)       # the columns of experiments/compare_fitting.py

Per exemplar (see eft_jax.train.metrics for each definition):

- error_2d_px: mean distance in pixels of a 224 px crop between the fit's projected LSP-14
  keypoints and the input keypoints, over those visible (the same keypoints for every method: EFT's
  loss leaves hips and ankles out, SMPLify's does not);
- mpjpe_mm, pa_mpjpe_mm: LSP-14 joints, hip-centred (SPIN's protocol);
- pve_mm: mean vertex distance, same body model, hip-centred, no rotation alignment;
- facing_error_deg: angle between the predicted and true torso normals in the camera frame;
- lr_swaps: fraction of the six left/right limb-joint pairs the fit has swapped in 3D.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body
from eft_jax.geometry import weak_perspective
from eft_jax.train import metrics

CHUNK = 64  # bodies per forward pass (vertices of the open model: ~165 KB each)


@jax.jit
def _scores(model, rotmats, betas, camera, keypoints, true_spin49, true_vertices):
    out = body.forward(model, rotmats, betas)
    projected = weak_perspective(out.spin49, camera)
    return {
        "error_2d_px": metrics.keypoint_error_px(projected, keypoints),
        "mpjpe_mm": metrics.mpjpe_mm(out.spin49, true_spin49),
        "pa_mpjpe_mm": metrics.pa_mpjpe_mm(out.spin49, true_spin49),
        "pve_mm": metrics.pve_mm(out.vertices, true_vertices, out.spin49, true_spin49),
        "facing_error_deg": metrics.facing_error_deg(out.spin49, true_spin49),
        "lr_swaps": metrics.left_right_swaps(out.spin49, true_spin49).mean(axis=-1),
    }


def evaluate_fits(model: body.BodyModel, rotmats, betas, cameras, keypoints, true_spin49, true_vertices) -> dict:
    """Per-exemplar scores (a dict of (N,) float arrays) of N fits of `model`: rotmats
    (N, 24, 3, 3), betas (N, 10), cameras (N, 3) weak perspective [s, tx, ty]; against the input
    keypoints (N, 49, 3) and the truth: SPIN-49 joints (N, 49, 3) and vertices (N, V, 3) of the
    same body model, in metres, camera frame."""
    arrays = [np.asarray(a, np.float32) for a in (rotmats, betas, cameras, keypoints, true_spin49, true_vertices)]
    count = arrays[0].shape[0]
    if any(a.shape[0] != count for a in arrays):
        raise ValueError(f"evaluate_fits: inputs disagree on the number of fits: {[a.shape for a in arrays]}")
    parts = []
    for start in range(0, count, CHUNK):
        chunk = [jnp.asarray(a[start : start + CHUNK]) for a in arrays]
        parts.append(jax.device_get(_scores(model, *chunk)))
    return {key: np.concatenate([p[key] for p in parts]).astype(np.float64) for key in parts[0]}


def summarize(per: dict) -> dict:
    """Means and rates over exemplars of `evaluate_fits`'s scores."""
    error_2d = per["error_2d_px"][np.isfinite(per["error_2d_px"])]
    return {
        "exemplars": int(len(per["mpjpe_mm"])),
        "mean_2d_px": float(error_2d.mean()),
        "median_2d_px": float(np.median(error_2d)),
        "under_2px_pct": float(100.0 * np.mean(error_2d < 2.0)),
        "under_5px_pct": float(100.0 * np.mean(error_2d < 5.0)),
        "mpjpe_mm": float(per["mpjpe_mm"].mean()),
        "pa_mpjpe_mm": float(per["pa_mpjpe_mm"].mean()),
        "pve_mm": float(per["pve_mm"].mean()),
        "facing_over_90_pct": float(100.0 * np.mean(per["facing_error_deg"] > 90.0)),
        "lr_swap_pct": float(100.0 * per["lr_swaps"].mean()),
    }
