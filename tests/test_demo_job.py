"""`eft-jax demo` end to end on the bundled body and regressor: EFT JSON, pictures, meshes,
Figure-1 strips and a report whose errors fall with EFT; and the same on COCO-format inputs."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from fake_records import coco_person
from PIL import Image
from small_runs import DEMO_OVERRIDES

from eft_jax import cli
from eft_jax.datasets.synthetic import make_samples
from eft_jax.eval.evaluation import evaluate_fits, summarize
from eft_jax.formats.eft_json import read_eft_json
from eft_jax.formats.glb_file import read_glb
from eft_jax.formats.obj_file import read_obj

pytestmark = pytest.mark.fast_compiles


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """(output folder, stdout) of one `eft-jax demo` with the tests' small settings."""
    out = tmp_path_factory.mktemp("demo")
    with contextlib.redirect_stdout(io.StringIO()) as stdout:
        assert cli.main(["demo", "--out", str(out), *DEMO_OVERRIDES]) == 0
    return out, stdout.getvalue()


@pytest.fixture(scope="module")
def synthetic_demo(demo_run):
    return demo_run[0]


def test_demo_writes_fits_pictures_meshes_strips_and_report(synthetic_demo, capsys):
    out = synthetic_demo
    fits = read_eft_json(out / "fits.json")["data"]
    assert len(fits) == 3 and {f["smpltype"] for f in fits} == {"eftjax_open"}
    assert [f["exemplar_id"] for f in fits] == [
        "synthetic_20000000",
        "synthetic_20000001",
        "synthetic_20000002",
    ]

    pictures = sorted((out / "pictures").glob("*.png"))
    assert len(pictures) == 3
    assert np.asarray(Image.open(pictures[0])).shape == (64, 3 * 64, 3)
    obj_vertices, obj_faces = read_obj(pictures[0].with_suffix(".obj"))
    glb_vertices, glb_faces, colors = read_glb(pictures[0].with_suffix(".glb"))
    np.testing.assert_allclose(glb_vertices, obj_vertices, atol=1e-5)
    np.testing.assert_array_equal(glb_faces, obj_faces)
    assert colors is not None and len(np.unique(colors, axis=0)) > 5  # body parts in their colours

    strips = list((out / "strips").glob("*.png"))
    assert len(strips) == 1
    strip = np.asarray(Image.open(strips[0]))
    # input, iteration 0, iteration 2, final, side view: five 64 px panels (plus a label row)
    assert strip.shape[1] == 5 * 64 and strip.shape[0] > 64

    report = json.loads((out / "report.json").read_text())
    assert report["fitted"] == 3 and report["crop_size"] == 128
    before, after = report["keypoint_error_px"]
    assert after < before
    assert set(report["evaluation"]) == {"before", "after"}
    for summary in report["evaluation"].values():
        assert summary["exemplars"] == 3
        assert all(np.isfinite(v) for v in summary.values()) and summary["mpjpe_mm"] > 0
    assert "| MPJPE, LSP-14 (mm) |" in (out / "report.md").read_text()

    # The HTML report of the same run: every fit, its truth errors, its strip, the curves.
    html = json.loads(
        (out / "report" / "data" / "report.js")
        .read_text()
        .removeprefix("window.EFT_REPORT = ")
        .removesuffix(";\n")
    )
    assert len(html["rows"]) == 3 and "truth.pa_mpjpe_mm" in html["numeric"]
    assert sum(row["strip"] is not None for row in html["rows"]) == 1
    assert html["curves"]["by"]["keypoint_error_px_after"]["mean"][-1] == pytest.approx(
        report["evaluation"]["after"]["pa_mpjpe_mm"]
    )


def test_the_demo_report_and_pictures_tell_the_truth(demo_run):
    """A slip (docs/slips.md): the report says the iterations the run allowed, not the recipe's;
    the pictures are named by the exemplar's id once; the last line says where everything is."""
    out, stdout = demo_run
    report = (out / "report.md").read_text()
    assert "max_iters=100" not in report and "at most 4 iterations" in report
    assert sorted(p.name for p in (out / "pictures").glob("*.png")) == [
        "synthetic_20000000.png",
        "synthetic_20000001.png",
        "synthetic_20000002.png",
    ]
    summary = stdout.strip().splitlines()[-1]
    assert summary.startswith("eft-jax demo: 3 fitted, 0 skipped, 0 failed, ")
    assert str(out) in summary


