"""The summary of a regressor's run over a benchmark (`eft-jax evaluate`): its fields, its
markdown and the files it is written to.

    summary, per = summarize(run, dataset="3dpw", evaluator=evaluator, source=source.description,
                             regressor=loaded.source, bodies=bodies, crop_size=224)
    summary["worst"] = draw_worst(source, model, run, per[WORST_BY], out_dir, count=8)
    write_summary(out_dir, summary, per, run)         # summary.md, summary.json, per_exemplar.csv
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from eft_jax.eval.benchmark_run import BenchmarkRun
from eft_jax.eval.evaluation import group_table

# (score, column title) in table order; a table shows the scores its rows have.
COLUMNS = (
    ("mpjpe_mm", "MPJPE (mm)"),
    ("pa_mpjpe_mm", "PA-MPJPE (mm)"),
    ("pve_mm", "PVE (mm)"),
    ("pck150_pct", "PCK@150 (%)"),
    ("auc_pct", "AUC (%)"),
    ("pa_pck150_pct", "PA-PCK@150 (%)"),
    ("pa_auc_pct", "PA-AUC (%)"),
    ("error_2d_px", "2D error (px at 224)"),
    ("facing_error_deg", "facing error (deg)"),
    ("lr_swap_pct", "% L/R pairs swapped"),
)
WORST_BY = "pa_mpjpe_mm"


def summarize(
    run: BenchmarkRun,
    *,
    dataset: str,
    evaluator,
    source: str,
    regressor: str,
    bodies: str,
    crop_size: int,
) -> tuple[dict, dict]:
    """(the summary: protocol, regressor, body models, counts, means overall and per sequence,
    skipped exemplars with reasons; the per-exemplar scores as tabled). `worst` is the caller's
    to add. On synthetic humans the fitting comparison's summary is added and left/right swaps
    are tabled as a percentage."""
    per = dict(run.per)
    if dataset == "synthetic":  # the fitting comparison's columns, then swaps as a percentage
        synthetic_summary = evaluator.summary(per)
        per["lr_swap_pct"] = 100.0 * per.pop("lr_swaps")
    summary = {
        "dataset": dataset,
        "protocol": evaluator.description,
        "source": source,
        "regressor": regressor,
        "body_models": bodies,
        "crop_size": crop_size,
        "scored": len(run.order),
        "skipped": run.skipped,
        "overall": group_table(per, ["all"] * len(run.order))[0],
        "per_sequence": group_table(per, run.groups),
    }
    if dataset == "synthetic":
        summary["synthetic_summary"] = synthetic_summary
    return summary, per


def _table(rows: list[dict], first: str) -> str:
    keys = [(k, t) for k, t in COLUMNS if any(r.get(k) is not None for r in rows)]
    cell = lambda v: "–" if v is None else f"{v:.1f}" if not isinstance(v, int) else str(v)  # noqa: E731
    lines = [
        "| " + " | ".join([first, "exemplars"] + [t for _, t in keys]) + " |",
        "|---|" + "---:|" * (1 + len(keys)),
    ]
    lines += [
        "| "
        + " | ".join([str(r["group"]), str(r["exemplars"])] + [cell(r.get(k)) for k, _ in keys])
        + " |"
        for r in rows
    ]
    return "\n".join(lines)


def summary_markdown(summary: dict) -> str:
    """summary.md: the run's frames, data, regressor, body models, counts, skip reasons and tables."""
    reasons: dict[str, int] = {}
    for item in summary["skipped"]:
        reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
    lines = [
        f"# eft-jax evaluate: {summary['dataset']}",
        "",
        f"- frames: {summary['protocol']}",
        f"- data: {summary['source']}",
        f"- regressor: {summary['regressor']} ({summary['crop_size']} px crops)",
        f"- body: {summary['body_models']}",
        f"- scored {summary['scored']}, skipped {len(summary['skipped'])}",
        *[
            f"  - {count} x {reason}"
            for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])
        ],
        "",
        _table([summary["overall"]], "set"),
        "",
        "Per sequence:",
        "",
        _table(summary["per_sequence"], "sequence"),
    ]
    if summary["worst"]:
        lines += [
            "",
            f"Worst {len(summary['worst'])} by PA-MPJPE: "
            + ", ".join(Path(p).name for p in summary["worst"]),
        ]
    return "\n".join(lines) + "\n"


def write_summary(out_dir: Path, summary: dict, per: dict, run: BenchmarkRun) -> None:
    """`summary.md`, `summary.json` and `per_exemplar.csv` (id, sequence, each score of `per`) in
    `out_dir`."""
    order, groups = run.order, run.groups
    (out_dir / "summary.md").write_text(summary_markdown(summary))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    with open(out_dir / "per_exemplar.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "sequence", *per])
        for n, id_ in enumerate(order):
            writer.writerow([id_, groups[n], *(f"{per[k][n]:.4f}" for k in per)])
