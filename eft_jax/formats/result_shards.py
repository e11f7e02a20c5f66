"""A fitting run's results kept in shards: fixed-size `.npz` files of fit records, and an index.

A run that writes `fits.json` keeps, next to its fit logs (`formats.fit_log`), a folder
`fits.json.shards/` (schema in docs/results.md):

    fits.json.log.000000.npz    the records of bytes [log_start, log_end) of `fits.json.log.jsonl`,
    fits.json.log.000001.npz    SHARD_SIZE records each (a process's last shard may hold fewer)
    fits.json.log-1of2.000000.npz   ... of process 1 of 2's log `fits.json.log-1of2.jsonl`
    index.npz                   written when every exemplar is done: the ids in input order, with
                                the file and row of each one's record, and what the exports need

The log stays the run's journal (one flushed line per fit, so a killed run loses nothing); each
process seals its own log into shards as it goes (`ShardWriter`), every shard written to a
temporary name, flushed to disk, then renamed, so a reader sees whole shards or none. A shard is
columnar: one array per record field (stacked when every record has it as a number or numeric
array of one shape, in float32 where that holds the values exactly; strings as a string array;
anything else as JSON text per row), `<field>.present` where some records lack the field, and
`__meta__` (JSON: schema, rows, column kinds, the log and byte range it holds). A record read
back is the logged record, with numpy arrays for lists.

Where a log has lines no shard holds yet (a killed run, or a run begun by an eft-jax older than
shards: schema 0, logs only), those lines are read from the log itself (`index_results`), and the
process that owns the log seals them when it next opens it. Reading one fit by id is a lookup:
`RunIndex.record(id)` finds its file and row in the index and reads that shard.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
import re
import struct
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from eft_jax.errors import InputError
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.fit_log import iter_fit_log, to_jsonable

SCHEMA_VERSION = 1  # 0: logs only (eft-jax before result shards), still read and sealed
SHARD_SIZE = 1024  # records per shard: a few MB, a few hundred records a second of fitting
INDEX_NAME = "index.npz"
META = "__meta__"
PRESENT = ".present"
FITTED, FAILED = "fitted", "failed"  # a record's outcome; a skipped one's is its reason


class ResultShardError(InputError, ValueError):
    """A result shard or run index that is damaged, newer than this eft-jax, or not this run's."""


def shards_dir(out_json: str | Path) -> Path:
    """The shards folder of a run that writes `out_json`: `<out_json>.shards`."""
    out_json = Path(out_json)
    return out_json.with_name(out_json.name + ".shards")


def write_npz_atomically(path: Path, arrays: dict) -> Path:
    """np.savez to `<path>.<pid>.tmp`, flushed to disk, renamed to `path` (the folder's entry
    flushed too): a reader, or a rerun after SIGKILL, finds the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        # np.savez's layout, written member by member: np.savez takes its own keywords (`file`,
        # `allow_pickle`) out of the names, and a record field may have any name
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in arrays.items():
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return path


def _check_schema(meta: dict, path: Path) -> dict:
    schema = meta.get("schema")
    if not isinstance(schema, int) or schema > SCHEMA_VERSION:
        raise ResultShardError(
            f"{path} has results schema {schema!r}; this eft-jax reads schemas up to "
            f"{SCHEMA_VERSION}: open it with the newer eft-jax that wrote it"
        )
    return meta


def _read_meta(archive, path: Path) -> dict:
    if META + ".npy" not in archive.zip.namelist():
        raise ResultShardError(f"{path} is not an eft-jax results file (no {META})")
    return _check_schema(json.loads(str(archive[META])), path)


# --- columns ---------------------------------------------------------------------------------


def _plain(value):
    """A record's value as a shard column takes it: arrays (numpy, jax) as numpy arrays, numpy
    scalars as Python's, anything else as the fit log writes it (`to_jsonable`)."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__array__"):
        return np.asarray(value)
    return to_jsonable(value)


