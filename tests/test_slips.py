"""The slips a new user makes, each with what it gets: one clear line, a documented exit code, and
nothing lost (docs/slips.md lists them with these tests' names).

Every test drives the command line in-process (`cli.main`) with tiny inputs: a 1/16-width
ResNet-18 regressor for 32 px crops and two iterations, so a fit costs seconds, and demos with the
demo tests' settings (tests/small_runs.py), whose programs the run has compiled already; the two
that need a real interrupt run the command in a subprocess and are in the slow tier."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import jax
import numpy as np
import pytest
from fake_records import coco_person
from PIL import Image
from small_runs import DEMO_OVERRIDES

from eft_jax import cli
from eft_jax.formats.eft_json import read_eft_json
from eft_jax.formats.exemplar_npz import write_exemplars_npz
from eft_jax.formats.fit_log import read_fit_log
from eft_jax.nets import Regressor, RegressorArch, save_regressor

pytestmark = pytest.mark.fast_compiles

CROP = 32
FAST = ["--crop-size", str(CROP), "--max-iters", "2", "--batch-size", "4"]
REPOSITORY = Path(__file__).resolve().parent.parent
COMPILING = "compiling the fitting step, ~30 s the first time; cached for the next run"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    regressor = Regressor(RegressorArch.reduced(18, 16))
    variables = regressor.init(jax.random.key(0), CROP)
    return str(
        save_regressor(
            tmp_path_factory.mktemp("ckpt") / "tiny", variables, regressor.config_record()
        )
    )


def write_crops(path: Path, count: int, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 255, (count, CROP, CROP, 3), dtype=np.uint8)
    keypoints = np.concatenate(
        [rng.uniform(-0.8, 0.8, (count, 49, 2)), np.ones((count, 49, 1))], -1
    )
    return write_exemplars_npz(path, images, keypoints.astype(np.float32))


def fit_argv(crops: Path, out: Path, checkpoint: str, *extra: str) -> list[str]:
    return [
        "fit",
        "--crops",
        str(crops),
        "--out",
        str(out),
        "--checkpoint",
        checkpoint,
        *FAST,
        *extra,
    ]


@contextmanager
def run_in_progress(lock_file: Path):
    """Hold an output's run lock as a run in progress does (flock on `<log>.lock`)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write(json.dumps({"pid": os.getpid(), "command": "the first run"}))
        handle.flush()
        yield


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (but lock files) and its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix != ".lock"
    }


def first_runs_results(folder: Path) -> dict[str, bytes]:
    """A folder as a first run left it half way: its fit log, an EFT JSON and a report."""
    folder.mkdir(parents=True, exist_ok=True)
    header = {"eftjax_fit_log": 1, "header": {"input": "the first run's"}}
    record = {"status": "skipped", "id": "0", "skip_reason": "the first run's"}
    (folder / "fits.json.log.jsonl").write_text(
        json.dumps(header) + "\n" + json.dumps(record) + "\n"
    )
    (folder / "fits.json").write_text('{"data": []}\n')
    (folder / "report.md").write_text("# the first run's report\n")
    return snapshot(folder)


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def one_error_line(err: str) -> str:
    """The one error line on stderr (status lines may come before it; no traceback)."""
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and err.rstrip().endswith(lines[0]), err
    assert "Traceback" not in err
    return lines[0]


# --- nothing is lost by a slip -------------------------------------------------------------------


def test_two_demos_on_one_folder_leave_the_first_runs_results_whole(tmp_path, capsys):
    out = tmp_path / "demo"
    before = first_runs_results(out)
    with run_in_progress(out / "fits.json.log.jsonl.lock"):
        assert cli.main(["demo", "--out", str(out), *DEMO_OVERRIDES]) == 2
    assert "another run is writing" in capsys.readouterr().err
    assert snapshot(out) == before


def test_a_demo_on_the_folder_a_fit_is_writing_leaves_the_fits_whole(tmp_path, capsys):
    out = tmp_path / "shared"
    before = first_runs_results(out)
    with run_in_progress(out / "fits.json.log.jsonl.lock"):  # `eft-jax fit --out shared/fits.json`
        assert cli.main(["demo", "--out", str(out), *DEMO_OVERRIDES]) == 2
    assert "the first run" in capsys.readouterr().err
    assert snapshot(out) == before


def test_two_fits_on_one_output_leave_the_first_runs_results_whole(tmp_path, checkpoint, capsys):
    """Neither a plain second fit nor one asked to start over (--fresh) touches the logs of the run
    that is writing them."""
    crops = write_crops(tmp_path / "crops.npz", 2)
    out = tmp_path / "out" / "fits.json"
    before = first_runs_results(out.parent)
    with run_in_progress(out.parent / "fits.json.log.jsonl.lock"):
        assert cli.main(fit_argv(crops, out, checkpoint)) == 2
        assert cli.main(fit_argv(crops, out, checkpoint, "--fresh")) == 2
    assert capsys.readouterr().err.count("another run is writing") == 2
    assert snapshot(out.parent) == before


