import json
from pathlib import Path

import numpy as np
import pytest
from fake_records import fake_fit

from eft_jax.formats.eft_json import (
    EftJsonError,
    read_eft_json,
    smpltype_for,
    stack_eft_data,
    write_eft_json,
)
from eft_jax.formats.exemplar import Skip
from eft_jax.geometry import crops

pytestmark = pytest.mark.fast_compiles

REFERENCE = Path(__file__).parent / "fixtures" / "data_eft_reference.json"


def signature(value):
    """JSON type structure: lists by length and element structure, numbers by int / float."""
    if isinstance(value, list):
        inner = {json.dumps(signature(v)) for v in value}
        return ["list", len(value), sorted(inner)]
    if isinstance(value, bool):
        return "bool"
    return type(value).__name__


def test_layout_and_types_match_a_released_eft_record(tmp_path):
    reference = json.loads(REFERENCE.read_text())
    path = tmp_path / "fits.json"
    write_eft_json(
        path,
        [fake_fit("183020", annot_id=183020)],
        body_kind="smpl",
        body_model="SMPL_NEUTRAL.pkl",
        dbname="test",
    )
    ours = json.loads(path.read_text())
    assert isinstance(ours["ver"], float) and ours["ver"] == reference["ver"]
    assert isinstance(ours["data"], list) and isinstance(ours["meta"], dict)
    ref_entry, entry = reference["data"][0], ours["data"][0]
    assert list(entry)[: len(ref_entry)] == list(ref_entry)  # same keys, same order, extras after
    for key in ref_entry:
        assert signature(entry[key]) == signature(ref_entry[key]), key


def test_file_loads_the_way_eft_viewers_read_it(tmp_path):
    path = tmp_path / "fits.json"
    fits = [
        fake_fit("1", seed=1, annot_id=11, image_name="a.jpg"),
        fake_fit("2", seed=2, image_name="a.jpg"),
    ]
    write_eft_json(path, fits, body_kind="open", body_model="open_body.npz")
    # what demo/visEFTFit.py and docs/README_dataformat.md do with a file
    with open(path) as handle:
        eft_data = json.load(handle)
    assert "{}".format(eft_data["ver"]) == "0.1"
    per_image = {}
    for data in eft_data["data"]:
        per_image.setdefault(data["imageName"], []).append(data)
        bbox_scale, bbox_center = data["bbox_scale"], data["bbox_center"]
        camera = np.array(data["parm_cam"])
        betas = np.reshape(np.array(data["parm_shape"], dtype=np.float32), (1, 10))
        pose = np.reshape(np.array(data["parm_pose"], dtype=np.float32), (1, 24, 3, 3))
        validity = data["joint_validity_openpose18"]
        assert len(validity) == 18 and camera.shape == (3,) and betas.shape == (1, 10)
        assert isinstance(data["annotId"], int) and "smpltype" in data
        assert float(bbox_scale) > 0 and len(bbox_center) == 2
        np.testing.assert_allclose(
            pose[0] @ np.swapaxes(pose[0], 1, 2), np.broadcast_to(np.eye(3), (24, 3, 3)), atol=1e-5
        )
    assert len(per_image["a.jpg"]) == 2
    first = eft_data["data"][0]
    assert first["annotId"] == 11 and eft_data["data"][1]["annotId"] == 0
    assert first["smpltype"] == "eftjax_open" and eft_data["meta"]["smpltype"] == "eftjax_open"
    assert first["iterations"] == 7 and first["stop_reason"] == "converged"
    assert first["loss_2d_after"] == pytest.approx(9.5e-5, rel=1e-6)  # losses not rounded away
    assert first["body_model"] == "open_body.npz" and first["exemplar_id"] == "1"
    # values survive to float32 precision; keypoints are back in image pixels
    np.testing.assert_allclose(first["parm_pose"], fits[0]["rotmats"], atol=1e-7)
    np.testing.assert_allclose(first["parm_shape"], fits[0]["betas"], atol=1e-7)
    image_kp = crops.crop_to_image(fits[0]["keypoints"], fits[0]["center"], fits[0]["scale"])
    image_kp[fits[0]["keypoints"][:, 2] == 0] = 0  # missing joints are (0, 0, 0), as in EFT
    np.testing.assert_allclose(first["gt_keypoint_2d"], image_kp, atol=1e-4)
    assert first["gt_keypoint_2d"][0] == [0.0, 0.0, 0.0] and first["gt_keypoint_2d"][25][2] == 1.0
    pred = crops.crop_to_image(fits[0]["pred_keypoints_2d"], fits[0]["center"], fits[0]["scale"])
    np.testing.assert_allclose(first["pred_keypoint_2d"], pred, atol=1e-4)
    assert first["joint_validity_openpose18"][1] == 0.0  # no LSP neck in this input
    assert first["joint_validity_openpose18"][0] == 1.0  # nose


