"""Append-only fit log (JSON lines) for interruptible, resumable fitting runs.

Each finished exemplar is one line, written and flushed as soon as it completes:

    {"status": "done", "id": ...,
     # the engine's result: rotmats (24,3,3), pose (24,3) axis-angle, betas (10), camera (3),
     # pred_keypoints_2d (49,2) in [-1, 1] of the crop, iterations, loss_2d_before,
     # loss_2d_after, stop_reason, ... (any extra JSON-able fields are kept; a full-frame fit's
     # cam_t (3), focal_length (2), principal_point (2) among them)
     # the exemplar's metadata (not its image):
     "center": [x, y], "scale": s, "keypoints": (49,3) in [-1, 1], "annotId", "imageName"}
    {"status": "skipped", "id": ..., "skip_reason": ..., "annotId": ..., "imageName": ...}

An optional first line {"eftjax_fit_log": 1, "header": {...}} records what the run was (config,
input file); reopening the log with a different header is an error naming the settings that
differ (`header_change`), so a resumed run cannot mix results of two different jobs.

A run killed mid-write leaves a truncated last line: readers ignore it, and reopening the log for
appending cuts it off. A damaged line anywhere else is an error naming the line. `done_ids` tells
a restarted run what to skip; `finalize` writes the EFT JSON with every input exemplar exactly once,
in input order (when an id appears twice, the later line wins).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from eft_jax.errors import InputError
from eft_jax.formats.eft_json import write_eft_json
from eft_jax.formats.exemplar import Skip

LOG_MAGIC = "eftjax_fit_log"
# Header fields added by later versions that only describe what other fields already fix (the
# recipe a checkpoint carries is fixed by the checkpoint): a log written before a field existed
# resumes as long as every field it does have agrees.
DESCRIPTIVE_HEADER_FIELDS = ("regressor_recipe",)
EXEMPLAR_META = ("center", "scale", "keypoints", "annotId", "imageName")
# `eft_jax.fitting.FitResult` field names -> the log's (and eft_json's) names.
RESULT_ALIASES = {
    "keypoint_loss_before": "loss_2d_before",
    "keypoint_loss_after": "loss_2d_after",
    "keypoints_2d": "pred_keypoints_2d",
    "pose_axis_angle": "pose",
    "translation": "cam_t",
}


class FitLogError(InputError, ValueError):
    """A fit log that is damaged or belongs to another run."""


def to_jsonable(value):
    """numpy / jax arrays and scalars (nested in dicts, lists, tuples) -> JSON types."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__array__"):  # numpy and jax arrays
        return np.asarray(value).tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in the fit log")


def _flat(node: dict, prefix: str = "") -> dict:
    """Nested settings by dotted key."""
    flat = {}
    for key, value in node.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _settings(header: dict) -> dict:
    """A header's settings by dotted key, the config's as the command line names them
    (`max_iters`, `loss.keypoint_weight`), the others under their header key (`crop_size`)."""
    config = header.get("config")
    rest = {k: v for k, v in header.items() if k != "config"}
    return {**(_flat(config) if isinstance(config, dict) else {}), **_flat(rest)}


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def header_change(path: Path, then: dict, now: dict) -> FitLogError:
    """The error for a log written with other settings than this run's: the keys that differ, with
    their old and new values, and the two ways on (start over, or continue with the old values)."""
    old, new = _settings(then), _settings(now)
    keys = [k for k in {**old, **new} if old.get(k, "unset") != new.get(k, "unset")]
    shown = keys[:4]
    changes = "; ".join(
        f"{k}: {_short(old.get(k, 'unset'))} then, {_short(new.get(k, 'unset'))} now" for k in shown
    )
    if len(keys) > len(shown):
        changes += f"; and {len(keys) - len(shown)} more"
    config = _flat(then.get("config") or {})
    old_values = [
        f"{k}={old[k]!r}" if k in config else f"{k} {_short(old.get(k, 'unset'))}" for k in shown
    ]
    return FitLogError(
        f"{path} was written with other settings ({changes}): rerun with --fresh to start over, "
        f"or with the old values ({', '.join(old_values)}) to continue it"
    )


