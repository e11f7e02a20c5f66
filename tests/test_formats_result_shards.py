"""Result shards (formats/result_shards.py) and the exports streamed from them
(formats/result_exports.py): lookup by id, exports equal to the EFT JSON and SPIN npz written
from the fit log, whole shards under SIGKILL, and runs of older and newer schemas."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from fake_records import fake_fit

from eft_jax.formats import result_shards
from eft_jax.formats.eft_json import EftJsonError, eft_entry, smpltype_for
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.fit_log import FitLog, read_fit_log, to_jsonable
from eft_jax.formats.result_exports import export_eft_json, export_spin_npz
from eft_jax.formats.result_shards import (
    ResultShardError,
    RunIndex,
    Shard,
    ShardWriter,
    index_results,
    shards_dir,
    write_run_index,
)
from eft_jax.formats.spin_npz import write_spin_npz

pytestmark = pytest.mark.fast_compiles

REPO = Path(__file__).resolve().parents[1]
EFT_JSON = {"body_kind": "open", "body_model": "open_body.npz", "dbname": "db", "meta": {"k": 1}}


def _fits(count: int) -> list:
    """Fit records and skips as a run logs them, with a NaN fit that EFT JSON refuses and one
    with numbers that json.dumps writes in exponent form."""
    items = []
    for n in range(count):
        if n % 5 == 3:
            items.append(Skip(f"e{n}", "no crop box: the keypoints span 0 px", n, f"im{n}.jpg"))
            continue
        fit = fake_fit(f"e{n}", seed=n, annot_id=n, image_name=f"im{n % 4}.jpg")
        fit["loss_2d_after"] = float(np.float32(0.001 * n))
        fit["quality_score"] = float(np.float32(0.5 + 0.01 * n))
        if n == 7:
            fit["betas"] = np.full(10, np.nan, np.float32)
        if n == 9:  # repr writes 3e-05 with an exponent; -1e-9 rounds to -0.0, written 0.0
            fit["betas"][:2] = [3e-5, -1e-9]
        items.append(fit)
    return items


def _log(out: Path, items, shard_size: int, seal: bool = True, log_name: str = ".log.jsonl"):
    """Log the items as a run does, sealing shards of `shard_size` records as it goes."""
    log_path = out.with_name(out.name + log_name)
    with FitLog(log_path, header={"input": "test"}) as log:
        writer = ShardWriter(shards_dir(out), log_path, shard_size)
        for item in items:
            record = log.append_skip(item) if isinstance(item, Skip) else log.append(item)
            writer.add(record, log.end)
        if seal:
            writer.seal()
    return log_path


def _finish(out: Path, log_paths, order) -> RunIndex:
    write_run_index(
        shards_dir(out),
        index_results(shards_dir(out), log_paths),
        order,
        eft_json=EFT_JSON,
        image_prefix="train/",
    )
    return RunIndex.open(shards_dir(out))


def _same(a, b) -> bool:
    return json.dumps(to_jsonable(a), sort_keys=True) == json.dumps(to_jsonable(b), sort_keys=True)


def test_lookup_by_id_reads_the_logged_record_from_shards_and_the_unsealed_log(tmp_path):
    out = tmp_path / "fits.json"
    items = _fits(11)
    log_path = _log(out, items, shard_size=4, seal=False)  # 8 records sealed, 3 only in the log
    assert len(list(shards_dir(out).glob("*.npz"))) == 2
    run = _finish(out, [log_path], [f"e{n}" for n in range(11)])
    logged = {record["id"]: record for record in read_fit_log(log_path)}
    for exemplar_id in ("e0", "e3", "e7", "e9", "e10"):
        assert _same(run.record(exemplar_id), logged[exemplar_id])
    assert isinstance(run.record("e0")["rotmats"], np.ndarray)
    assert run.position("e9") == 9
    with pytest.raises(KeyError, match="e11"):
        run.record("e11")
    assert [r["id"] for r in run.records()] == [f"e{n}" for n in range(11)]


def test_float_fields_are_kept_exactly_and_any_field_name_survives(tmp_path):
    path = tmp_path / "shard.npz"
    records = [
        {"id": "a", "status": "done", "x": 0.1, "v": [0.1, 1e-300], "file": "f", "n": 3},
        {"id": "b", "status": "done", "x": float(np.float32(0.1)), "v": [2.0, 3.0], "n": 4},
        {"id": "c", "status": "skipped", "x": float("nan"), "v": [1.0], "extra": {"k": [1]}},
    ]
    result_shards.write_shard(path, records)
    shard = Shard(path)
    for row, record in enumerate(records):
        back = shard.record(row)
        assert set(back) == set(record)
        assert json.dumps(to_jsonable(back)) == json.dumps(record)  # NaN included


def _reference_eft_json(log_paths, order, path: Path, meta: dict) -> None:
    """The EFT JSON of the logs as eft-jax wrote it before result shards: each id's latest logged
    record in input order, one `eft_entry` at a time (a fit it refuses listed as skipped), the
    whole document `json.dumps`'d."""
    latest = {record["id"]: record for log in log_paths for record in read_fit_log(log)}
    data, skipped = [], []
    for exemplar_id in order:
        record = latest[exemplar_id]
        if record["status"] == "skipped":
            skipped.append(Skip.from_record(record).record())
            continue
        try:
            data.append(
                eft_entry(
                    record,
                    smpltype=smpltype_for(EFT_JSON["body_kind"]),
                    body_model=EFT_JSON["body_model"],
                )
            )
        except EftJsonError as error:
            reason = f"not written: {error}"
            skip = Skip(exemplar_id, reason, record["annotId"], record["imageName"])
            skipped.append(skip.record())
    document = {"ver": 0.1, "data": data, "meta": meta, "skipped": skipped}
    path.write_text(json.dumps(document))