def test_smpltype_never_claims_smpl_for_other_models():
    assert smpltype_for("smpl") == "smpl"
    assert smpltype_for("open") == "eftjax_open"
    with pytest.raises(ValueError, match="unknown body model kind"):
        smpltype_for("smplx")


def test_bad_fits_become_skips_and_no_nan_is_written(tmp_path):
    bad = fake_fit("bad")
    bad["betas"][3] = np.nan
    missing = fake_fit("nocam")
    del missing["camera"]
    infinite_loss = fake_fit("inf")
    infinite_loss["loss_2d_after"] = np.inf
    bad_annot = fake_fit("annot", annot_id="abc")
    path = tmp_path / "fits.json"
    summary = write_eft_json(
        path,
        [
            fake_fit("ok"),
            bad,
            Skip("img", "image unreadable: x.jpg"),
            missing,
            infinite_loss,
            bad_annot,
        ],
        body_kind="smpl",
        body_model="smpl",
        skipped=[Skip("99", "crowd annotation (iscrowd=1)", 99)],
    )
    assert summary["written"] == 1 and summary["skipped"] == 6

    def refuse(constant):
        raise AssertionError(f"{constant} in the file")

    document = json.loads(path.read_text(), parse_constant=refuse)
    assert [entry["exemplar_id"] for entry in document["data"]] == ["ok"]
    reasons = {s["id"]: s["skip_reason"] for s in document["skipped"]}
    assert "'betas' has NaN" in reasons["bad"]
    assert "missing 'camera'" in reasons["nocam"]
    assert "loss_2d_after" in reasons["inf"]
    assert "'annotId' must be an integer" in reasons["annot"]
    assert reasons["img"] == "image unreadable: x.jpg" and "crowd" in reasons["99"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fits.json"]  # no temporary file left


def test_reader_round_trip_released_file_and_errors(tmp_path):
    path = tmp_path / "fits.json"
    write_eft_json(
        path, [fake_fit("a"), fake_fit("b", seed=3)], body_kind="smpl", body_model="smpl"
    )
    document = read_eft_json(path)
    assert document == json.loads(path.read_text())
    arrays = stack_eft_data(document["data"])
    assert arrays["parm_pose"].shape == (2, 24, 3, 3) and arrays["parm_shape"].shape == (2, 10)
    assert arrays["bbox_center"].shape == (2, 2) and arrays["joint_validity_openpose18"].shape == (
        2,
        18,
    )
    assert arrays["smpltype"].tolist() == ["smpl", "smpl"]
    released = read_eft_json(REFERENCE)  # EFT's layout, no eft-jax extras
    assert released["skipped"] == [] and stack_eft_data(released["data"])["annotId"].tolist() == [
        183020
    ]

    entry = json.loads(path.read_text())
    entry["data"][1]["parm_pose"] = entry["data"][1]["parm_pose"][:23]
    (tmp_path / "short.json").write_text(json.dumps(entry))
    with pytest.raises(
        EftJsonError, match=r"short.json: data\[1\]: 'parm_pose' must have shape \(24, 3, 3\)"
    ):
        read_eft_json(tmp_path / "short.json")
    (tmp_path / "cut.json").write_text(path.read_text()[:100])
    with pytest.raises(EftJsonError, match="cut.json: not valid JSON"):
        read_eft_json(tmp_path / "cut.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(EftJsonError, match="'ver' and 'data'"):
        read_eft_json(tmp_path / "list.json")
