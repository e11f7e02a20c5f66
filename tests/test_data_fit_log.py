import dataclasses
import json

import numpy as np
import pytest
from fake_records import fake_fit

from eft_jax.formats.exemplar import Skip
from eft_jax.formats.fit_log import (
    FitLog,
    FitLogError,
    done_ids,
    read_fit_log,
    read_fit_log_header,
)
from eft_jax.formats.result_exports import export_eft_json
from eft_jax.formats.result_shards import (
    ResultShardError,
    RunIndex,
    index_results,
    shards_dir,
    write_run_index,
)

pytestmark = pytest.mark.fast_compiles

META_KEYS = ("center", "scale", "keypoints", "annotId", "imageName")


def split(fit):
    """A fake fit -> (engine result, exemplar) as the CLI would hand them to the log."""
    exemplar = {k: fit[k] for k in META_KEYS} | {
        "id": fit["id"],
        "image": np.zeros((4, 4, 3), np.float32),
    }
    result = {k: v for k, v in fit.items() if k not in META_KEYS}
    return result, exemplar


ORDER = [f"e{i}" for i in range(6)]
FITS = {i: fake_fit(i, seed=n) for n, i in enumerate(ORDER)}


def export(log_paths, out, order=ORDER) -> dict:
    """What a finished run does with its logs (fitting/run.py): index the logged results (no
    shards were sealed: every record is read from the logs), then export the EFT JSON."""
    directory = shards_dir(out)
    write_run_index(
        directory,
        index_results(directory, log_paths),
        order,
        eft_json={"body_kind": "open", "body_model": "open"},
    )
    return export_eft_json(RunIndex.open(directory), out)[0]


def run(log_path, header=None, stop_after=None):
    """A fitting run that resumes from the log; 'killed' after stop_after new exemplars."""
    done = done_ids(log_path)
    written = 0
    with FitLog(log_path, header=header) as log:
        for exemplar_id in ORDER:
            if exemplar_id in done:
                continue
            if stop_after is not None and written == stop_after:
                return False
            if exemplar_id == "e3":
                log.append_skip(Skip("e3", "image unreadable: e3.jpg"))
            else:
                log.append(*split(FITS[exemplar_id]))
            written += 1
    return True


def test_interrupted_run_resumes_and_produces_every_exemplar_once(tmp_path):
    reference_log, log = tmp_path / "ref.jsonl", tmp_path / "run.jsonl"
    assert run(reference_log)
    export([reference_log], tmp_path / "ref.json")

    assert not run(log, stop_after=2)
    assert done_ids(log) == {"e0", "e1"}
    with open(log, "a") as handle:  # killed in the middle of writing the next line
        handle.write(json.dumps({"status": "done", **split(FITS["e2"])[0]}, default=str)[:57])
    assert done_ids(log) == {"e0", "e1"}  # the truncated line is ignored
    with pytest.raises(ResultShardError, match="have no result"):
        export([log], tmp_path / "early.json")

    assert run(log)  # resume: cuts the partial line, fits only what is missing
    records = read_fit_log(log)
    assert [r["id"] for r in records] == ORDER
    assert done_ids(log, include_skipped=False) == set(ORDER) - {"e3"}
    summary = export([log], tmp_path / "run.json")
    assert summary["written"] == 5 and summary["skipped"] == 1
    assert (tmp_path / "run.json").read_bytes() == (tmp_path / "ref.json").read_bytes()
    document = json.loads((tmp_path / "run.json").read_text())
    assert [d["exemplar_id"] for d in document["data"]] == ["e0", "e1", "e2", "e4", "e5"]
    assert document["skipped"] == [
        {"id": "e3", "skip_reason": "image unreadable: e3.jpg", "annotId": 0, "imageName": ""}
    ]


def test_records_keep_engine_fields_and_exemplar_metadata(tmp_path):
    import jax.numpy as jnp

    log = tmp_path / "log.jsonl"
    result, exemplar = split(FITS["e0"])
    result["rotmats"] = jnp.asarray(result["rotmats"])  # jax arrays are fine too
    with FitLog(log) as writer:
        record = writer.append(result, exemplar)
    assert "image" not in record
    stored = read_fit_log(log)[0]
    assert stored["status"] == "done" and stored["id"] == "e0"
    np.testing.assert_allclose(stored["rotmats"], FITS["e0"]["rotmats"], rtol=0, atol=0)
    assert stored["pose"] == np.asarray(FITS["e0"]["pose"]).tolist()
    assert stored["iterations"] == 7 and stored["stop_reason"] == "converged"
    assert stored["imageName"] == "img.jpg" and np.asarray(stored["keypoints"]).shape == (49, 3)
    with FitLog(log) as writer, pytest.raises(ValueError, match="does not match"):
        writer.append({**result, "id": "other"}, exemplar)
    with FitLog(log) as writer, pytest.raises(TypeError, match="Skip"):
        writer.append_skip({"id": "x", "skip_reason": "a dict is not a Skip"})


def test_damaged_middle_line_is_an_error(tmp_path):
    log = tmp_path / "log.jsonl"
    with FitLog(log) as writer:
        writer.append(*split(FITS["e0"]))
        writer.append(*split(FITS["e1"]))
    lines = log.read_text().splitlines()
    log.write_text(lines[0][:40] + "\n" + lines[1] + "\n")
    with pytest.raises(FitLogError, match="line 1 is damaged"):
        done_ids(log)


