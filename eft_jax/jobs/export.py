"""`eft-jax export`: a finished run's fits as EFT JSON (split into parts past `part_size`) or SPIN's
training .npz, streamed from its result shards (configs/export.py, formats/result_exports.py)."""

from __future__ import annotations

from pathlib import Path

import ml_collections

from eft_jax.config import ConfigError
from eft_jax.formats.result_exports import export_eft_json, export_spin_npz
from eft_jax.formats.result_shards import RunIndex, shards_dir

FORMATS = ("eft-json", "spin-npz")


def run_export(config: ml_collections.ConfigDict) -> str:
    """Write the export; returns the summary line."""
    missing = [field for field in ("run", "format", "out") if config.get(field) is None]
    if missing:
        raise ConfigError(f"export needs the config fields {missing} (RUN, --format, --out)")
    if config.format not in FORMATS:
        raise ConfigError(f"export format {config.format!r} is not one of {FORMATS}")
    run_path = Path(config.run)
    run = RunIndex.open(run_path if run_path.suffix == ".shards" else shards_dir(run_path))
    min_quality = config.min_quality
    if min_quality is not None and not 0.0 <= min_quality <= 1.0:
        raise ConfigError(f"min_quality is a quality_score in [0, 1]; got {min_quality}")
    filtered = "" if min_quality is None else f" (quality_score >= {min_quality})"
    if config.format == "spin-npz":
        path, rows = export_spin_npz(run, Path(config.out), config.image_prefix, min_quality)
        return f"eft-jax export: {rows} fits of {len(run)} exemplars{filtered}; wrote {path}"
    summaries = export_eft_json(run, Path(config.out), config.part_size, min_quality)
    written = sum(summary["written"] for summary in summaries)
    skipped = sum(summary["skipped"] for summary in summaries)
    where = (
        str(summaries[0]["path"])
        if len(summaries) == 1
        else f"{len(summaries)} parts, {summaries[0]['path']} .. {summaries[-1]['path']}"
    )
    return f"eft-jax export: {written} fits{filtered}, {skipped} skipped; wrote {where}"
