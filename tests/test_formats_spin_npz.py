"""SPIN's training npz from EFT JSON, checked field by field against what SPIN's
`datasets/base_dataset.py` reads (`BaseDataset.__init__` and `__getitem__`)."""

from __future__ import annotations

import numpy as np
import pytest
from fake_records import fake_fit

from eft_jax.formats.eft_json import EftJsonError, read_eft_json, write_eft_json
from eft_jax.formats.spin_npz import write_spin_npz
from eft_jax.geometry import axis_angle_to_rotmat

pytestmark = pytest.mark.fast_compiles


def spin_base_dataset_view(path):
    """What SPIN's BaseDataset takes from a dataset file (the same keys, defaults and shapes)."""
    data = np.load(path)  # SPIN loads without allow_pickle; so must we be loadable that way
    view = {"imgname": data["imgname"], "scale": data["scale"], "center": data["center"]}
    view["pose"] = data["pose"].astype(float)
    view["betas"] = data["shape"].astype(float)
    view["has_smpl"] = data["has_smpl"] if "has_smpl" in data else np.ones(len(view["imgname"]))
    view["has_pose_3d"] = int("S" in data)
    view["keypoints"] = np.concatenate([data["openpose"], data["part"]], axis=1)
    view["length"] = view["scale"].shape[0]
    return view


@pytest.mark.parametrize("body_kind, has_smpl", [("smpl", 1.0), ("open", 0.0)])
def test_spin_npz_fields_as_spins_dataset_reads_them(tmp_path, body_kind, has_smpl):
    fits = [fake_fit("a", 1, 11, "x.jpg"), fake_fit("b", 2, 12, "y.jpg")]
    eft = tmp_path / "fits.json"
    write_eft_json(eft, fits, body_kind=body_kind, body_model="m")
    document = read_eft_json(eft)
    path = write_spin_npz(eft, tmp_path / "out.npz", image_prefix="train2014/")
    view = spin_base_dataset_view(path)
    assert view["length"] == 2 and view["imgname"].tolist() == [
        "train2014/x.jpg",
        "train2014/y.jpg",
    ]
    assert view["center"].shape == (2, 2) and view["scale"].shape == (2,)
    np.testing.assert_allclose(view["center"], [e["bbox_center"] for e in document["data"]])
    np.testing.assert_allclose(view["scale"], [e["bbox_scale"] for e in document["data"]])
    # keypoints: SPIN-49 in image pixels with confidence, exactly the EFT file's gt_keypoint_2d
    assert view["keypoints"].shape == (2, 49, 3)
    np.testing.assert_array_equal(
        view["keypoints"], [e["gt_keypoint_2d"] for e in document["data"]]
    )
    # pose: 72-d axis-angle (SPIN feeds pose[:3] to rot_aa and the rest to batch_rodrigues)
    assert view["pose"].shape == (2, 72) and view["betas"].shape == (2, 10)
    rotmats = np.asarray(axis_angle_to_rotmat(view["pose"].reshape(2, 24, 3).astype(np.float32)))
    np.testing.assert_allclose(rotmats, [e["parm_pose"] for e in document["data"]], atol=2e-5)
    np.testing.assert_allclose(view["betas"], [e["parm_shape"] for e in document["data"]])
    assert view["has_smpl"].tolist() == [has_smpl] * 2 and view["has_pose_3d"] == 0


def test_spin_npz_refuses_entries_without_keypoints(tmp_path):
    eft = tmp_path / "fits.json"
    write_eft_json(eft, [fake_fit("a")], body_kind="smpl", body_model="m")
    text = eft.read_text().replace('"gt_keypoint_2d"', '"gt_keypoints"')
    eft.write_text(text)
    with pytest.raises(EftJsonError, match="no 'gt_keypoint_2d'"):
        write_spin_npz(eft, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()