def _same_run(then: dict, now: dict) -> bool:
    """Whether a log's header and this run's describe the same run."""
    now = {k: v for k, v in now.items() if k in then or k not in DESCRIPTIVE_HEADER_FIELDS}
    return then == now


def _fields(item) -> dict:
    """A dict, or a dataclass / plain object's fields, as a (shallow) dict."""
    if isinstance(item, dict):
        return dict(item)
    if dataclasses.is_dataclass(item):
        return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    if hasattr(item, "__dict__"):
        return dict(vars(item))
    raise TypeError(f"expected a dict or a dataclass; got {type(item).__name__}")


def _read_lines(path: Path) -> tuple[dict | None, list[dict]]:
    """(header or None, records) of a log; a truncated last line is ignored. Streams the file."""
    header, records = None, []
    if not path.exists():
        return header, records
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith(b"\n"):
                break  # a partial last line from a killed run: ignored
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise FitLogError(
                    f"{path}: line {number} is damaged ({error}); only the last line may be"
                ) from error
            if not isinstance(item, dict):
                raise FitLogError(f"{path}: line {number} is not a JSON object")
            if LOG_MAGIC in item:
                if number != 1:
                    raise FitLogError(f"{path}: header on line {number}; it must be the first")
                header = item.get("header")
                continue
            if "id" not in item or item.get("status") not in ("done", "skipped"):
                raise FitLogError(f"{path}: line {number} has no 'id' / 'status'")
            records.append(item)
    return header, records


def read_fit_log(path: str | Path) -> list[dict]:
    """All complete records of a log, in the order written ([] when the file does not exist)."""
    return _read_lines(Path(path))[1]


def read_fit_log_header(path: str | Path) -> dict | None:
    return _read_lines(Path(path))[0]


def done_ids(path: str | Path, include_skipped: bool = True) -> set[str]:
    """Ids a restarted run must not fit again (skipped ones too, unless include_skipped=False:
    then exemplars skipped last time, e.g. for a missing image, are retried)."""
    return {
        record["id"]
        for record in read_fit_log(path)
        if include_skipped or record["status"] == "done"
    }


