"""`eft-jax report` and `eft-jax compare` (eft_jax/report/): the rows a fit file becomes, the
thumbnails' coarse mesh and cache, the kept-fraction curves, the comparison's distances and its
refusals, and the folder the pages read. The pages themselves are tested in a real browser in
tests/test_report_browser.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eft_jax import body
from eft_jax.body.upright import turn_upright
from eft_jax.cli import main
from eft_jax.formats.eft_json import write_eft_json
from eft_jax.report import CompareInputError, CropSource, compare_runs, read_run, write_report
from eft_jax.report.summary import kept_curves
from eft_jax.report.thumbnails import coarse_faces

pytestmark = pytest.mark.fast_compiles


def made_up_fits(count: int, seed: int = 0) -> list[dict]:
    """Fit records (as the fit log holds them) with random poses near the rest pose."""
    rng = np.random.default_rng(seed)
    rotvecs = rng.normal(0, 0.2, (count, 24, 3)).astype(np.float32)
    rotmats = np.array(body.pose_to_rotmats(rotvecs))
    rotmats[:, 0] = turn_upright(rotmats[:, 0])
    keypoints = np.concatenate(
        [rng.uniform(-0.5, 0.5, (count, 49, 2)), np.ones((count, 49, 1))], axis=-1
    )
    return [
        {
            "id": f"person_{i}",
            "rotmats": rotmats[i],
            "betas": rng.normal(0, 0.5, 10),
            "camera": [0.9, 0.0, 0.0],
            "center": [31.5, 31.5],
            "scale": 0.32,
            "keypoints": keypoints[i],
            "imageName": f"person_{i}.png",
            "iterations": 3 + i,
            "stop_reason": "converged" if i % 2 else "max_iters",
            "keypoint_error_px_after": 2.0 + i,
        }
        for i in range(count)
    ]


def write_fits(path: Path, fits: list[dict], **kwargs) -> Path:
    write_eft_json(path, fits, body_kind="open", body_model="open", dbname="made_up", **kwargs)
    return path


def test_a_run_has_one_row_per_fit_with_every_scalar_field_nested_ones_included(tmp_path):
    path = write_fits(tmp_path / "fits.json", made_up_fits(3))
    document = json.loads(path.read_text())
    document["data"][1]["quality"] = {"score": 0.25, "flag": "facing", "signals": [1, 2]}
    document["data"][2]["annotId"] = 77
    path.write_text(json.dumps(document))

    run = read_run(path)
    assert [row["key"] for row in run.rows] == ["person_0", "person_1", "person_2.png#77"]
    assert run.rows[1]["quality.score"] == 0.25 and run.rows[1]["quality.flag"] == "facing"
    assert "quality.signals" not in run.rows[1] and "parm_pose" not in run.rows[1]
    assert run.rows[0]["dataset"] == "made_up" and run.rows[0]["iterations"] == 3
    assert "quality.score" in run.numeric_fields() and "stop_reason" not in run.numeric_fields()


def test_the_coarse_mesh_keeps_the_winding_on_the_full_mesh_vertices():
    model = body.load()
    faces = np.asarray(model.faces)
    coarse = coarse_faces(model.v_template, faces)
    assert len(faces) / 5 < len(coarse) < len(faces) / 2
    assert coarse.min() >= 0 and coarse.max() < model.num_vertices
    assert np.all((coarse[:, 0] != coarse[:, 1]) & (coarse[:, 1] != coarse[:, 2]))
    # Normals of the kept faces (rest pose) point the way their full-mesh faces' normals do.
    rest = np.asarray(model.v_template)

    def normals(f):
        return np.cross(rest[f[:, 1]] - rest[f[:, 0]], rest[f[:, 2]] - rest[f[:, 0]])

    cells = np.floor(rest / 0.02).astype(np.int64)
    _, cluster = np.unique(cells, axis=0, return_inverse=True)
    merged = cluster.ravel()[faces]
    kept = (
        (merged[:, 0] != merged[:, 1])
        & (merged[:, 1] != merged[:, 2])
        & (merged[:, 0] != merged[:, 2])
    )
    agree = np.sum(normals(coarse) * normals(faces[kept]), axis=1) > 0
    assert agree.mean() > 0.9


def test_kept_curves_rank_by_error_and_by_score():
    # Truth errors 10, 20, 30, 40; the 2D error ranks them backwards, the score forwards.
    rows = [
        {
            "keypoint_error_px_after": 4.0 - i,
            "quality.score": 1.0 - i / 4,
            "truth.pa_mpjpe_mm": 10.0 * (i + 1),
            "truth.facing_error_deg": 120.0 if i == 3 else 5.0,
        }
        for i in range(4)
    ]
    curves = kept_curves(rows, "truth.pa_mpjpe_mm")
    at_quarter = curves["kept"].index(0.25)
    assert curves["by"]["quality.score"]["mean"][at_quarter] == 10.0
    assert curves["by"]["keypoint_error_px_after"]["mean"][at_quarter] == 40.0
    assert curves["by"]["keypoint_error_px_after"]["facing_over_90"][at_quarter] == 1.0
    assert curves["by"]["quality.score"]["mean"][-1] == 25.0
    assert kept_curves([{"keypoint_error_px_after": 1.0}], "truth.pa_mpjpe_mm") == {}


def test_compare_measures_the_distance_between_the_fits_and_refuses_another_body(tmp_path):
    fits = made_up_fits(3)
    a = read_run(write_fits(tmp_path / "a.json", fits))
    moved = [dict(fit) for fit in fits]
    moved[1]["rotmats"] = np.array(fits[1]["rotmats"])
    c, s = np.cos(1.2), np.sin(1.2)
    moved[1]["rotmats"][18] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]  # left elbow
    b = read_run(write_fits(tmp_path / "b.json", moved[:2]))
    comparison = compare_runs(a, b, body.load())

    assert list(comparison.per_exemplar) == ["person_0", "person_1"]
    same, bent = comparison.per_exemplar["person_0"], comparison.per_exemplar["person_1"]
    assert same["between.mpjpe_mm"] < 1e-3 and same["between.pa_mpjpe_mm"] < 1e-3
    assert bent["between.mpjpe_mm"] > 10 and bent["between.pa_mpjpe_mm"] > 5
    assert same["A.error_2d_px"] == pytest.approx(same["B.error_2d_px"], abs=1e-4)
    assert (comparison.only_a, comparison.only_b) == (1, 0)

    smpl = json.loads((tmp_path / "b.json").read_text())
    for entry in smpl["data"]:
        entry["smpltype"] = "smpl"
    (tmp_path / "smpl.json").write_text(json.dumps(smpl))
    with pytest.raises(CompareInputError, match="different body models"):
        compare_runs(a, read_run(tmp_path / "smpl.json"), body.load())


def test_compare_command_refuses_fits_of_another_body_model_in_one_line(tmp_path, capsys):
    write_fits(tmp_path / "a.json", made_up_fits(1))
    smpl = json.loads((tmp_path / "a.json").read_text())
    smpl["data"][0]["smpltype"] = "smpl"
    (tmp_path / "b.json").write_text(json.dumps(smpl))
    code = main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert code == 2
    assert "different body models" in capsys.readouterr().err
    assert not (tmp_path / "a_vs_b").exists()


def _report_data(folder: Path) -> dict:
    text = (folder / "data" / "report.js").read_text()
    return json.loads(text.removeprefix("window.EFT_REPORT = ").removesuffix(";\n"))


def test_the_report_folder_holds_every_fit_and_redraws_only_new_fits(tmp_path):
    fits = made_up_fits(3)
    path = write_fits(tmp_path / "fits.json", fits[:2], skipped=[])
    document = json.loads(path.read_text())
    document["skipped"] = [{"id": "x", "skip_reason": "no visible keypoint"}]
    path.write_text(json.dumps(document))
    model = body.load()
    out = tmp_path / "report"

    first = write_report(
        [read_run(path)], out, model=model, crops=CropSource.none(), thumbnail_size=16
    )
    assert (first.fits, first.drawn) == (2, 2)
    data = _report_data(out)
    assert data["runs"][0]["skip_reasons"] == {"no visible keypoint": 1}
    assert {"keypoint_error_px_after", "iterations"} <= set(data["histograms"])
    assert "stop_reason" in data["categories"] and "exemplar_id" not in data["categories"]
    thumbs = {t for row in data["rows"] for t in row["thumbs"]}
    assert all((out / "thumbs" / t).is_file() for t in thumbs)
    for name in ("index.html", "fit.html", "data/body.js", "data/fits/0.js", "assets/viewer.js"):
        assert (out / name).is_file(), name
    assert "http" not in (out / "index.html").read_text().replace("http://www.w3.org", "")

    again = write_report(
        [read_run(path)], out, model=model, crops=CropSource.none(), thumbnail_size=16
    )
    assert again.drawn == 0
    write_fits(path, fits)
    grown = write_report(
        [read_run(path)], out, model=model, crops=CropSource.none(), thumbnail_size=16
    )
    assert (grown.fits, grown.drawn) == (3, 1)
    fits[0]["camera"] = [0.8, 0.1, 0.0]  # a changed fit: a new picture, the old one removed
    write_fits(path, fits)
    changed = write_report(
        [read_run(path)], out, model=model, crops=CropSource.none(), thumbnail_size=16
    )
    assert changed.drawn == 1 and len(list((out / "thumbs").iterdir())) == 3
