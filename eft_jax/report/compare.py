"""Two fit files of the same exemplars, fit against fit (`eft-jax compare`).

    comparison = compare_runs(run_a, run_b, model)
    comparison.per_exemplar   # exemplar key -> {"A.error_2d_px", "B.error_2d_px",
                              #                  "between.mpjpe_mm", "between.pa_mpjpe_mm"}
    comparison.table          # the summary table: {'title', 'header', 'rows'}

Per exemplar both files have (matched by `runs.exemplar_key`): the distance between the two
fits' bodies (MPJPE and PA-MPJPE over LSP-14, hip-centred, `eval.metrics`; the fits' own
cameras play no part), and each fit's 2D error against the input keypoints its entry holds
(`gt_keypoint_2d`), in pixels of a 224 px crop over the visible LSP-14 keypoints, computed the
same way for both files (EFT's released files record no 2D error of their own). A fit's score,
when its file has one, is a field of its row and is summarised here too.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body
from eft_jax.errors import InputError
from eft_jax.eval import metrics
from eft_jax.geometry.cameras import weak_perspective
from eft_jax.geometry.crops import image_to_crop
from eft_jax.report.runs import Run
from eft_jax.report.summary import score_fields

CHUNK = 256  # bodies per forward pass


class CompareInputError(InputError, ValueError):
    """Two fit files that cannot be compared (another body model, no exemplar in common)."""


@dataclass
class Comparison:
    per_exemplar: dict  # exemplar key -> {field: value}
    table: dict  # {'title', 'header', 'rows'}
    only_a: int
    only_b: int


def check_comparable(a: Run, b: Run) -> None:
    if a.smpltype != b.smpltype:
        raise CompareInputError(
            f"{a.path} holds fits of body model {a.smpltype!r} and {b.path} of {b.smpltype!r}: "
            "fits of different body models have different skeletons and cannot be compared"
        )


@jax.jit
def _joints_and_projection(view, rotmats, betas, cameras):
    spin49 = body.forward_joints(view, rotmats, betas).spin49
    return spin49, weak_perspective(spin49, cameras)


def _bodies(view, entries: list[dict]):
    """SPIN-49 joints (N, 49, 3) and their projections into each fit's crop (N, 49, 2)."""
    joints, projected = [], []
    for start in range(0, len(entries), CHUNK):
        part = entries[start : start + CHUNK]
        out = _joints_and_projection(
            view,
            jnp.asarray([e["parm_pose"] for e in part], jnp.float32),
            jnp.asarray([e["parm_shape"] for e in part], jnp.float32),
            jnp.asarray([e["parm_cam"] for e in part], jnp.float32),
        )
        joints.append(np.asarray(out[0]))
        projected.append(np.asarray(out[1]))
    return np.concatenate(joints), np.concatenate(projected)


def _error_2d_px(entries: list[dict], projected: np.ndarray) -> np.ndarray:
    """Each fit's 2D error (px of a 224 crop, visible LSP-14) against its entry's keypoints."""
    errors = np.full(len(entries), np.nan)
    for i, entry in enumerate(entries):
        if "gt_keypoint_2d" not in entry:
            continue
        keypoints = image_to_crop(
            np.asarray(entry["gt_keypoint_2d"], np.float64),
            np.asarray(entry["bbox_center"], np.float64),
            float(entry["bbox_scale"]),
        )
        errors[i] = float(metrics.keypoint_error_px(projected[i], keypoints))
    return errors


def _stats(values) -> tuple[float | None, float | None]:
    """(mean, median) of the finite values; None where there are none."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return None, None
    return float(values.mean()), float(np.median(values))


def compare_runs(a: Run, b: Run, model: body.BodyModel) -> Comparison:
    check_comparable(a, b)
    index_b = {row["key"]: i for i, row in enumerate(b.rows)}
    pairs = [(i, index_b[row["key"]]) for i, row in enumerate(a.rows) if row["key"] in index_b]
    if not pairs:
        raise CompareInputError(
            f"{a.path} and {b.path} have no exemplar in common (matched by image name and "
            "annotation id, or by exemplar id)"
        )
    entries_a = [a.entries[i] for i, _ in pairs]
    entries_b = [b.entries[j] for _, j in pairs]
    view = body.joints_model(model)
    joints_a, projected_a = _bodies(view, entries_a)
    joints_b, projected_b = _bodies(view, entries_b)
    mpjpe = np.asarray(metrics.mpjpe_mm(joints_a, joints_b), np.float64)
    pa_mpjpe = np.asarray(metrics.pa_mpjpe_mm(joints_a, joints_b), np.float64)
    error_a = _error_2d_px(entries_a, projected_a)
    error_b = _error_2d_px(entries_b, projected_b)

    per_exemplar = {}
    for k, (i, j) in enumerate(pairs):
        fields = {
            "between.mpjpe_mm": mpjpe[k],
            "between.pa_mpjpe_mm": pa_mpjpe[k],
            "A.error_2d_px": error_a[k],
            "B.error_2d_px": error_b[k],
        }
        for label, run, index in (("A", a, i), ("B", b, j)):
            for name in score_fields(run.numeric_fields()):
                fields[f"{label}.{name}"] = run.rows[index].get(name, np.nan)
        per_exemplar[a.rows[i]["key"]] = {
            name: float(value) for name, value in fields.items() if np.isfinite(value)
        }

    both = np.isfinite(error_a) & np.isfinite(error_b)
    only_a, only_b = len(a.rows) - len(pairs), len(b.rows) - len(pairs)
    rows = [
        ["MPJPE between the fits, LSP-14 (mm)", *_stats(mpjpe)],
        ["PA-MPJPE between the fits, LSP-14 (mm)", *_stats(pa_mpjpe)],
        ["2D error of A, visible LSP-14 (px of a 224 px crop)", *_stats(error_a)],
        ["2D error of B, visible LSP-14 (px of a 224 px crop)", *_stats(error_b)],
    ]
    for label, run, picked in (("A", a, [i for i, _ in pairs]), ("B", b, [j for _, j in pairs])):
        for name in score_fields(run.numeric_fields()):
            rows.append(
                [f"{name} of {label}", *_stats([run.rows[i].get(name, np.nan) for i in picked])]
            )
    table = {
        "title": (
            f"A = {a.path.name}, B = {b.path.name}: {len(pairs)} exemplars in both "
            f"({only_a} only in A, {only_b} only in B); the lower 2D error: A in "
            f"{int((error_a < error_b)[both].sum())}, B in {int((error_b < error_a)[both].sum())}"
        ),
        "header": ["", "mean", "median"],
        "rows": rows,
    }
    return Comparison(per_exemplar, table, only_a, only_b)


def table_markdown(table: dict) -> str:
    """The summary table as markdown (comparison.md)."""

    def cell(value):
        if value is None:
            return "–"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = [
        "# eft-jax compare",
        "",
        table["title"] + ".",
        "",
        "| " + " | ".join(table["header"]) + " |",
        "|---|" + "---:|" * (len(table["header"]) - 1),
        *["| " + " | ".join(cell(c) for c in row) + " |" for row in table["rows"]],
        "",
    ]
    return "\n".join(lines)