def test_exports_equal_the_eft_json_and_spin_npz_written_from_the_log(tmp_path):
    out = tmp_path / "fits.json"
    items = _fits(23)
    order = [f"e{n}" for n in range(23)]
    logs = [  # two processes, as process i of 2 logs the positions i mod 2
        _log(out, items[share::2], shard_size=3, log_name=f".log-{share}of2.jsonl")
        for share in (0, 1)
    ]
    run = _finish(out, logs, order)
    export_eft_json(run, tmp_path / "export.json")
    export_spin_npz(run, tmp_path / "export.npz")
    meta = json.loads((tmp_path / "export.json").read_text())["meta"]
    _reference_eft_json(logs, order, tmp_path / "from_log.json", meta)
    write_spin_npz(tmp_path / "from_log.json", tmp_path / "from_log.npz", "train/")

    assert (tmp_path / "export.json").read_bytes() == (tmp_path / "from_log.json").read_bytes()
    assert "3e-05, 0.0, " in (tmp_path / "export.json").read_text()
    document = json.loads((tmp_path / "export.json").read_text())
    assert len(document["data"]) == 23 - 4 - 1 and "e7" in json.dumps(document["skipped"])
    with np.load(tmp_path / "from_log.npz") as then, np.load(tmp_path / "export.npz") as now:
        assert then.files == now.files
        for field in then.files:
            assert then[field].dtype == now[field].dtype, field
            assert np.array_equal(then[field], now[field]), field

    summaries = export_eft_json(run, tmp_path / "parts.json", part_size=10)
    names = [summary["path"].name for summary in summaries]
    assert names == [f"parts-{k:05d}-of-00003.json" for k in (1, 2, 3)]
    parts = [json.loads(summary["path"].read_text()) for summary in summaries]
    assert [entry for part in parts for entry in part["data"]] == document["data"]
    assert [skip for part in parts for skip in part["skipped"]] == document["skipped"]
    assert parts[1]["meta"]["part"] == "2 of 3 (input exemplars 10..19)"