def test_header_guards_against_mixing_runs(tmp_path):
    log = tmp_path / "log.jsonl"
    header = {"config": {"lr": 5e-6}, "input": "coco.json"}
    with FitLog(log, header=header) as writer:
        writer.append(*split(FITS["e0"]))
    assert read_fit_log_header(log) == header
    with FitLog(log, header=header) as writer:  # same run: fine
        writer.append(*split(FITS["e1"]))
    assert done_ids(log) == {"e0", "e1"}
    with pytest.raises(FitLogError, match="input: coco.json then, other.json now") as refused:
        FitLog(log, header={**header, "input": "other.json", "config": {"lr": 1e-5}})
    assert "lr: 5e-06 then, 1e-05 now" in str(refused.value)
    assert "--fresh" in str(refused.value) and "lr=5e-06" in str(refused.value)
    headerless = tmp_path / "old.jsonl"
    with FitLog(headerless) as writer:
        writer.append(*split(FITS["e0"]))
    with pytest.raises(FitLogError, match="no header"):
        FitLog(headerless, header=header)


def test_a_log_from_before_the_recipe_was_recorded_resumes(tmp_path):
    log = tmp_path / "log.jsonl"
    old_header = {"config": {"lr": 5e-6}, "regressor": "bundled"}
    with FitLog(log, header=old_header) as writer:
        writer.append(*split(FITS["e0"]))
    recipe = {"optimizer.learning_rate": 1e-4}
    with FitLog(log, header={**old_header, "regressor_recipe": recipe}) as writer:
        writer.append(*split(FITS["e1"]))
    assert done_ids(log) == {"e0", "e1"}
    recorded = {**old_header, "regressor_recipe": recipe}
    other = tmp_path / "new.jsonl"
    FitLog(other, header=recorded).close()
    with pytest.raises(FitLogError, match="regressor_recipe"):
        FitLog(other, header={**old_header, "regressor_recipe": {"max_iters": 50}})


def test_the_latest_record_of_an_id_wins_and_ids_are_checked_against_the_input(tmp_path):
    logs = [tmp_path / "log-0of2.jsonl", tmp_path / "log-1of2.jsonl"]
    second = dict(FITS["e1"], stop_reason="max_iterations")
    with FitLog(logs[0]) as writer:
        writer.append(*split(FITS["e1"]))
        writer.append(*split(FITS["e0"]))
    with FitLog(logs[1]) as writer:  # a later log's record of e1 (a rerun's) replaces the first
        writer.append(*split(second))
    out = tmp_path / "out.json"
    export(logs, out, ["e0", "e1"])
    document = json.loads(out.read_text())
    assert [d["exemplar_id"] for d in document["data"]] == ["e0", "e1"]
    assert document["data"][1]["stop_reason"] == "max_iterations"
    with pytest.raises(ResultShardError, match="not in the input"):
        export(logs, out, ["e0"])
    with pytest.raises(ResultShardError, match="repeated ids"):
        export(logs, out, ["e0", "e0", "e1"])
    with pytest.raises(ResultShardError, match="1 of 3 exemplars have no result"):
        export(logs, out, ["e0", "e1", "e2"])


@dataclasses.dataclass
class EngineResult:  # the field names of eft_jax.fitting.FitResult
    id: object
    stop_reason: str
    iterations: int = 0
    rotmats: object = None
    pose_axis_angle: object = None
    betas: object = None
    camera: object = None
    keypoints_2d: object = None
    keypoint_loss_before: object = None
    keypoint_loss_after: object = None
    keypoint_error_px_before: object = None
    keypoint_error_px_after: object = None


def test_engine_result_dataclasses_are_accepted(tmp_path):
    fit = FITS["e0"]
    result = EngineResult(
        id="e0",
        stop_reason="max_iters",
        iterations=20,
        rotmats=fit["rotmats"],
        pose_axis_angle=fit["pose"],
        betas=fit["betas"],
        camera=fit["camera"],
        keypoints_2d=fit["pred_keypoints_2d"],
        keypoint_loss_before=np.float32(0.01),
        keypoint_loss_after=np.float32(0.002),
        keypoint_error_px_before=12.5,
        keypoint_error_px_after=3.25,
    )
    _, exemplar = split(fit)
    log = tmp_path / "log.jsonl"
    with FitLog(log) as writer:
        writer.append(result, exemplar)
        skipped = writer.append(
            EngineResult(id="e1", stop_reason="skipped: blank image"), split(FITS["e1"])[1]
        )
    assert skipped == {
        "status": "skipped",
        "id": "e1",
        "skip_reason": "blank image",
        "annotId": 0,
        "imageName": "img.jpg",
    }
    stored = read_fit_log(log)[0]
    assert stored["loss_2d_after"] == pytest.approx(0.002) and "keypoint_loss_after" not in stored
    assert np.asarray(stored["pred_keypoints_2d"]).shape == (49, 2)
    assert np.asarray(stored["pose"]).shape == (24, 3)
    export([log], tmp_path / "out.json", ["e0", "e1"])
    document = json.loads((tmp_path / "out.json").read_text())
    entry = document["data"][0]
    assert entry["stop_reason"] == "max_iters" and entry["iterations"] == 20
    assert (
        entry["loss_2d_before"] == pytest.approx(0.01) and entry["keypoint_error_px_after"] == 3.25
    )
    assert document["skipped"][0]["skip_reason"] == "blank image"
