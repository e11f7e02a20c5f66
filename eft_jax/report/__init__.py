"""The static HTML report of a fit run, and fit-versus-fit comparison (`eft-jax report`,
`eft-jax compare`, the demo's report/).

    from eft_jax.report import CropSource, read_run, write_report
    run = read_run("fits.json")
    result = write_report([run], "fits_report/", model=body.load(),
                          crops=CropSource.from_images("images/"))
    comparison = compare_runs(run_a, run_b, model)   # per exemplar and a summary table

Modules: `runs.py` (a fit file as rows of named fields), `thumbnails.py` (cached pictures by the
JAX rasteriser), `body_arrays.py` (the body model for the page's 3D view), `summary.py` (counts,
histograms' fields, kept-fraction curves), `site.py` (the folder), `compare.py` (two fit files),
`assets/` (the pages and their scripts: no library, no network).
"""

from eft_jax.report.body_arrays import sharing_note
from eft_jax.report.compare import CompareInputError, Comparison, compare_runs, table_markdown
from eft_jax.report.runs import Run, read_run
from eft_jax.report.site import ReportResult, write_report
from eft_jax.report.thumbnails import CropSource

__all__ = [
    "CompareInputError",
    "Comparison",
    "CropSource",
    "ReportResult",
    "Run",
    "compare_runs",
    "read_run",
    "sharing_note",
    "table_markdown",
    "write_report",
]
