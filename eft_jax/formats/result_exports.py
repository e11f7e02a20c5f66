"""The exports of a finished run's result shards (`formats.result_shards`): EFT JSON, split into
parts past a size as EFT released one file per dataset, and SPIN's training `.npz`. Both stream
the records in input order from the shards, so no export holds every fit at once.

    run = RunIndex.open(shards_dir("fits.json"))
    export_eft_json(run, Path("coco.json"), part_size=100_000)   # coco-00001-of-00003.json, ...
    export_spin_npz(run, Path("coco_spin.npz"))

`min_quality` (`eft-jax export --min-quality Q`) leaves out every fit whose `quality_score`
(docs/quality.md) is under Q, or that has none: the EFT JSON lists it under "skipped" with that
reason, the SPIN npz has no row for it. The log and the shards keep every fit.
"""

from __future__ import annotations

import math
from pathlib import Path

from eft_jax.formats.eft_json import eft_entry_arrays, smpltype_for, write_eft_json
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.result_shards import RunIndex
from eft_jax.formats.spin_npz import write_spin_npz_entries


def part_paths(out: Path, total: int, part_size: int) -> list[Path]:
    """`out` when `total` fits in one part (or part_size is 0), else `<stem>-00001-of-0000K<suffix>`."""
    if not part_size or total <= part_size:
        return [out]
    parts = math.ceil(total / part_size)
    return [
        out.with_name(f"{out.stem}-{k:05d}-of-{parts:05d}{out.suffix}") for k in range(1, parts + 1)
    ]


def kept_by_quality(items, min_quality: float | None):
    """`items` (fit records and `Skip`s), each fit scored under `min_quality` (or not scored) as a
    `Skip` saying so; None keeps every fit."""
    for item in items:
        if min_quality is None or isinstance(item, Skip):
            yield item
            continue
        score = item.get("quality_score")
        if score is not None and score >= min_quality:
            yield item
            continue
        why = "no quality_score" if score is None else f"quality_score {score:.3f}"
        yield Skip(
            item.get("id", ""),
            f"{why} under --min-quality {min_quality}",
            item.get("annotId", 0),
            item.get("imageName", ""),
        )


def export_eft_json(
    run: RunIndex, out: str | Path, part_size: int = 0, min_quality: float | None = None
) -> list[dict]:
    """Write the run's EFT JSON: one file, or parts of `part_size` input exemplars each (fits and
    skips, in input order), each a whole EFT JSON file whose meta says which part it is (and the
    `min_quality` it was filtered by). Returns `write_eft_json`'s summary of each file."""
    arguments = run.meta["eft_json"]
    paths = part_paths(Path(out), len(run), part_size)
    summaries = []
    for number, path in enumerate(paths):
        start = number * part_size if len(paths) > 1 else 0
        stop = min(len(run), start + part_size) if len(paths) > 1 else len(run)
        meta = dict(arguments.get("meta") or {})
        if min_quality is not None:
            meta["min_quality"] = min_quality
        if len(paths) > 1:
            meta["part"] = f"{number + 1} of {len(paths)} (input exemplars {start}..{stop - 1})"
        summaries.append(
            write_eft_json(
                path,
                kept_by_quality(run.items(start, stop), min_quality),
                **{**arguments, "meta": meta},
            )
        )
    return summaries


def export_spin_npz(
    run: RunIndex,
    out: str | Path,
    image_prefix: str | None = None,
    min_quality: float | None = None,
) -> tuple[Path, int]:
    """Write SPIN's training `.npz` of the run: one row per fit its EFT JSON holds, in input order,
    and return it with the number of rows written. `image_prefix`: None takes the run's (the
    inputs' images folder, as `fit --spin-npz` does)."""
    arguments = run.meta["eft_json"]
    entries = eft_entry_arrays(
        kept_by_quality(run.items(), min_quality),
        smpltype=smpltype_for(arguments["body_kind"]),
        body_model=arguments["body_model"],
        decimals=arguments.get("decimals", 7),
    )
    prefix = run.meta.get("image_prefix", "") if image_prefix is None else image_prefix
    rows = 0

    def fits():
        nonlocal rows
        for entry in entries:
            if not isinstance(entry, Skip):
                rows += 1
                yield entry

    return write_spin_npz_entries(fits(), out, prefix), rows
