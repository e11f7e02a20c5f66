"""`eft-jax fit` end to end: COCO images + keypoints and .npz crops in, EFT JSON out, with skips
reported, a resumed run fitting only what is missing, and the same result either way."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest
from fake_records import coco_person
from PIL import Image

from eft_jax import body, cli
from eft_jax.fitting.run import log_path_for
from eft_jax.formats.eft_json import read_eft_json
from eft_jax.formats.exemplar_npz import write_exemplars_npz
from eft_jax.formats.fit_log import read_fit_log, read_fit_log_header
from eft_jax.nets import Regressor, RegressorArch, save_regressor

pytestmark = pytest.mark.fast_compiles

CROP = 32
FAST = ["--crop-size", str(CROP), "--max-iters", "2", "--batch-size", "4"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    regressor = Regressor(RegressorArch.reduced(18, 16))
    variables = regressor.init(jax.random.key(0), CROP)
    return str(
        save_regressor(
            tmp_path_factory.mktemp("ckpt") / "tiny", variables, regressor.config_record()
        )
    )


@pytest.fixture()
def coco_folder(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.jpg"):
        Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(images / name)
    crowd = coco_person(4, 2, 10, 10, 50)
    crowd["iscrowd"] = 1
    annotations = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 160, "height": 120},
            {"id": 2, "file_name": "b.jpg", "width": 160, "height": 120},
            {"id": 3, "file_name": "missing.jpg", "width": 160, "height": 120},
        ],
        "annotations": [
            coco_person(1, 1, 20, 10, 80),
            coco_person(2, 1, 90, 20, 60),
            coco_person(3, 2, 30, 15, 90),
            crowd,
            coco_person(5, 3, 10, 10, 50),
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    path = tmp_path / "person_keypoints.json"
    path.write_text(json.dumps(annotations))
    return images, path


def _coco_fit(images, keypoints, out, checkpoint) -> list[str]:
    """`eft-jax fit` of a COCO keypoint file and its images into `out`."""
    images, keypoints, out = str(images), str(keypoints), str(out)
    return [
        "fit",
        "--images",
        images,
        "--keypoints",
        keypoints,
        "--out",
        out,
        "--checkpoint",
        checkpoint,
    ]


def test_fit_from_coco_images_writes_eft_json_and_reports_skips(tmp_path, coco_folder, checkpoint):
    images, keypoints = coco_folder
    out = tmp_path / "fits.json"
    argv = _coco_fit(images, keypoints, out, checkpoint)
    assert cli.main(argv + FAST) == 0
    fits = read_eft_json(out)
    fitted = {entry["annotId"]: entry for entry in fits["data"]}
    assert sorted(fitted) == [1, 2, 3]
    entry = fitted[1]
    assert np.asarray(entry["parm_pose"]).shape == (24, 3, 3)
    assert len(entry["parm_shape"]) == 10 and len(entry["parm_cam"]) == 3
    assert entry["smpltype"] != "smpl"  # the bundled open model, not SMPL
    assert entry["imageName"] == "a.jpg"
    assert entry["stop_reason"] in ("converged", "max_iters") and 1 <= entry["iterations"] <= 2
    # parm_cam is [s, tx, ty] (EFT's order): the body of parm_pose / parm_shape through it and the
    # box lands on the recorded pred_keypoint_2d, x = center + 100 scale (s X[:2] + [tx, ty])
    model = body.load()
    for fit in fits["data"]:
        s, tx, ty = fit["parm_cam"]
        joints = np.asarray(
            body.forward(model, np.asarray(fit["parm_pose"]), fit["parm_shape"]).spin49
        )
        crop = s * joints[:, :2] + np.array([tx, ty])
        pixels = np.asarray(fit["bbox_center"]) + 100.0 * fit["bbox_scale"] * crop
        np.testing.assert_allclose(fit["pred_keypoint_2d"], pixels, atol=1e-3)
        assert np.ptp(pixels, axis=0).min() > 1.0  # a body, not a point
        # The quality fields (fitting/quality.py): the residual is the fit's mean keypoint distance
        # in box sides, and the score a probability.
        visible = np.asarray(fit["gt_keypoint_2d"])[:, 2] > 0
        gaps = np.linalg.norm(pixels - np.asarray(fit["gt_keypoint_2d"])[:, :2], axis=-1)
        box = 200.0 * fit["bbox_scale"]
        assert fit["quality_residual_all"] == pytest.approx(gaps[visible].mean() / box, rel=1e-3)
        assert 0.0 < fit["quality_score"] < 1.0 and fit["quality_moved_pa"] >= 0.0
    assert fits["meta"]["quality_calibration"] == "bundled"
    reasons = {s["annotId"]: s["skip_reason"] for s in fits["skipped"]}
    assert "crowd" in reasons[4]
    assert "missing.jpg" in reasons[5]

    # A second run finds everything done in the log and rewrites the same file.
    first = out.read_text()
    assert cli.main(argv + FAST) == 0
    assert out.read_text() == first


def test_resumed_run_fits_only_what_is_missing_and_matches_one_run(tmp_path, checkpoint):
    rng = np.random.default_rng(1)
    count = 5
    images = rng.integers(0, 255, (count, CROP, CROP, 3), dtype=np.uint8)
    keypoints = np.concatenate(
        [rng.uniform(-0.8, 0.8, (count, 49, 2)), np.ones((count, 49, 1))], -1
    )
    keypoints[3, :, 2] = 0.0  # no confident keypoint: must be skipped with a reason
    crops = write_exemplars_npz(tmp_path / "crops.npz", images, keypoints.astype(np.float32))

    whole = tmp_path / "whole.json"
    assert (
        cli.main(
            ["fit", "--crops", str(crops), "--out", str(whole), "--checkpoint", checkpoint] + FAST
        )
        == 0
    )

    # Simulate an interrupted run: keep the header and the first two results, cut the third.
    resumed = tmp_path / "resumed.json"
    log_lines = log_path_for(whole).read_text().splitlines(keepends=True)
    log_path_for(resumed).write_text("".join(log_lines[:3]) + log_lines[3][:40])
    assert (
        cli.main(
            ["fit", "--crops", str(crops), "--out", str(resumed), "--checkpoint", checkpoint] + FAST
        )
        == 0
    )

    records = read_fit_log(log_path_for(resumed))
    assert sorted(r["id"] for r in records) == [
        f"{i:06d}" for i in range(count)
    ]  # each exactly once
    a, b = read_eft_json(whole), read_eft_json(resumed)
    assert [s["id"] for s in b["skipped"]] == ["000003"]
    for x, y in zip(a["data"], b["data"]):
        np.testing.assert_allclose(x["parm_pose"], y["parm_pose"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(x["parm_cam"], y["parm_cam"], rtol=1e-5, atol=1e-6)


def test_the_recipe_a_checkpoint_carries_is_printed_and_recorded(tmp_path, checkpoint, capsys):
    import shutil

    from eft_jax.formats.fit_log import read_fit_log_header
    from eft_jax.nets import update_config_record

    tuned = shutil.copytree(checkpoint, tmp_path / "tuned")
    # FAST's iterations come from the recipe (no --max-iters): the run compiles no program of its own.
    update_config_record(tuned, {"eft_recipe": {"max_iters": 2}})
    rng = np.random.default_rng(2)
    images = rng.integers(0, 255, (1, CROP, CROP, 3), dtype=np.uint8)
    keypoints = np.concatenate([rng.uniform(-0.8, 0.8, (1, 49, 2)), np.ones((1, 49, 1))], -1)
    crops = write_exemplars_npz(tmp_path / "crops.npz", images, keypoints.astype(np.float32))
    out = tmp_path / "fits.json"
    argv = ["fit", "--crops", str(crops), "--out", str(out), "--checkpoint", str(tuned)]
    assert cli.main([*argv, "--crop-size", str(CROP), "--batch-size", "2"]) == 0
    assert "EFT recipe it carries: max_iters=2" in capsys.readouterr().err
    assert read_eft_json(out)["meta"]["regressor_recipe"] == {"max_iters": 2}
    header = read_fit_log_header(log_path_for(out))
    assert header["regressor_recipe"] == {"max_iters": 2}
    assert header["config"]["max_iters"] == 2  # applied over EFT's constants


def test_fit_usage_errors_are_reported(tmp_path, capsys):
    assert cli.main(["fit", "--out", str(tmp_path / "x.json")]) == 2
    assert "--crops" in capsys.readouterr().err
    assert (
        cli.main(["fit", "--crops", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "x.json")])
        == 2
    )
    assert "nope.npz" in capsys.readouterr().err


# --- datasets by name, SPIN's npz out, bad input, the run lock -----------------------------------


def test_fit_coco_root_writes_eft_json_and_spin_npz(tmp_path, checkpoint):
    from dataset_builders import make_coco

    from eft_jax.datasets.registry import open_dataset

    make_coco(tmp_path / "coco", "val2017")
    out, npz = tmp_path / "fits.json", tmp_path / "fits_spin.npz"
    argv = [
        "fit",
        "--dataset",
        "coco",
        "--root",
        str(tmp_path / "coco"),
        "--split",
        "val2017",
        "--selection",
        "coco-all",
        "--out",
        str(out),
        "--spin-npz",
        str(npz),
        "--checkpoint",
        checkpoint,
        # the test run's cache (tests/conftest.py), named: the other fits at FAST's sizes compiled
        # these programs already (a folder of its own: test_the_compilation_cache_folder_...)
        "--compilation-cache",
        os.environ["JAX_COMPILATION_CACHE_DIR"],
    ]
    assert cli.main(argv + FAST) == 0
    fits = read_eft_json(out)
    assert [entry["annotId"] for entry in fits["data"]] == [
        1,
        2,
        3,
    ]  # 3: upper body only (COCO-All)
    reasons = {s["annotId"]: s["skip_reason"] for s in fits["skipped"]}
    assert sorted(reasons) == [4, 5, 6, 7, 8]
    assert "crowd" in reasons[4] and "no such image" in reasons[5] and "cannot decode" in reasons[6]
    assert "far outside" in reasons[7] and "no area" in reasons[8]

    # SPIN's npz: one row per fit, keypoints as the EFT file's, readable by eft-jax's SPIN reader
    with np.load(npz, allow_pickle=False) as data:
        spin = dict(data)
    # imgname as SPIN's preprocessing writes it (coco.py: 'train2014/<file>'), relative to the
    # dataset folder that SPIN's loader joins it with
    assert spin["imgname"].tolist() == ["val2017/a.jpg", "val2017/a.jpg", "val2017/b.jpg"]
    assert all(os.path.isfile(os.path.join(tmp_path / "coco", n)) for n in spin["imgname"])
    keypoints = np.concatenate([spin["openpose"], spin["part"]], 1)
    np.testing.assert_allclose(
        keypoints, [entry["gt_keypoint_2d"] for entry in fits["data"]], atol=1e-6
    )
    assert spin["has_smpl"].tolist() == [0.0, 0.0, 0.0]  # the bundled open model is not SMPL
    original = open_dataset("coco", tmp_path / "coco", "val2017").items[0]
    (tmp_path / "coco" / "train.npz").write_bytes(npz.read_bytes())
    again = open_dataset("spin-npz", tmp_path / "coco", "train.npz").items[0]
    np.testing.assert_allclose(again.keypoints, original.keypoints, atol=1e-4)
    np.testing.assert_allclose(again.center, original.center)

    # the run's result shards exported (eft-jax export): the same bytes, the same arrays
    export = ["export", str(out), "--out"]
    assert cli.main([*export, str(tmp_path / "export.json"), "--format", "eft-json"]) == 0
    assert (tmp_path / "export.json").read_bytes() == out.read_bytes()
    assert cli.main([*export, str(tmp_path / "export.npz"), "--format", "spin-npz"]) == 0
    with np.load(tmp_path / "export.npz", allow_pickle=False) as exported:
        assert exported.files == list(spin)
        assert all(np.array_equal(exported[field], spin[field]) for field in spin)

    # the same people through TFDS (reader -> JPEG crops in array_record -> fit)
    from eft_jax.datasets.people_tfds import builder_for

    builder = builder_for(
        "coco", tmp_path / "coco", "val2017", "coco-all", crop_size=CROP, data_dir=tmp_path / "tfds"
    )
    builder.download_and_prepare()
    out_tfds = tmp_path / "fits_tfds.json"
    argv_tfds = [
        "fit",
        "--dataset",
        "tfds",
        "--root",
        str(builder.data_dir),
        "--out",
        str(out_tfds),
        "--spin-npz",
        str(tmp_path / "tfds_spin.npz"),
        "--checkpoint",
        checkpoint,
        "--compilation-cache",
        os.environ["JAX_COMPILATION_CACHE_DIR"],
    ]
    assert cli.main(argv_tfds + FAST) == 0
    via_tfds = read_eft_json(out_tfds)
    assert [e["annotId"] for e in via_tfds["data"]] == [1, 2, 3]
    assert via_tfds["skipped"] == fits["skipped"]  # kept while preparing, with their reasons
    for direct, prepared in zip(fits["data"], via_tfds["data"]):
        assert (
            direct["imageName"] == prepared["imageName"]
            and direct["bbox_center"] == prepared["bbox_center"]
            and direct["bbox_scale"] == prepared["bbox_scale"]  # 0.48 etc.: not float32 values
        )
        np.testing.assert_allclose(direct["gt_keypoint_2d"], prepared["gt_keypoint_2d"], atol=1e-4)
    assert (tmp_path / "tfds_spin.npz").exists()


def test_tfds_fit_uses_the_prepared_crop_size(tmp_path, capsys, checkpoint):
    # The checkpoint records no input size (so 224 px); its crops were prepared at CROP px: the
    # fit runs at CROP px (README: the crop size is the one prepared) instead of skipping everyone
    # for the wrong image shape, and another --crop-size is refused naming both sizes.
    from dataset_builders import make_coco

    from eft_jax.datasets.people_tfds import builder_for

    make_coco(tmp_path / "coco", "val2017")
    builder = builder_for("coco", tmp_path / "coco", "val2017", crop_size=CROP, data_dir=tmp_path)
    builder.download_and_prepare()
    out = tmp_path / "fits.json"
    argv = ["fit", "--dataset", "tfds", "--root", str(builder.data_dir), "--out", str(out)]
    argv += ["--checkpoint", checkpoint, "--compilation-cache", ""]
    assert cli.main([*argv, "--crop-size", str(CROP + 16)]) == 2
    assert f"prepared at {CROP} px, not {CROP + 16} px" in capsys.readouterr().err
    assert not log_path_for(out).exists()
    assert cli.main([*argv, *FAST[2:]]) == 0  # FAST's program, compiled by the tests before
    fits = read_eft_json(out)
    assert [e["annotId"] for e in fits["data"]] == [1, 2, 3]
    assert read_fit_log_header(log_path_for(out))["crop_size"] == CROP


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dataset", "coco", "--root", "{tmp}/nowhere"], "COCO root folder does not exist"),
        (
            ["--images", "{tmp}/nowhere", "--keypoints", "{tmp}/k.json"],
            "images folder does not exist",
        ),
        (["--dataset", "coco"], "--dataset and --root go together"),
        (
            ["--dataset", "lspet", "--root", "{tmp}", "--selection", "coco-all"],
            "LSPet has one selection",
        ),
    ],
)
def test_bad_inputs_fail_before_fitting(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    out = tmp_path / "x.json"
    assert cli.main(["fit", *argv, "--out", str(out), "--compilation-cache", ""]) == 2
    assert message in capsys.readouterr().err
    assert not log_path_for(out).exists()


def test_second_run_on_one_output_stops_naming_the_first(tmp_path, capsys, coco_folder):
    import os

    from eft_jax.formats.run_lock import RunLock

    images, keypoints = coco_folder
    out = tmp_path / "fits.json"
    with RunLock(log_path_for(out)):  # a run in progress
        argv = ["fit", "--images", str(images), "--keypoints", str(keypoints), "--out", str(out)]
        assert cli.main(argv + ["--compilation-cache", ""]) == 2
    error = capsys.readouterr().err
    assert "another run is writing this output" in error and f'"pid": {os.getpid()}' in error
    assert not log_path_for(out).exists()


def test_logs_of_another_job_on_the_same_output_are_refused(
    tmp_path, capsys, coco_folder, checkpoint
):
    images, keypoints = coco_folder
    out = tmp_path / "fits.json"
    other = log_path_for(out, 1, 2)
    other.write_text(
        json.dumps({"eftjax_fit_log": 1, "header": {"input": "something else"}}) + "\n"
    )
    argv = _coco_fit(images, keypoints, out, checkpoint)
    assert (
        cli.main(
            argv
            + FAST
            + ["--process-index", "0", "--process-count", "2", "--compilation-cache", ""]
        )
        == 2
    )
    assert "fits.json.log-1of2.jsonl was written with other settings" in capsys.readouterr().err


def test_the_compilation_cache_folder_keeps_the_programs_for_a_restart(tmp_path):
    import jax.numpy as jnp

    from eft_jax.fitting.run import enable_compilation_cache

    assert enable_compilation_cache(tmp_path / "jax_cache") == tmp_path / "jax_cache"
    jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.0)(jnp.arange(7.0)).block_until_ready()
    assert any((tmp_path / "jax_cache").iterdir())  # written there, read there on a restart