def test_a_failed_start_leaves_no_lock_file_and_a_stale_one_never_refuses(
    tmp_path, checkpoint, capsys
):
    crops = write_crops(tmp_path / "crops.npz", 2)
    out = tmp_path / "fits.json"
    bad_body = tmp_path / "SMPL_NEUTRAL.pkl"
    bad_body.write_bytes(b"not a pickle")
    assert cli.main(fit_argv(crops, out, checkpoint, "--body", str(bad_body))) == 2
    assert list(tmp_path.glob("*.lock")) == []
    # A lock file a killed run left behind (its process is gone; the flock went with it).
    stale = tmp_path / "fits.json.log.jsonl.lock"
    stale.write_text(json.dumps({"pid": 999999999, "command": "a killed run"}))
    assert cli.main(fit_argv(crops, out, checkpoint)) == 0
    assert len(read_eft_json(out)["data"]) == 2
    assert list(tmp_path.glob("*.lock")) == []


# --- every run ends with one summary line on stdout -----------------------------------------------


def coco_without_boxes(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((120, 160, 3), np.uint8)).save(images / "a.jpg")
    people = [coco_person(i, 1, 10 + 30 * i, 10, 60) for i in (1, 2, 3)]
    for person in people:
        del person["bbox"]
    annotations = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 160, "height": 120}],
        "annotations": people,
        "categories": [{"id": 1, "name": "person"}],
    }
    keypoints = tmp_path / "person_keypoints.json"
    keypoints.write_text(json.dumps(annotations))
    return images, keypoints


def test_every_person_skipped_is_exit_3_with_the_reasons(tmp_path, checkpoint, capsys):
    images, keypoints = coco_without_boxes(tmp_path)
    out = tmp_path / "fits.json"
    argv = ["fit", "--images", str(images), "--keypoints", str(keypoints), "--out", str(out)]
    assert cli.main([*argv, "--checkpoint", checkpoint, *FAST]) == cli.EXIT_ALL_SKIPPED == 3
    summary = last_line(capsys.readouterr().out)
    assert summary.startswith("eft-jax fit: 0 fitted, 3 skipped (3 no crop box")
    assert "0 failed" in summary and str(out) in summary


def test_a_fit_ends_with_one_summary_line_on_stdout(tmp_path, checkpoint, capsys):
    crops = write_crops(tmp_path / "crops.npz", 3)
    out = tmp_path / "fits.json"
    assert cli.main(fit_argv(crops, out, checkpoint)) == 0
    captured = capsys.readouterr()
    summary = last_line(captured.out)
    assert summary.startswith("eft-jax fit: 3 fitted, 0 skipped, 0 failed, ")
    assert " s; wrote " in summary and str(out) in summary
    assert "fitted" not in captured.err  # the summary is not repeated on stderr
    assert "3/3 exemplars" in captured.err  # progress goes to stderr


def test_a_process_done_with_its_share_says_so_and_exits_0(tmp_path, checkpoint, capsys):
    crops = write_crops(tmp_path / "crops.npz", 2)
    out = tmp_path / "fits.json"
    share = ["--process-index", "0", "--process-count", "2"]
    assert cli.main(fit_argv(crops, out, checkpoint, *share)) == 0
    summary = last_line(capsys.readouterr().out)
    assert summary.startswith("eft-jax fit: process 0 of 2 finished its share: 1 fitted")
    assert "1 exemplar still with other processes" in summary


# --- every bad value is one line naming the key or flag, exit 2 -----------------------------------


