"""The report's summary of a run: counts, skips by reason, which fields get a histogram, and,
when the truth is known, the kept-fraction curves that show how well a ranking finds bad fits.

    summary = run_summary(run)
    curves = kept_curves(rows, truth_field="truth.pa_mpjpe_mm")
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from eft_jax.report.runs import Run

# Fields shown as histograms when a run has them, in this order; every field whose name ends in
# "score" (the quality score a fit may carry) comes after them.
HISTOGRAM_FIELDS = ("keypoint_error_px_after", "iterations", "truth.pa_mpjpe_mm")
# How a fit's 2D error ranks it (lower is better) when no score is there, or beside the score.
ERROR_FIELD = "keypoint_error_px_after"
FACING_FIELD = "truth.facing_error_deg"
KEPT_FRACTIONS = tuple(np.round(np.arange(0.1, 1.0001, 0.05), 2).tolist())


def run_summary(run: Run) -> dict:
    """Counts, skips by reason and stop reasons of one fit file."""
    reasons = Counter(
        str(skip.get("skip_reason") or skip.get("reason") or "unknown") for skip in run.skipped
    )
    return {
        "path": str(run.path),
        "smpltype": run.smpltype,
        "fitted": len(run.rows),
        "skipped": len(run.skipped),
        "skip_reasons": dict(reasons.most_common()),
        "stop_reasons": dict(Counter(str(row.get("stop_reason", "-")) for row in run.rows)),
    }


def score_fields(fields) -> list[str]:
    return [name for name in fields if name.split(".")[-1].endswith("score")]


def histogram_fields(fields) -> list[str]:
    fields = list(fields)
    return [name for name in HISTOGRAM_FIELDS if name in fields] + score_fields(fields)


def kept_curves(rows: list[dict], truth_field: str) -> dict:
    """For each ranking of the fits (by 2D error, lowest first; by each score, highest first):
    the mean `truth_field` and the share facing over 90° away from the truth of the best-ranked
    fraction of the fits, at `KEPT_FRACTIONS`. Fits without the truth are left out."""
    known = [row for row in rows if row.get(truth_field) is not None]
    if not known:
        return {}
    truth = np.asarray([row[truth_field] for row in known], np.float64)
    facing = np.asarray([(row.get(FACING_FIELD) or 0.0) > 90.0 for row in known], np.float64)
    rankings = {}
    fields = {name for row in known for name in row}
    if ERROR_FIELD in fields:
        rankings[ERROR_FIELD] = np.asarray(
            [row.get(ERROR_FIELD, np.inf) for row in known], np.float64
        )
    for name in score_fields(sorted(fields)):
        rankings[name] = -np.asarray([row.get(name, -np.inf) for row in known], np.float64)
    curves = {"truth_field": truth_field, "kept": list(KEPT_FRACTIONS), "by": {}}
    for name, badness in rankings.items():
        order = np.argsort(badness, kind="stable")
        means, facings = [], []
        for fraction in KEPT_FRACTIONS:
            kept = order[: max(1, int(round(fraction * len(order))))]
            means.append(float(truth[kept].mean()))
            facings.append(float(facing[kept].mean()))
        curves["by"][name] = {"mean": means, "facing_over_90": facings}
    return curves
