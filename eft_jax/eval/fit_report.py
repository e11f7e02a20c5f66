"""The report of an EFT run (the demo): the fit's own 2D figures before and after EFT, and an
evaluator's scores of the regressor's prediction ("before", where EFT starts) and of the fits
("after"), as a dict (report.json) and a markdown table (report.md).

    report = fit_report(fits, skipped, inputs="...", crop_size=224, regressor=loaded.source,
                        body_model=model.source, recipe="...", max_iters=100)
    report["evaluation"], per_fit = score_before_after(evaluator, regressor, variables, exemplars,
                                                       fits, truth)
    report["seconds"] = {"total": ..., "fit": ..., "pictures": ..., "strips": ...}
    markdown = report_markdown(report)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

EVALUATION_ROWS = (
    ("mean_2d_px", "2D keypoint error, visible LSP-14 keypoints (px of a 224 px crop, mean)"),
    ("mpjpe_mm", "MPJPE, LSP-14 (mm)"),
    ("pa_mpjpe_mm", "PA-MPJPE, LSP-14 (mm)"),
    ("pve_mm", "PVE (mm)"),
    ("facing_over_90_pct", "facing the wrong way (% over 90°)"),
    ("lr_swap_pct", "left/right limb pairs swapped (%)"),
)


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


def fit_report(
    fits: list[dict],
    skipped: list,
    *,
    inputs: str,
    crop_size: int,
    regressor: str,
    body_model: str,
    recipe: str,
    max_iters: int,
) -> dict:
    """The run's description and the fits' own figures (`fits`: EFT JSON entries, `skipped`: the
    JSON's skipped list): counts, convergence, mean iterations, 2D keypoint error and loss before
    and after EFT."""
    return {
        "inputs": inputs,
        "exemplars": len(fits) + len(skipped),
        "fitted": len(fits),
        "crop_size": crop_size,
        "regressor": regressor,
        "body_model": body_model,
        "recipe": recipe,
        "max_iters": max_iters,
        "converged": sum(f["stop_reason"] == "converged" for f in fits),
        "mean_iterations": _mean(f["iterations"] for f in fits),
        "keypoint_error_px": [
            _mean(f[f"keypoint_error_px_{when}"] for f in fits) for when in ("before", "after")
        ],
        "keypoint_loss": [
            _mean(f[f"loss_2d_{when}"] for f in fits) for when in ("before", "after")
        ],
    }


def score_before_after(
    evaluator, regressor, variables, exemplars, fits: list[dict], truth
) -> tuple[dict, dict]:
    """The evaluator's summaries of the regressor's own prediction ("before", where EFT starts)
    and of the EFT fits ("after"), over the fitted exemplars (`truth`: one record per exemplar),
    and each fit's own scores: exemplar id -> {score name: value}."""
    by_id = {f["exemplar_id"]: f for f in fits}
    fitted = [i for i, e in enumerate(exemplars) if str(e.id) in by_id]
    keypoints = np.stack([exemplars[i].keypoints for i in fitted])
    records = [truth[i] for i in fitted]
    start = jax.jit(regressor.apply)(
        variables, jnp.asarray(np.stack([exemplars[i].image for i in fitted]))
    )
    ends = [by_id[str(exemplars[i].id)] for i in fitted]
    before = evaluator.scores(start.rotmats, start.betas, start.camera, keypoints, records)
    after = evaluator.scores(
        np.stack([f["parm_pose"] for f in ends]),
        np.stack([f["parm_shape"] for f in ends]),
        np.stack([f["parm_cam"] for f in ends]),
        keypoints,
        records,
    )
    per_fit = {
        fit["exemplar_id"]: {name: float(values[k]) for name, values in after.items()}
        for k, fit in enumerate(ends)
    }
    return {"before": evaluator.summary(before), "after": evaluator.summary(after)}, per_fit


def before_after_rows(report: dict) -> list[tuple[str, tuple[float, float]]]:
    """The report's (figure, (before EFT, after EFT)) rows."""
    rows = [
        (
            "2D keypoint error, keypoints of EFT's loss (px of a 224 px crop, mean)",
            report["keypoint_error_px"],
        ),
        ("2D keypoint loss (EFT's, mean)", report["keypoint_loss"]),
    ]
    if "evaluation" in report:
        before, after = report["evaluation"]["before"], report["evaluation"]["after"]
        rows += [(name, (before[key], after[key])) for key, name in EVALUATION_ROWS]
    return rows


def report_markdown(report: dict) -> str:
    """report.md: the run, the before/after table and the time."""
    rows = before_after_rows(report)
    lines = [
        "# eft-jax demo",
        "",
        f"{report['fitted']} of {report['exemplars']} exemplars fitted ({report['inputs']}), "
        f"{report['crop_size']} px crops; regressor: {report['regressor']}; body model: {report['body_model']}.",
        f"EFT with {report['recipe']}: at most {report['max_iters']} iterations, "
        f"{report['converged']} of {report['fitted']} converged under the threshold, "
        f"{report['mean_iterations']:.1f} iterations on average.",
        "",
        "| | before EFT | after EFT |",
        "|---|---:|---:|",
        *[f"| {name} | {before:.4g} | {after:.4g} |" for name, (before, after) in rows],
        "",
        f"Time: {report['seconds']['total']:.1f} s in all (fitting {report['seconds']['fit']:.1f} s, "
        f"pictures {report['seconds']['pictures']:.1f} s, strips {report['seconds']['strips']:.1f} s).",
        "",
    ]
    return "\n".join(lines)
