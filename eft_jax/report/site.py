"""The static HTML report of one fit file, or of two side by side: a folder that opens from
`file://` with no server and no network.

    result = write_report([run], "report/", model=model, crops=CropSource.from_images("images/"))
    result.index   # report/index.html

The folder:

    index.html, fit.html        the summary and gallery; one fit's page (fit.html#<row>)
    assets/                     the page scripts and style (copied from the package)
    data/report.js              window.EFT_REPORT: the runs' summaries, the columns, one row per
                                exemplar (fields, thumbnail names), histograms' fields, curves
    data/fits/<k>.js            the full fit entries of rows k*CHUNK.., loaded by the fit page
    data/body.js                the body model's arrays, once (`body_arrays`)
    thumbs/                     [crop | overlay | side view] per fit, cached by content
    strips/                     the Figure-1 strips, when the run recorded them

Data reaches the pages through `<script>` files, since a `file://` page may not `fetch()` its
neighbours. With two runs (`eft-jax compare`), a row's fields of each run are prefixed `A.` and
`B.`, and `extra` adds fields per exemplar key (the comparison's distances, the truth).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from eft_jax import body
from eft_jax.report.body_arrays import write_body_script
from eft_jax.report.runs import MAX_CATEGORIES, Run
from eft_jax.report.summary import histogram_fields, kept_curves, run_summary
from eft_jax.report.thumbnails import CropSource, draw_thumbnails

CHUNK = 500  # fit entries per data/fits/<k>.js
ASSETS = ("report.css", "report.js", "fit.js", "viewer.js")
PAGES = ("index.html", "fit.html")
RUN_LABELS = ("A", "B")
# Text fields that name one fit, not a category of fits to filter by.
IDENTIFIERS = ("key", "exemplar_id", "imageName")


@dataclass
class ReportResult:
    index: Path
    fits: int  # rows (exemplars) in the report
    drawn: int  # thumbnails drawn by this run (the rest came from the cache)
    seconds: float
    body_kind: str  # the body model's kind ('open', 'smpl'): see body_arrays.sharing_note


def _field_names(runs: list[Run], extra: dict) -> list[str]:
    names: dict[str, None] = {"key": None}
    for label, run in zip(RUN_LABELS, runs):
        prefix = f"{label}." if len(runs) > 1 else ""
        for row in run.rows:
            for name in row:
                if name != "key":
                    names.setdefault(prefix + name)
    for fields in extra.values():
        for name in fields:
            names.setdefault(name)
    return list(names)


def _joined_rows(runs: list[Run]) -> list[tuple[str, list[int]]]:
    """(key, [entry index in each run]) for the exemplars every run has, in the first run's order."""
    where = [{row["key"]: i for i, row in enumerate(run.rows)} for run in runs]
    return [
        (row["key"], [w[row["key"]] for w in where])
        for row in runs[0].rows
        if all(row["key"] in w for w in where[1:])
    ]


def _finite(value):
    """A table cell or field as JSON can hold it: NaN and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _columns(fields: list[str], rows: list[dict]) -> tuple[list[str], list[str]]:
    """The fields that hold numbers (sortable, with ranges) and the categories to filter by: text
    or yes/no fields with few values that are not a fit's own name or id."""
    numeric = [
        name
        for name in fields
        if any(
            isinstance(r.get(name), (int, float)) and not isinstance(r.get(name), bool)
            for r in rows
        )
    ]
    categories = [
        name
        for name in fields
        if name.split(".")[-1] not in IDENTIFIERS
        and any(isinstance(r.get(name), (str, bool)) for r in rows)
        and len({r.get(name) for r in rows} - {None}) <= MAX_CATEGORIES
    ]
    return numeric, categories


def _histograms(numeric: list[str], labels) -> list[str]:
    if len(labels) == 1:
        return histogram_fields(numeric)
    return [
        f"{label}.{name}"
        for label in labels
        for name in histogram_fields(n[2:] for n in numeric if n.startswith(f"{label}."))
    ]


def _prune_thumbnails(folder: Path, kept: set[str]) -> None:
    """Remove the thumbnails of fits the report no longer holds (changed or gone)."""
    for path in folder.glob("*.jpg"):
        if path.name not in kept:
            path.unlink()


