"""`eft-jax compare`: two fit files of the same exemplars and body model (configs/compare.py).

In `output_dir` it writes `comparison.md` (the summary table), `comparison.csv` (per exemplar:
the distance between the two fits, each one's 2D error, their scores) and the report of both fits
side by side (`index.html`, eft_jax/report/site.py).
"""

from __future__ import annotations

import csv
from pathlib import Path

import ml_collections

from eft_jax import body
from eft_jax.config import ConfigError
from eft_jax.eval.pictures import check_body_model
from eft_jax.report import (
    Comparison,
    CropSource,
    ReportResult,
    compare_runs,
    read_run,
    table_markdown,
    write_report,
)
from eft_jax.report.compare import check_comparable


def run_compare(config: ml_collections.ConfigDict) -> tuple[Comparison, ReportResult, Path]:
    if config.fits_a is None or config.fits_b is None:
        raise ConfigError("compare needs two fit files (eft-jax compare A.json B.json)")
    path_a, path_b = Path(config.fits_a), Path(config.fits_b)
    run_a, run_b = read_run(path_a), read_run(path_b)
    check_comparable(run_a, run_b)
    model = body.load(config.body_model)
    check_body_model(run_a.entries, model, path_a)
    check_body_model(run_b.entries, model, path_b)
    comparison = compare_runs(run_a, run_b, model)
    out_dir = Path(config.output_dir or path_a.with_name(f"{path_a.stem}_vs_{path_b.stem}"))
    result = write_report(
        [run_a, run_b],
        out_dir,
        model=model,
        crops=CropSource.choose(config.images, config.crops),
        thumbnail_size=config.thumbnail_size,
        title=f"eft-jax compare: A = {path_a.name}, B = {path_b.name}",
        extra=comparison.per_exemplar,
        tables=[comparison.table],
    )
    markdown = out_dir / "comparison.md"
    markdown.write_text(table_markdown(comparison.table))
    names = sorted({name for fields in comparison.per_exemplar.values() for name in fields})
    with open(out_dir / "comparison.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["exemplar", *names])
        for key, fields in comparison.per_exemplar.items():
            writer.writerow([key, *(fields.get(name, "") for name in names)])
    return comparison, result, markdown