def _numbers(values: list, kinds: set) -> np.ndarray | None:
    """One numeric array of the values (arrays of one shape, or numbers or nested lists of
    numbers of one type), or None."""
    if kinds == {np.ndarray}:
        shape = values[0].shape
        if any(v.shape != shape or v.dtype.kind not in "biuf" for v in values):
            return None
        return np.stack(values) if values else None
    if (len(kinds) == 1 and kinds <= {int, float, bool, list}) or kinds == {list, np.ndarray}:
        try:
            return np.asarray(values)
        except ValueError:  # ragged lists
            return None
    return None


def _column(values: list) -> tuple[str, np.ndarray]:
    """(kind, array) of one field's values over the records that have it: 'number' (a numeric
    array, one row a record), 'str', or 'json' (anything else: JSON text a row)."""
    kinds = {type(v) for v in values}
    if kinds == {str}:
        return "str", np.asarray(values, dtype=str)
    array = _numbers(values, kinds)
    if array is not None:
        if array.dtype.kind in "biuf":
            if array.dtype == np.float64:
                compact = array.astype(np.float32)
                if np.array_equal(compact, array, equal_nan=True):
                    array = compact  # every value is a float32's: stored exactly in half the bytes
            return "number", array
    plain = [v.tolist() if isinstance(v, np.ndarray) else v for v in values]
    return "json", np.asarray([json.dumps(v, allow_nan=True) for v in plain], dtype=str)


def _columns(records: Sequence[dict]) -> tuple[dict, dict]:
    """The arrays of a shard's records and each field's kind."""
    names = list(dict.fromkeys(key for record in records for key in record))
    arrays, kinds = {}, {}
    for name in names:
        present = np.asarray([name in record for record in records])
        kinds[name], arrays[name] = _column([_plain(r[name]) for r in records if name in r])
        if not present.all():
            arrays[name + PRESENT] = present
    return arrays, kinds


def write_shard(path: Path, records: Sequence[dict], **meta) -> Path:
    """Write fit records (`formats.fit_log` records) as one shard, atomically; `meta` (the log
    and byte range they came from) goes into its `__meta__`."""
    arrays, kinds = _columns(records)
    header = {"schema": SCHEMA_VERSION, "rows": len(records), "columns": kinds, **meta}
    return write_npz_atomically(path, {META: np.asarray(json.dumps(header)), **arrays})


class Shard:
    """One shard read whole (columns as arrays); `record(row)` is that row's record."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with np.load(self.path, allow_pickle=False) as archive:
            self.meta = _read_meta(archive, self.path)
            self._columns = {}
            for name, kind in self.meta["columns"].items():
                values = archive[name]
                rows = list(range(self.meta["rows"]))
                if name + PRESENT in archive.files:
                    rows = (np.cumsum(archive[name + PRESENT]) - 1).tolist()
                    rows = [
                        r if p else -1 for r, p in zip(rows, archive[name + PRESENT], strict=True)
                    ]
                # each row's value as `_value` gives it, made once for the shard's rows (JSON
                # text is parsed when read, so no two records share a mutable value)
                if kind in ("json", "str") or values.ndim == 1:
                    values = values.tolist()
                else:
                    values = list(values)
                self._columns[name] = (values, rows, kind == "json")

    def __len__(self) -> int:
        return self.meta["rows"]

    def record(self, row: int) -> dict:
        record = {}
        for name, (values, rows, parsed) in self._columns.items():
            at = rows[row]
            if at >= 0:
                record[name] = json.loads(values[at]) if parsed else values[at]
        return record


def _value(kind: str, value: np.ndarray):
    if kind == "json":
        return json.loads(str(value))
    if kind == "str":
        return str(value)
    return value.item() if value.ndim == 0 else value


def read_record(path: Path, row: int) -> dict:
    """One row of a shard, reading only that row of each column: the members are stored
    uncompressed, so a row is at a known offset after its member's `.npy` header."""
    record = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        with np.load(path, allow_pickle=False) as arrays:
            meta = _read_meta(arrays, path)
            present = {
                name: arrays[name + PRESENT]
                for name in meta["columns"]
                if name + PRESENT in arrays.files
            }
        for name, kind in meta["columns"].items():
            at = row
            if name in present:
                if not present[name][row]:
                    continue
                at = int(np.count_nonzero(present[name][:row]))
            info = archive.getinfo(name + ".npy")
            raw.seek(info.header_offset + 26)  # the local header's name and extra lengths
            name_length, extra_length = struct.unpack("<HH", raw.read(4))
            raw.seek(info.header_offset + 30 + name_length + extra_length)
            version = np.lib.format.read_magic(raw)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(raw)
            row_size = dtype.itemsize * math.prod(shape[1:])
            raw.seek(raw.tell() + at * row_size)
            value = np.frombuffer(raw.read(row_size), dtype).reshape(shape[1:])
            record[name] = _value(kind, value)
    return record