@pytest.mark.parametrize(
    ("value", "allowed"), [("abc", "an integer"), ("-1", ">= 1"), ("2.5", "an integer")]
)
def test_a_bad_override_value_is_one_line_naming_the_key(tmp_path, capsys, value, allowed):
    crops = write_crops(tmp_path / "crops.npz", 1)
    argv = ["fit", "--crops", str(crops), "--out", str(tmp_path / "o.json"), f"max_iters={value}"]
    assert cli.main(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "max_iters" in line and allowed in line and value in line
    assert not (tmp_path / "o.json.log.jsonl").exists()


@pytest.mark.parametrize("job", ["fit", "smplify"])
def test_an_unknown_camera_is_refused_before_any_file_is_written(tmp_path, capsys, job):
    crops = write_crops(tmp_path / "crops.npz", 1)
    argv = [job, "--crops", str(crops), "--out", str(tmp_path / "o.json"), "camera=fisheye"]
    assert cli.main(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "camera must be one of ('crop', 'full_frame')" in line and "fisheye" in line
    assert list(tmp_path.glob("o.json*")) == []


@pytest.mark.parametrize(
    "flag",
    [
        ["fit", "--batch-size", "0"],
        ["fit", "--max-iters", "-3"],
        ["fit", "--crop-size", "0"],
        ["fit", "--process-count", "0"],
        ["smplify", "--batch-size", "0"],
        ["evaluate", "--dataset", "synthetic", "--batch-size", "0"],
        ["render", "--fits", "f.json", "--images", ".", "--out", "o", "--limit", "0"],
    ],
)
def test_a_bad_flag_value_is_one_line_naming_the_flag(tmp_path, capsys, flag):
    crops = write_crops(tmp_path / "crops.npz", 1)
    argv = [*flag]
    if flag[0] in ("fit", "smplify"):
        argv += ["--crops", str(crops), "--out", str(tmp_path / "o.json")]
    assert cli.main(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    name = next(a for a in reversed(flag) if a.startswith("--"))
    assert name in line and ">= 1" in line
    assert list(tmp_path.glob("o.json*")) == []


def test_a_missing_checkpoint_is_not_found(tmp_path, capsys):
    crops = write_crops(tmp_path / "crops.npz", 1)
    missing = tmp_path / "no_such_checkpoint"
    argv = ["fit", "--crops", str(crops), "--out", str(tmp_path / "o.json")]
    assert cli.main([*argv, "--checkpoint", str(missing)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{missing}: not found" in line and "_CHECKPOINT_METADATA" not in line


# --- interrupts ----------------------------------------------------------------------------------


def test_ctrl_c_during_a_fit_stops_flushes_and_says_how_to_resume(
    tmp_path, checkpoint, capsys, monkeypatch
):
    """SIGINT after the first exemplar: the run stops at the next step, keeps what it fitted,
    releases the lock and says how to resume; the same command then finishes the job."""
    from eft_jax import progress

    crops = write_crops(tmp_path / "crops.npz", 6)
    out = tmp_path / "fits.json"
    update = progress.Progress.update

    def interrupted_update(self, count=1):
        update(self, count)
        if self.done == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(progress.Progress, "update", interrupted_update)
    try:
        code = cli.main(fit_argv(crops, out, checkpoint))
    except KeyboardInterrupt:
        code = "KeyboardInterrupt"
    assert code == 130
    fitted = read_fit_log(tmp_path / "fits.json.log.jsonl")
    assert 1 <= len(fitted) < 6
    captured = capsys.readouterr()
    assert last_line(captured.out) == (
        f"eft-jax fit: interrupted: {len(fitted)} fitted, rerun the same command to resume"
    )
    assert not out.exists() and list(tmp_path.glob("*.lock")) == []
    monkeypatch.setattr(progress.Progress, "update", update)
    assert cli.main(fit_argv(crops, out, checkpoint)) == 0
    assert len(read_eft_json(out)["data"]) == 6


def _interrupt_a_fit_in_a_subprocess(tmp_path: Path, checkpoint: str, signum: int):
    crops = write_crops(tmp_path / "crops.npz", 40)
    out = tmp_path / "fits.json"
    log = tmp_path / "fits.json.log.jsonl"
    argv = [sys.executable, "-m", "eft_jax.cli", *fit_argv(crops, out, checkpoint)]
    argv += ["--max-iters", "30", "stop_threshold=0.0", "--compilation-cache", ""]
    process = subprocess.Popen(
        argv, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240
    while not (log.exists() and read_fit_log(log)) and process.poll() is None:
        assert time.monotonic() < deadline, "the fit logged nothing in 4 minutes"
        time.sleep(0.2)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout, stderr, read_fit_log(log), tmp_path


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_fit_in_a_real_process_exits_cleanly(tmp_path, checkpoint, signum, code):
    returncode, stdout, stderr, fitted, folder = _interrupt_a_fit_in_a_subprocess(
        tmp_path, checkpoint, signum
    )
    assert returncode == code, stderr
    assert "Traceback" not in stderr
    assert last_line(stdout) == (
        f"eft-jax fit: interrupted: {len(fitted)} fitted, rerun the same command to resume"
    )
    assert 1 <= len(fitted) < 40 and list(folder.glob("*.lock")) == []


# --- resume with a changed setting ---------------------------------------------------------------


def test_resuming_with_another_setting_names_the_key_and_the_ways_on(tmp_path, checkpoint, capsys):
    crops = write_crops(tmp_path / "crops.npz", 4)
    out = tmp_path / "fits.json"
    assert cli.main(fit_argv(crops, out, checkpoint)) == 0
    log = tmp_path / "fits.json.log.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    old_result = {**json.loads(lines[1]), "from": "the interrupted run"}
    log.write_text(lines[0] + json.dumps(old_result) + "\n")  # the header and one result
    capsys.readouterr()
    assert cli.main(fit_argv(crops, out, checkpoint, "--batch-size", "3")) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "batch_size: 4 then, 3 now" in line
    assert "--fresh" in line and "batch_size=4" in line
    assert "another log file" not in line and len(line) < 400
    assert cli.main(fit_argv(crops, out, checkpoint, "--fresh")) == 0
    records = read_fit_log(log)  # started over: the interrupted run's result is gone
    assert len(records) == 4 and not any("from" in record for record in records)


def test_a_run_resumes_under_other_scheduling_values(tmp_path, checkpoint, capsys):
    """Lanes and the iterations per call schedule the work without changing a fit: a run resumes
    under other values."""
    crops = write_crops(tmp_path / "crops.npz", 4)
    out = tmp_path / "fits.json"
    assert cli.main([*fit_argv(crops, out, checkpoint), "lanes=2", "iterations_per_call=16"]) == 0
    log = tmp_path / "fits.json.log.jsonl"
    written = log.read_text()
    resumed = [*fit_argv(crops, out, checkpoint), "lanes=1", "iterations_per_call=4"]
    assert cli.main(resumed) == 0  # not refused
    assert log.read_text() == written  # and nothing fitted again


# --- output conventions --------------------------------------------------------------------------


def test_progress_off_a_terminal_is_whole_lines():
    import io

    from eft_jax.progress import Progress

    stream = io.StringIO()  # not a terminal: a log file, CI
    progress = Progress(total=3, stream=stream, interval=0.0)
    for _ in range(3):
        progress.update()
    progress.close()
    text = stream.getvalue()
    assert "\r" not in text
    assert [line.split(" ")[0] for line in text.splitlines()] == ["1/3", "2/3", "3/3"]


def test_quiet_leaves_only_the_summary(tmp_path, checkpoint, capsys):
    crops = write_crops(tmp_path / "crops.npz", 2)
    assert cli.main([*fit_argv(crops, tmp_path / "fits.json", checkpoint), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert len(captured.out.splitlines()) == 1 and "2 fitted" in captured.out


# --- say what takes time, when it happens ---------------------------------------------------------


def test_a_fit_says_it_compiles_before_it_does(tmp_path, checkpoint, capsys):
    crops = write_crops(tmp_path / "crops.npz", 2)
    assert cli.main(fit_argv(crops, tmp_path / "fits.json", checkpoint)) == 0
    err = capsys.readouterr().err
    assert f"eft-jax fit: {COMPILING}" in err
    assert err.index(COMPILING) < err.index("2/2 exemplars")


def test_show_config_prints_the_resolved_config_and_exits_0(capsys):
    assert cli.main(["fit", "--show-config", "max_iters=7"]) == 0
    out = capsys.readouterr().out
    assert "max_iters: 7" in out
    assert "learning_rate: 0.0001" in out  # the bundled regressor's recipe
    assert cli.main(["demo", "--show-config"]) == 0
    assert "num_exemplars: 16" in capsys.readouterr().out


@pytest.mark.slow
def test_train_announces_the_rendering_and_never_says_downloading(tmp_path, capfd):
    argv = [
        "train",
        "--workdir",
        str(tmp_path / "run"),
        f"data.data_dir={str(tmp_path / 'tfds')!r}",
        "data.image_size=32",
        "data.num_train=4",
        "data.num_validation=2",
        "model.width_divisor=16",
        "batch_size=2",
        "total_steps=1",
        "warmup_steps=0",
        "log_every=1",
        "checkpoint_every=1",
        "eval_every=1",
    ]
    assert cli.main(argv) == 0
    captured = capfd.readouterr()
    assert "eft-jax train: rendering 4 + 2 synthetic humans once (about " in captured.err
    assert str(tmp_path / "tfds") in captured.err
    assert "Downloading" not in captured.out + captured.err


# --- small untruths ------------------------------------------------------------------------------


def test_fit_help_names_the_compilation_cache_folder(capsys):
    with pytest.raises(SystemExit):
        cli.main(["fit", "--help"])
    assert "~/.cache/eft-jax/jax-compilation" in "".join(capsys.readouterr().out.split())


def test_the_fit_describes_itself_truthfully(tmp_path, checkpoint, capsys):
    """Fewer exemplars than slots (1 against FAST's 2): it says how many it fits at a time."""
    crops = write_crops(tmp_path / "crops.npz", 1)
    assert cli.main(fit_argv(crops, tmp_path / "fits.json", checkpoint)) == 0
    err = capsys.readouterr().err
    assert "1 hypothesis," in err and "hypotheses" not in err
    assert "2 slots" not in err and "2 at a time" not in err and "1 at a time" in err
