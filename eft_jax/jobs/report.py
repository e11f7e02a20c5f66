"""`eft-jax report`: the static HTML report of a fit file (configs/report.py, docs/report.md).

It writes `<output_dir>/index.html` and its assets (eft_jax/report/site.py): the summary, the
gallery of every fit (thumbnails cached: a rerun on a grown run draws only the new fits) and a
page per fit with a 3D view of its body.
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from eft_jax import body
from eft_jax.config import ConfigError
from eft_jax.eval.pictures import check_body_model
from eft_jax.report import CropSource, ReportResult, read_run, write_report


def run_report(config: ml_collections.ConfigDict) -> ReportResult:
    if config.fits is None:
        raise ConfigError("report needs the fit file (eft-jax report FITS.json)")
    fits = Path(config.fits)
    run = read_run(fits)
    model = body.load(config.body_model)
    check_body_model(run.entries, model, fits)
    out_dir = config.output_dir or fits.with_name(f"{fits.stem}_report")
    return write_report(
        [run],
        out_dir,
        model=model,
        crops=CropSource.choose(config.images, config.crops),
        thumbnail_size=config.thumbnail_size,
        title=config.title or f"eft-jax report: {fits.name}",
        strips_dir=config.strips,
    )