def test_demo_scores_its_fits_with_the_one_evaluator(synthetic_demo, open_body):
    """The report's "after" column is `eval.evaluation` over the written fits and the synthetic
    truth of the demo's seeds, number for number."""
    report = json.loads((synthetic_demo / "report.json").read_text())
    fits = read_eft_json(synthetic_demo / "fits.json")["data"]
    truth = make_samples(
        range(20_000_000, 20_000_003), crop_size=report["crop_size"], with_vertices=True
    )
    per = evaluate_fits(
        open_body,
        np.stack([f["parm_pose"] for f in fits]),
        np.stack([f["parm_shape"] for f in fits]),
        np.stack([f["parm_cam"] for f in fits]),
        truth["keypoints"],
        truth["joints3d_spin49"],
        truth["vertices"],
    )
    assert report["evaluation"]["after"] == pytest.approx(summarize(per), rel=1e-5)


def test_a_rerun_fits_afresh_and_draws_its_strips_from_its_own_fit(
    synthetic_demo, tmp_path, monkeypatch
):
    """A second demo into the same folder (a copy of the first run's) fits every exemplar again
    (nothing resumed from the first run's log), and its strips come from the points that fit
    recorded: EFT never runs one exemplar at a time for them."""
    import shutil

    from eft_jax import fitting
    from eft_jax.fitting import run as fit_run

    out = tmp_path / "demo"
    shutil.copytree(synthetic_demo, out)
    argv = ["demo", "--out", str(out), *DEMO_OVERRIDES]
    fitted = []
    stream = fit_run.fit_stream

    def counting_stream(*args, **kwargs):
        for result in stream(*args, **kwargs):
            fitted.append(result.id)
            yield result

    monkeypatch.setattr(fit_run, "fit_stream", counting_stream)
    monkeypatch.setattr(
        fitting.SequentialEft, "__init__", lambda *a, **k: pytest.fail("EFT re-run for a strip")
    )
    assert cli.main(argv) == 0
    assert sorted(fitted) == ["synthetic_20000000", "synthetic_20000001", "synthetic_20000002"]
    log = [json.loads(line) for line in (out / "fits.json.log.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in log if "id" in r) == sorted(fitted)
    assert len(list((out / "strips").glob("*.png"))) == 1


def test_bundled_regressor_beats_the_mean_pose_on_the_demo_batch(synthetic_demo):
    """The bundled regressor is trained: its 3D error before EFT is well under the mean pose's, on its
    own validation set (lifelike people: 280 mm against 419) and on the demo's basic humans."""
    from eft_jax import nets

    report = json.loads((synthetic_demo / "report.json").read_text())
    evaluation = nets.bundled_regressor().record["evaluation"]
    assert evaluation["mpjpe_mm"] < 0.7 * evaluation["mean_pose_mpjpe_mm"]
    assert report["evaluation"]["before"]["mpjpe_mm"] < 0.7 * evaluation["mean_pose_mpjpe_mm"]


def test_demo_on_coco_images(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(images / "a.jpg")
    annotations = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 160, "height": 120}],
        "annotations": [coco_person(1, 1, 20, 10, 80), coco_person(2, 1, 90, 20, 60)],
        "categories": [{"id": 1, "name": "person"}],
    }
    keypoints = tmp_path / "person_keypoints.json"
    keypoints.write_text(json.dumps(annotations))
    out = tmp_path / "demo"
    argv = [
        "demo",
        "--images",
        str(images),
        "--keypoints",
        str(keypoints),
        "--out",
        str(out),
        *DEMO_OVERRIDES,
    ]
    assert cli.main(argv) == 0
    assert len(read_eft_json(out / "fits.json")["data"]) == 2
    assert len(list((out / "pictures").glob("*.png"))) == 2
    assert len(list((out / "strips").glob("*.png"))) == 1
    report = json.loads((out / "report.json").read_text())
    assert "evaluation" not in report and report["fitted"] == 2
    assert str(out / "report" / "index.html") in capsys.readouterr().out
    assert len(list((out / "report" / "thumbs").glob("*.jpg"))) == 2
    assert cli.main(["demo", "--images", str(images), "--out", str(out)]) == 2


def test_demo_refuses_a_smpl_regressor_with_the_open_body(tmp_path, capsys):
    """A converted SPIN checkpoint predicts SMPL's parameters: fitting it with the bundled open
    body would be wrong, so the demo (and fit) stop before any work and name the fix."""
    from pathlib import Path

    from eft_jax import nets

    fixture = Path(__file__).parent / "fixtures" / "regressor_spin_r18_w16.pt"
    converted = nets.convert_spin_checkpoint(fixture, tmp_path / "spin").out_dir
    assert nets.predicted_body_kind(nets.read_config_record(converted)) == "smpl"
    assert nets.predicted_body_kind(nets.bundled_regressor().record) == "open"
    assert (
        cli.main(
            [
                "demo",
                "--out",
                str(tmp_path / "demo"),
                "--checkpoint",
                str(converted),
                *DEMO_OVERRIDES,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "predicts parameters of the smpl body model" in err and "--body" in err
    assert not (tmp_path / "demo" / "fits.json").exists()