class FitLog:
    """Appends records to a log file, one flushed line each. Use as a context manager.

    with FitLog(path, header={"config": ...}) as log:
        for result, exemplar in ...:
            log.append(result, exemplar)     # or log.append_skip(skip), a formats.exemplar.Skip
    """

    def __init__(self, path: str | Path, header: dict | None = None, *, fsync: bool = False):
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existing_header, records = _read_lines(self.path)
        if self.path.exists():
            self._cut_partial_line()
        if header is not None:
            header = to_jsonable(header)
            if self.path.exists() and self.path.stat().st_size > 0:
                if existing_header is None and records:
                    raise FitLogError(
                        f"{self.path}: has results but no header; cannot check it is the same run"
                    )
                if existing_header is not None and not _same_run(existing_header, header):
                    raise header_change(self.path, existing_header, header)
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        if header is not None and self.path.stat().st_size == 0:
            self._write({LOG_MAGIC: 1, "header": header})

    def _cut_partial_line(self) -> None:
        """Drop a partial last line (a killed run's), reading only the end of the file."""
        with open(self.path, "rb+") as handle:
            end = handle.seek(0, os.SEEK_END)
            if end == 0:
                return
            handle.seek(end - 1)
            if handle.read(1) == b"\n":
                return
            position = end
            while position > 0:
                start = max(0, position - 65536)
                handle.seek(start)
                chunk = handle.read(position - start)
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    handle.truncate(start + newline + 1)
                    return
                position = start
            handle.truncate(0)

    def _write(self, item: dict) -> None:
        line = json.dumps(item, allow_nan=True, separators=(",", ":"))
        self._handle.write(line + "\n")
        self._handle.flush()
        if self.fsync:
            os.fsync(self._handle.fileno())

    def append(self, result, exemplar=None) -> dict:
        """Log one finished exemplar; returns the record as written.

        result: the engine's result, a dict or a dataclass such as `fitting.FitResult` (numpy /
        jax arrays are fine; None fields are dropped; its names are mapped to the log's:
        keypoint_loss_before/after -> loss_2d_before/after, keypoints_2d -> pred_keypoints_2d,
        pose_axis_angle -> pose). A result whose stop_reason starts with "skipped" is logged
        as a skip record with the reason after "skipped: ".
        exemplar: the exemplar dict (or object) it was fitted on; its id, center, scale,
        keypoints, annotId and imageName are stored with the result (not its image).
        """
        fields = {RESULT_ALIASES.get(k, k): v for k, v in _fields(result).items() if v is not None}
        meta = _fields(exemplar) if exemplar is not None else {}
        if "id" in fields and "id" in meta and str(fields["id"]) != str(meta["id"]):
            raise ValueError(
                f"result id {fields['id']!r} does not match exemplar id {meta['id']!r}"
            )
        exemplar_id = meta.get("id", fields.get("id"))
        if exemplar_id is None:
            raise ValueError("a fit result needs an 'id' (in the result or the exemplar)")
        stop_reason = str(fields.get("stop_reason", ""))
        if stop_reason.startswith("skipped"):
            reason = stop_reason.partition(":")[2].strip() or stop_reason
            return self.append_skip(
                Skip(exemplar_id, reason, meta.get("annotId", 0), meta.get("imageName", ""))
            )
        record = {"status": "done", **to_jsonable(fields)}
        for key in EXEMPLAR_META:
            if key in meta:
                record[key] = to_jsonable(meta[key])
        record["id"] = str(exemplar_id)
        self._write(record)
        return record

    def append_skip(self, skip: Skip) -> dict:
        """Log an exemplar that was not fitted (a `formats.exemplar.Skip`)."""
        if not isinstance(skip, Skip):
            raise TypeError(f"append_skip needs a Skip record; got {type(skip).__name__}")
        record = {"status": "skipped", **skip.record()}
        self._write(record)
        return record

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def finalize(
    log_path: str | Path | Sequence[str | Path],
    json_path: str | Path,
    order: Sequence[str],
    *,
    body_kind: str,
    body_model: str,
    skipped: Iterable[Skip] = (),
    allow_missing: bool = False,
    dbname: str = "",
    meta: dict | None = None,
    decimals: int | None = 7,
) -> dict:
    """Assemble the EFT JSON from a log (or the logs of several processes), in input order.

    order: the ids of all input exemplars, in input order (fitted or skipped by the run).
    skipped: skip records of inputs that never reached the run (e.g. annotations the COCO reader
    dropped); they are listed in the file's "skipped" after the run's own skips.
    Raises FitLogError when the log lacks ids in `order` (unless allow_missing: then they are
    listed as skipped with reason "not in the fit log") or has ids that are not in `order`.
    Returns write_eft_json's summary plus 'duplicates' (ids logged more than once).
    """
    order = [str(i) for i in order]
    if len(set(order)) != len(order):
        raise FitLogError("the input order has repeated ids")
    log_paths = [log_path] if isinstance(log_path, (str, Path)) else list(log_path)
    latest, duplicates = {}, []
    for path in log_paths:
        for record in read_fit_log(path):
            if record["id"] in latest:
                duplicates.append(record["id"])
            latest[record["id"]] = record
    unknown = set(latest) - set(order)
    if unknown:
        raise FitLogError(
            f"{log_path}: {len(unknown)} logged ids are not in the input (e.g. {sorted(unknown)[:5]}); "
            "is this the log of another input?"
        )
    missing = [i for i in order if i not in latest]
    if missing and not allow_missing:
        raise FitLogError(
            f"{log_path}: {len(missing)} of {len(order)} exemplars have no result yet "
            f"(e.g. {missing[:5]}); resume the run, or pass allow_missing=True"
        )
    items = []
    for exemplar_id in order:
        record = latest.get(exemplar_id)
        if record is None:
            items.append(Skip(exemplar_id, "not in the fit log"))
        elif record["status"] == "skipped":
            items.append(Skip.from_record(record))
        else:
            items.append(record)
    summary = write_eft_json(
        json_path,
        items,
        body_kind=body_kind,
        body_model=body_model,
        skipped=skipped,
        dbname=dbname,
        meta=meta,
        decimals=decimals,
    )
    summary["duplicates"] = sorted(set(duplicates))
    return summary