def shard_meta(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        return _read_meta(archive, path)


def _shard_outcomes(path: Path) -> tuple[list[str], list[str]]:
    """(ids, outcomes) of a shard's rows, reading only the columns that say them."""
    with np.load(path, allow_pickle=False) as archive:
        meta = _read_meta(archive, path)
        rows = meta["rows"]
        ids = [str(i) for i in archive["id"]]
        status = archive["status"]

        def field(name, fill):
            if name not in meta["columns"]:
                return np.full(rows, fill)
            values = archive[name]
            if name + PRESENT not in archive.files:
                return values
            full = np.full(rows, fill, dtype=values.dtype if values.dtype.kind != "U" else object)
            full[archive[name + PRESENT]] = values
            return full

        loss = field("loss_2d_after", np.nan).astype(np.float64)
        reasons = field("skip_reason", "")
    outcomes = [
        _outcome_of(s, float(x), str(r)) for s, x, r in zip(status, loss, reasons, strict=True)
    ]
    return ids, outcomes


def _outcome_of(status: str, loss_after: float, skip_reason: str) -> str:
    if status == "skipped":
        return skip_reason.split(": ")[0]
    return FITTED if np.isfinite(loss_after) else FAILED


def outcome(record: dict) -> str:
    """'fitted', 'failed' (a non-finite loss) or a skipped record's reason (its first part)."""
    return _outcome_of(
        record["status"],
        float(record.get("loss_2d_after", np.nan)),
        str(record.get("skip_reason", "")),
    )


# --- writing a log's shards during a run -----------------------------------------------------


def _log_shards(directory: Path, log_path: Path) -> list[Path]:
    """The shards of one log, in order, checked to hold consecutive byte ranges from 0."""
    pattern = re.compile(re.escape(log_path.stem) + r"\.(\d{6})\.npz")
    shards = sorted(
        p for p in directory.glob(log_path.stem + ".*.npz") if pattern.fullmatch(p.name)
    )
    end = 0
    for number, path in enumerate(shards):
        meta = shard_meta(path)
        if pattern.fullmatch(path.name).group(1) != f"{number:06d}" or meta["log_start"] != end:
            raise ResultShardError(
                f"{path} does not follow the shards before it (bytes {meta['log_start']}.. of "
                f"{log_path.name}, expected {end}..): rerun with --fresh to start over"
            )
        end = meta["log_end"]
    if end and (not log_path.exists() or log_path.stat().st_size < end):
        raise ResultShardError(
            f"{directory} holds {end} bytes of {log_path.name}, which is shorter: the log was "
            "replaced; rerun with --fresh to start over"
        )
    return shards


class ShardWriter:
    """Seals one process's fit log into shards of `shard_size` records as the run goes.

        with FitLog(log_path, header=...) as log:
            shards = ShardWriter(shards_dir(out), log_path)   # seals what the log holds unsealed
            record = log.append(result, exemplar)
            shards.add(record, log.end)
            ...
            shards.seal()                                     # the last, partial shard

    Only the process that owns the log (and holds its lock) writes its shards."""

    def __init__(self, directory: Path, log_path: Path, shard_size: int = SHARD_SIZE):
        self.directory, self.log_path, self.shard_size = Path(directory), Path(log_path), shard_size
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob(log_path.stem + ".*.tmp"):  # a killed run's
            stale.unlink()
        shards = _log_shards(self.directory, self.log_path)
        self.number = len(shards)
        self.sealed_end = shard_meta(shards[-1])["log_end"] if shards else 0
        self._records, self._end = [], self.sealed_end
        for _, line_end, record in iter_fit_log(self.log_path, self.sealed_end):
            self.add(record, line_end)

    def add(self, record: dict, log_end: int) -> None:
        """One record just logged (`FitLog.append`'s return), whose line ends at byte `log_end`."""
        self._records.append(record)
        self._end = log_end
        if len(self._records) >= self.shard_size:
            self.seal()

    def seal(self) -> None:
        """Write the records added since the last shard (if any) as the next shard."""
        if not self._records:
            return
        path = self.directory / f"{self.log_path.stem}.{self.number:06d}.npz"
        write_shard(
            path,
            self._records,
            log=self.log_path.name,
            log_start=self.sealed_end,
            log_end=self._end,
        )
        self.number += 1
        self.sealed_end, self._records = self._end, []


# --- the run's index ---------------------------------------------------------------------------


@dataclasses.dataclass
class ResultIndex:
    """Where each exemplar's latest record is, over every shard and unsealed log line of a run:
    `where[id] = (file number, row)`, a row a shard's row or a log line's byte offset;
    `outcomes[id]` 'fitted', 'failed' or the skip reason."""

    files: list[Path]
    where: dict[str, tuple[int, int]]
    outcomes: dict[str, str]


def index_results(directory: Path, log_paths: Sequence[Path]) -> ResultIndex:
    """The results of every log (in the given order; a later record of an id wins, as in the
    logs): their shards, then their lines no shard holds yet. Reads the shards' id and outcome
    columns and the logs' unsealed lines only."""
    index = ResultIndex([], {}, {})
    directory = Path(directory)
    for log_path in log_paths:
        log_path = Path(log_path)
        shards = _log_shards(directory, log_path) if directory.is_dir() else []
        for path in shards:
            ids, outcomes = _shard_outcomes(path)
            number = len(index.files)
            index.files.append(path)
            for row, (exemplar_id, result) in enumerate(zip(ids, outcomes, strict=True)):
                index.where[exemplar_id] = (number, row)
                index.outcomes[exemplar_id] = result
        sealed_end = shard_meta(shards[-1])["log_end"] if shards else 0
        number = len(index.files)
        index.files.append(log_path)
        for line_start, _, record in iter_fit_log(log_path, sealed_end):
            index.where[record["id"]] = (number, line_start)
            index.outcomes[record["id"]] = outcome(record)
    return index


def write_run_index(directory: Path, results: ResultIndex, order: Sequence[str], **meta) -> Path:
    """index.npz: the ids of `order` (input order) with the file and row of each one's record,
    and `meta` (what the exports need: `eft_json` arguments, `image_prefix`)."""
    directory = Path(directory)
    order = [str(i) for i in order]
    missing = [i for i in order if i not in results.where]
    if missing:
        raise ResultShardError(
            f"{len(missing)} of {len(order)} exemplars have no result (e.g. {missing[:5]})"
        )
    if len(results.where) != len(order) or len(set(order)) != len(order):
        unknown = sorted(set(results.where) - set(order))
        raise ResultShardError(
            f"{len(unknown)} results are not in the input (e.g. {unknown[:5]}); is this the log "
            "of another input?"
            if unknown
            else "the input order has repeated ids"
        )
    ids = np.asarray(order, dtype=str)
    located = np.asarray([results.where[i] for i in order], np.int64).reshape(len(order), 2)
    base = directory.parent
    files = [os.path.relpath(path, base) for path in results.files]
    header = {"schema": SCHEMA_VERSION, **meta}
    return write_npz_atomically(
        directory / INDEX_NAME,
        {
            META: np.asarray(json.dumps(header)),
            "ids": ids,
            "file": located[:, 0].astype(np.int32),
            "row": located[:, 1],
            "by_id": np.argsort(ids, kind="stable"),
            "files": np.asarray(files, dtype=str),
        },
    )


class RunIndex:
    """A finished run's index (`index.npz`), for lookups and exports.

    run = RunIndex.open(shards_dir("fits.json"))
    run.record("coco_1234")         # one record, reading only its shard
    for item in run.items():        # every record (a Skip for a skipped one), in input order
        ...
    """

    def __init__(self, directory: Path, meta: dict, ids, file, row, by_id, files):
        self.directory, self.meta = Path(directory), meta
        self.ids, self._file, self._row, self._by_id = ids, file, row, by_id
        self.files = [self.directory.parent / name for name in files]
        self._sorted_ids = None
        logs = sum(1 for path in self.files if path.suffix == ".jsonl")
        # Shards held while reading in input order: two per log, as each process's records come
        # near its input positions, so the next shard is read while the last one is still used.
        self.cache_size = max(4, 2 * logs)

    @classmethod
    def open(cls, directory: str | Path) -> RunIndex:
        directory = Path(directory)
        path = directory / INDEX_NAME
        if not path.is_file():
            raise ResultShardError(
                f"{directory} has no {INDEX_NAME}: the run is unfinished, or was made by an "
                "eft-jax older than result shards (logs only); rerun its `eft-jax fit` command, "
                "which fits only what is missing and writes the shards and the index"
            )
        with np.load(path, allow_pickle=False) as archive:
            meta = _read_meta(archive, path)
            return cls(
                directory,
                meta,
                archive["ids"],
                archive["file"],
                archive["row"],
                archive["by_id"],
                [str(name) for name in archive["files"]],
            )

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, exemplar_id: str) -> int:
        """The input position of an id (a binary search of the sorted ids)."""
        if self._sorted_ids is None:
            self._sorted_ids = self.ids[self._by_id]
        sorted_ids = self._sorted_ids
        at = int(np.searchsorted(sorted_ids, str(exemplar_id)))
        if at == len(sorted_ids) or sorted_ids[at] != str(exemplar_id):
            raise KeyError(f"{exemplar_id!r} is not in the run's index ({self.directory})")
        return int(self._by_id[at])

    def record(self, exemplar_id: str) -> dict:
        """The record of one exemplar: a lookup in the index, then one shard (or log line) read."""
        position = self.position(exemplar_id)
        path, row = self.files[self._file[position]], int(self._row[position])
        return (
            next(iter_fit_log(path, row))[2] if path.suffix == ".jsonl" else read_record(path, row)
        )

    def _read(self, path: Path, row: int, cache: collections.OrderedDict) -> dict:
        if path.suffix == ".jsonl":
            return next(iter_fit_log(path, row))[2]
        shard = cache.get(path)
        if shard is None:
            shard = cache[path] = Shard(path)
            if len(cache) > self.cache_size:
                cache.popitem(last=False)
        else:
            cache.move_to_end(path)
        return shard.record(row)

    def records(self, start: int = 0, stop: int | None = None) -> Iterator[dict]:
        """The records of input positions [start, stop), in input order, a few shards at a time."""
        cache: collections.OrderedDict = collections.OrderedDict()
        for position in range(start, len(self.ids) if stop is None else stop):
            yield self._read(self.files[self._file[position]], int(self._row[position]), cache)

    def items(self, start: int = 0, stop: int | None = None) -> Iterator[dict | Skip]:
        """`records`, with each skipped exemplar as its `Skip` (what `formats.eft_json` writes)."""
        for record in self.records(start, stop):
            yield Skip.from_record(record) if record["status"] == "skipped" else record