def _write_script(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_report(
    runs: list[Run],
    out_dir,
    *,
    model: body.BodyModel,
    crops: CropSource,
    thumbnail_size: int = 96,
    title: str = "eft-jax report",
    strips_dir=None,
    extra: dict | None = None,
    tables: list[dict] | None = None,
) -> ReportResult:
    """Write the report folder of one run (or two, side by side; rows are the exemplars both
    have). `extra`: exemplar key -> {field: number} added to its row (truth, distances);
    `tables`: [{'title', 'header', 'rows'}] shown as they are in the summary; `strips_dir`: a
    folder of `<exemplar_id>.png` Figure-1 strips, copied for the fits that have one."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    extra = extra or {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in PAGES:
        (out_dir / name).write_bytes(_asset(name))
    for name in ASSETS:
        _write_bytes(out_dir / "assets" / name, _asset(name))
    write_body_script(model, out_dir / "data" / "body.js")

    labels = RUN_LABELS[: len(runs)]
    thumbs, drawn = [], 0
    for run in runs:
        names, count = draw_thumbnails(
            run.entries, crops, model, out_dir / "thumbs", size=thumbnail_size
        )
        thumbs.append(names)
        drawn += count

    joined = _joined_rows(runs)
    fields = _field_names(runs, extra)
    rows, flat_rows, strips = [], [], {}
    if strips_dir is not None:
        for key, (index, *_) in joined:
            strip = Path(strips_dir) / f"{runs[0].entries[index].get('exemplar_id', '')}.png"
            if strip.is_file():
                strips[key] = f"strips/{strip.name}"
                _write_bytes(out_dir / strips[key], strip.read_bytes())
    for key, indices in joined:
        flat = {"key": key}
        for label, run, index in zip(labels, runs, indices):
            prefix = f"{label}." if len(runs) > 1 else ""
            flat |= {
                prefix + name: value for name, value in run.rows[index].items() if name != "key"
            }
        flat |= {name: v for name, v in extra.get(key, {}).items() if _finite(v) is not None}
        flat_rows.append(flat)
        rows.append(
            {
                "values": [flat.get(name) for name in fields],
                "thumbs": [thumbs[r][index] for r, index in enumerate(indices)],
                "strip": strips.get(key),
            }
        )

    numeric, categories = _columns(fields, flat_rows)
    histograms = _histograms(numeric, labels)
    truth_field = "truth.pa_mpjpe_mm"
    report = {
        "title": title,
        "labels": list(labels),
        "runs": [run_summary(run) for run in runs],
        "body": {"kind": model.kind, "source": Path(model.source).name if model.source else ""},
        "fields": fields,
        "numeric": numeric,
        "categories": categories,
        "histograms": histograms,
        "curves": kept_curves(flat_rows, truth_field) if truth_field in numeric else {},
        "tables": [
            {**table, "rows": [[_finite(cell) for cell in row] for row in table["rows"]]}
            for table in tables or []
        ],
        "chunk": CHUNK,
        "rows": rows,
    }
    _write_script(
        out_dir / "data" / "report.js",
        f"window.EFT_REPORT = {json.dumps(report, allow_nan=False)};\n",
    )
    _prune_thumbnails(out_dir / "thumbs", {name for names in thumbs for name in names})
    for stale in (out_dir / "data" / "fits").glob("*.js"):
        stale.unlink()
    for first in range(0, len(joined), CHUNK):
        part = [
            [run.entries[index] for run, index in zip(runs, indices)]
            for _, indices in joined[first : first + CHUNK]
        ]
        _write_script(
            out_dir / "data" / "fits" / f"{first // CHUNK}.js",
            f"window.EFT_FIT_CHUNK({first // CHUNK}, {json.dumps(part)});\n",
        )
    return ReportResult(
        out_dir / "index.html", len(rows), drawn, time.perf_counter() - start, model.kind
    )


def _asset(name: str) -> bytes:
    return resources.files("eft_jax.report").joinpath("assets", name).read_bytes()


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
