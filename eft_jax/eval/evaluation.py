"""Score body fits against 3D ground truth and their 2D keypoints: one evaluator for every method
(regressor alone, EFT, multi-start EFT, SMPLify), so their numbers are comparable.

    per = evaluate_fits(model, rotmats, betas, cameras, keypoints, true_spin49, true_vertices)
    summary = summarize(per)       # the columns of experiments/compare_fitting/

Per exemplar (see eft_jax.eval.metrics for each definition):

- error_2d_px: mean distance in pixels of a 224 px crop between the fit's projected LSP-14
  keypoints and the input keypoints, over those visible (the same keypoints for every method: EFT's
  loss leaves hips and ankles out, SMPLify's does not);
- mpjpe_mm, pa_mpjpe_mm: LSP-14 joints, hip-centred (SPIN's protocol);
- pve_mm: mean vertex distance, same body model, hip-centred, no rotation alignment;
- facing_error_deg: angle between the predicted and true torso normals in the camera frame;
- lr_swaps: fraction of the six left/right limb-joint pairs the fit has swapped in 3D.

The 3D benchmarks (3DPW, Human3.6M, MPI-INF-3DHP) are scored by SPIN's protocols instead
(eft_jax.eval.protocols: H36M-17 joints regressed from the mesh, pelvis-centred):

    truth = smpl_truth(models_by_gender, poses, betas, genders)      # 3DPW; or {"S": (N, 24, 4)}
    per = benchmark_scores(PROTOCOLS["3dpw"], model, rotmats, betas, truth)
    rows = group_table(per, groups)    # one row per sequence / action / clip: means of each score
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body
from eft_jax.eval import metrics
from eft_jax.eval.protocols import (
    Protocol,
    centred_h36m_joints,
    centred_pve_mm,
    centred_truth_joints,
    joint_scores,
)
from eft_jax.geometry import weak_perspective

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


def evaluate_fits(
    model: body.BodyModel, rotmats, betas, cameras, keypoints, true_spin49, true_vertices
) -> dict:
    """Per-exemplar scores (a dict of (N,) float arrays) of N fits of `model`: rotmats
    (N, 24, 3, 3), betas (N, 10), cameras (N, 3) weak perspective [s, tx, ty]; against the input
    keypoints (N, 49, 3) and the truth: SPIN-49 joints (N, 49, 3) and vertices (N, V, 3) of the
    same body model, in metres, camera frame."""
    arrays = [
        np.asarray(a, np.float32)
        for a in (rotmats, betas, cameras, keypoints, true_spin49, true_vertices)
    ]
    count = arrays[0].shape[0]
    if any(a.shape[0] != count for a in arrays):
        raise ValueError(
            f"evaluate_fits: inputs disagree on the number of fits: {[a.shape for a in arrays]}"
        )
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


_forward = jax.jit(body.forward)


def smpl_truth(models: dict, poses, betas, genders) -> dict:
    """The true meshes and H36M-17 joints of SMPL parameters, each made with its person's model as
    SPIN's eval.py does for 3DPW ('m' -> models['m'], anything else -> models['f']), or with
    models['neutral'] for everyone when that is the only model. poses (N, 72) axis-angle, betas
    (N, 10). Returns {'vertices': (N, V, 3), 'h36m17': (N, 17, 3)} as numpy arrays."""
    poses = np.asarray(poses, np.float32).reshape(-1, 24, 3)
    betas = np.asarray(betas, np.float32)
    if set(models) == {"neutral"}:
        chosen = np.zeros(len(poses), int)
        order = [models["neutral"]]
    else:
        chosen = np.array([0 if str(g) == "m" else 1 for g in genders])
        order = [models["m"], models["f"]]
    vertices, h36m17 = None, None
    for index, model in enumerate(order):
        if not np.any(chosen == index):
            continue
        out = jax.device_get(_forward(model, jnp.asarray(poses), jnp.asarray(betas)))
        if vertices is None:
            vertices, h36m17 = np.zeros_like(out.vertices), np.zeros_like(out.h36m17)
        vertices[chosen == index] = out.vertices[chosen == index]
        h36m17[chosen == index] = out.h36m17[chosen == index]
    return {"vertices": vertices, "h36m17": h36m17}


@functools.partial(jax.jit, static_argnames=("joints", "with_pck"))
def _benchmark_scores(model, rotmats, betas, truth, *, joints, with_pck):
    out = body.forward(model, rotmats, betas)
    pred = centred_h36m_joints(out.h36m17, joints)
    if "S" in truth:
        return joint_scores(pred, centred_truth_joints(truth["S"], joints), with_pck=with_pck)
    scores = joint_scores(pred, centred_h36m_joints(truth["h36m17"], joints), with_pck=with_pck)
    scores["pve_mm"] = centred_pve_mm(
        out.vertices, truth["vertices"], out.h36m17[..., 0, :], truth["h36m17"][..., 0, :]
    )
    return scores


def benchmark_scores(
    protocol: Protocol, model: body.BodyModel, rotmats, betas, truth: dict
) -> dict:
    """Per-exemplar scores (a dict of (N,) float arrays, eft_jax.eval.protocols) of N predictions
    of `model` (which needs its H36M-17 regressor): rotmats (N, 24, 3, 3), betas (N, 10); against
    `truth`: {'S': (N, 24, 4)} (Human3.6M, MPI-INF-3DHP) or `smpl_truth`'s dict (3DPW)."""
    if model.J_regressor_h36m is None:
        raise ValueError(
            f"{model.source}: the benchmark protocols need the body model's H36M-17 regressor"
        )
    scores = _benchmark_scores(
        model,
        jnp.asarray(rotmats, jnp.float32),
        jnp.asarray(betas, jnp.float32),
        {key: jnp.asarray(value, jnp.float32) for key, value in truth.items()},
        joints=protocol.joints,
        with_pck=protocol.pck,
    )
    return {key: np.asarray(value, np.float64) for key, value in jax.device_get(scores).items()}


def _finite_mean(values) -> float | None:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def group_table(per: dict, groups) -> list[dict]:
    """One row per group (sorted by name): {'group', 'exemplars', and the mean of every score
    over the group's exemplars, None where none is finite}. `groups`: a name per exemplar."""
    groups = np.asarray([str(g) for g in groups])
    rows = []
    for name in sorted(set(groups.tolist())):
        members = groups == name
        rows.append(
            {"group": name, "exemplars": int(members.sum())}
            | {k: _finite_mean(v[members]) for k, v in per.items()}
        )
    return rows
