"""A fit file as the report sees it: one row of named fields per fit, found generically.

    run = read_run("fits.json")            # run.entries (EFT JSON data), run.rows, run.skipped
    run.numeric_fields()

A row holds every scalar field of a fit entry (EFT's own `annotId`, `imageName`, eft-jax's
`iterations`, `stop_reason`, `keypoint_error_px_after`, ...), and the scalar fields of any nested
object one level down under `<object>.<field>` (e.g. a `quality` dict's `quality.score`), so the
report shows, sorts and filters fields it was not written for. Arrays (`parm_*`, keypoints) are
left to the fit's own page. Each row also has `key`: what identifies its exemplar across two fit
files (`exemplar_key`), and `dataset` (the entry's own, or the file's `meta.dbname`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from eft_jax.formats.eft_json import read_eft_json

# Fields every fit page shows as arrays, not as row fields.
ARRAY_FIELDS = (
    "parm_pose",
    "parm_shape",
    "parm_cam",
    "bbox_center",
    "gt_keypoint_2d",
    "pred_keypoint_2d",
    "joint_validity_openpose18",
)
# A text field with more distinct values than this is an identifier, not a category to filter by.
MAX_CATEGORIES = 50


def exemplar_key(entry: dict, index: int) -> str:
    """What identifies a fit's exemplar across fit files: the image's file name with the COCO
    annotation id when there is one (EFT's released files have no exemplar ids), else eft-jax's
    exemplar id, else the image name and the entry's index."""
    image = Path(str(entry.get("imageName", ""))).name
    try:
        annot_id = int(entry.get("annotId", 0) or 0)
    except (TypeError, ValueError):
        annot_id = 0
    if annot_id:
        return f"{image}#{annot_id}"
    if entry.get("exemplar_id"):
        return str(entry["exemplar_id"])
    return f"{image}#{index}"


def _scalar(value):
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    return None


def row_fields(entry: dict) -> dict:
    """The scalar fields of a fit entry, nested objects' ones as `<object>.<field>`."""
    row = {}
    for name, value in entry.items():
        if name in ARRAY_FIELDS:
            continue
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                scalar = _scalar(inner_value)
                if scalar is not None:
                    row[f"{name}.{inner}"] = scalar
            continue
        scalar = _scalar(value)
        if scalar is not None:
            row[name] = scalar
    return row


@dataclass
class Run:
    """One fit file: its EFT JSON entries, their rows, its skipped exemplars and meta."""

    path: Path
    entries: list[dict]
    rows: list[dict]
    skipped: list[dict]
    meta: dict
    smpltype: str = field(default="smpl")

    def numeric_fields(self) -> list[str]:
        names: dict[str, None] = {}
        for row in self.rows:
            for name, value in row.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    names.setdefault(name)
        return list(names)


def read_run(path) -> Run:
    """Read an EFT JSON fit file (eft-jax's fit / smplify / demo output, or EFT's released files)."""
    path = Path(path)
    document = read_eft_json(path)
    meta, entries = document["meta"], document["data"]
    rows = []
    for index, entry in enumerate(entries):
        row = row_fields(entry)
        row["key"] = exemplar_key(entry, index)
        row.setdefault("dataset", str(meta.get("dbname") or "unknown"))
        rows.append(row)
    smpltypes = {str(entry.get("smpltype", "smpl")) for entry in entries}
    smpltype = smpltypes.pop() if len(smpltypes) == 1 else str(meta.get("smpltype", "smpl"))
    return Run(path, entries, rows, list(document["skipped"]), meta, smpltype)