def test_min_quality_leaves_out_the_fits_scored_under_it_and_says_so(tmp_path):
    out = tmp_path / "fits.json"
    items = _fits(23)  # quality_score 0.5 + 0.01 n; e7 is a NaN fit, every 5th from e3 a skip
    items[1].pop("quality_score")  # a fit logged before quality scores existed
    run = _finish(out, [_log(out, items, shard_size=4)], [f"e{n}" for n in range(23)])

    (summary,) = export_eft_json(run, tmp_path / "kept.json", min_quality=0.6)
    document = json.loads((tmp_path / "kept.json").read_text())
    kept = [int(entry["annotId"]) for entry in document["data"]]
    assert kept == [n for n in range(10, 23) if n % 5 != 3]  # 0.5 + 0.01 n >= 0.6 from n = 10
    reasons = {skip["id"]: skip["skip_reason"] for skip in document["skipped"]}
    assert reasons["e4"] == "quality_score 0.540 under --min-quality 0.6"
    assert reasons["e1"] == "no quality_score under --min-quality 0.6"
    assert reasons["e3"].startswith("no crop box") and "e13" in reasons  # the run's own skips stay
    assert "e7" in reasons and len(reasons) == 23 - len(kept)  # every exemplar is somewhere
    assert summary["written"] == len(kept) and document["meta"]["min_quality"] == 0.6

    path, rows = export_spin_npz(run, tmp_path / "kept.npz", min_quality=0.6)
    with np.load(path) as arrays:
        assert rows == len(kept) == len(arrays["pose"])
        assert np.array_equal(arrays["scale"], [entry["bbox_scale"] for entry in document["data"]])


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from pathlib import Path
    from eft_jax.formats.fit_log import FitLog
    from eft_jax.formats.result_shards import ShardWriter
    out = Path(sys.argv[1])
    log_path = out.with_name(out.name + ".log.jsonl")
    with FitLog(log_path, header={"input": "kill"}) as log:
        writer = ShardWriter(out.with_name(out.name + ".shards"), log_path, shard_size=2)
        rng = np.random.default_rng(0)
        for n in range(100000):
            # a big field, so that writing a shard takes long enough to be killed in it
            record = {"id": f"e{n}", "status": "done", "big": rng.random(150000).tolist()}
            writer.add(log.append(record), log.end)
    """
)


@pytest.mark.slow
def test_a_writer_killed_mid_shard_leaves_whole_shards_and_a_rerun_completes(tmp_path):
    out = tmp_path / "fits.json"
    folder = shards_dir(out)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not list(folder.glob("*.tmp")) or len(list(folder.glob("*.npz"))) < 2:
            assert child.poll() is None and time.monotonic() < deadline, "the writer never wrote"
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)  # a temporary shard is being written
    finally:
        child.kill()
        child.wait()
    shards = sorted(folder.glob("*.npz"))
    for path in shards:  # every shard the reader sees is whole
        assert len(Shard(path)) == 2
    logged = read_fit_log(out.with_name(out.name + ".log.jsonl"))
    assert len(logged) >= 2 * len(shards)

    ShardWriter(folder, out.with_name(out.name + ".log.jsonl"), shard_size=2).seal()  # the rerun
    assert not list(folder.glob("*.tmp"))
    run = _finish(out, [out.with_name(out.name + ".log.jsonl")], [r["id"] for r in logged])
    assert [r["id"] for r in run.records()] == [r["id"] for r in logged]
    assert _same(run.record(logged[-1]["id"]), logged[-1])


def test_a_run_of_logs_only_is_sealed_and_a_newer_schema_is_refused(tmp_path):
    out = tmp_path / "fits.json"
    items = _fits(6)
    log_path = tmp_path / "fits.json.log.jsonl"
    with FitLog(log_path, header={"input": "test"}) as log:  # as eft-jax before shards wrote it
        for item in items:
            log.append_skip(item) if isinstance(item, Skip) else log.append(item)
    with pytest.raises(ResultShardError, match="unfinished, or was made by an eft-jax older"):
        RunIndex.open(shards_dir(out))
    ShardWriter(shards_dir(out), log_path, shard_size=4).seal()
    assert [len(Shard(p)) for p in sorted(shards_dir(out).glob("*.npz"))] == [4, 2]
    run = _finish(out, [log_path], [f"e{n}" for n in range(6)])
    assert _same(run.record("e5"), read_fit_log(log_path)[5])

    newer = shards_dir(out) / "fits.json.log.000001.npz"
    with np.load(newer) as archive:
        arrays = dict(archive)
    meta = json.loads(str(arrays["__meta__"]))
    arrays["__meta__"] = np.asarray(json.dumps({**meta, "schema": 2}))
    np.savez(newer, **arrays)
    with pytest.raises(ResultShardError, match="schema 2; this eft-jax reads schemas up to 1"):
        index_results(shards_dir(out), [log_path])
