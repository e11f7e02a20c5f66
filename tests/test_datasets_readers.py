"""Dataset readers on tiny generated datasets in each native schema: joint mappings, boxes, every
dropped person recorded with its reason, and malformed files named with their problem."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from dataset_builders import (
    make_coco,
    make_evaluation_npz,
    make_lspet,
    make_mpii,
    make_openpose,
    make_pw3d,
    make_spin_npz,
    save_images,
)

from eft_jax.body import SPIN49_NAMES
from eft_jax.body.joint_sets import GT_OFFSET
from eft_jax.datasets.people import DatasetError, iter_exemplars
from eft_jax.datasets.registry import open_dataset
from eft_jax.formats.exemplar import Exemplar, Skip

pytestmark = pytest.mark.fast_compiles


def _ids_and_reasons(items):
    ids = [i.id for i in items]
    return ids, {i.id: i.reason for i in items if isinstance(i, Skip)}


def _exemplars(source, crop_size=32):
    return list(iter_exemplars(source.items, source.images_dir, crop_size=crop_size))


def test_coco_all_and_part_selections_crowds_and_bad_people(tmp_path):
    make_coco(tmp_path, "val2017")
    every = open_dataset("coco", tmp_path, "val2017", "coco-all")
    ids, reasons = _ids_and_reasons(every.items)
    assert ids == [str(i) for i in range(1, 9)]  # every annotation, in input order
    assert "crowd" in reasons["4"] and "no crop box" in reasons["8"] and "no area" in reasons["8"]
    part = open_dataset("coco", tmp_path, "val2017", "coco-part")
    _, part_reasons = _ids_and_reasons(part.items)
    assert "8 of 12 limb keypoints annotated (coco-part needs 12)" == part_reasons["3"]
    assert "3" not in reasons  # COCO-All keeps the upper-body person (EFT: >= 6 of 12)

    items = _exemplars(every)
    ids, reasons = _ids_and_reasons(items)
    assert ids == [str(i) for i in range(1, 9)]
    assert "no such image file" in reasons["5"] and "missing.jpg" in reasons["5"]
    assert "cannot decode" in reasons["6"]
    assert "far outside" in reasons["7"]
    good = {i.id: i for i in items if isinstance(i, Exemplar)}
    assert sorted(good) == ["1", "2", "3"]
    assert good["1"].annot_id == 1 and good["1"].image_name == "a.jpg"
    assert good["1"].image.shape == (32, 32, 3)
    np.testing.assert_allclose(good["1"].center, [60, 50])  # bbox centre
    assert good["1"].scale == pytest.approx(1.2 * 80 / 200)


def test_mpii_mapping_box_and_spin_rule(tmp_path):
    make_mpii(tmp_path)
    source = open_dataset("mpii", tmp_path)
    ids, reasons = _ids_and_reasons(source.items)
    assert ids == ["0_0", "0_1", "1_0"]  # the test image (img_train 0) is not read
    assert "12 of 16 joints annotated" in reasons["0_1"]
    person = source.items[0]
    assert person.scale == pytest.approx(90 / 200) and np.allclose(person.center, [75, 55])
    # MPII joint 8 (upper neck) -> "Neck (LSP)", 6 (pelvis) -> "Pelvis (MPII)", 0 -> right ankle
    assert person.keypoints[SPIN49_NAMES.index("Neck (LSP)"), 2] == 1
    assert person.keypoints[SPIN49_NAMES.index("Pelvis (MPII)"), 2] == 1
    assert person.keypoints[:GT_OFFSET, 2].sum() == 0 and person.keypoints[:, 2].sum() == 16
    assert all(isinstance(i, Exemplar) for i in _exemplars(source) if not isinstance(i, Skip))


@pytest.mark.parametrize("folder", ["annot", "mpii_human_pose_v1_u12_2"])
def test_mpii_annotations_in_a_subfolder(tmp_path, folder):
    # mpii_human_pose_v1_u12_2.zip, MPII's official annotation archive, unpacks to
    # mpii_human_pose_v1_u12_2/mpii_human_pose_v1_u12_1.mat
    make_mpii(tmp_path / "flat")
    make_mpii(tmp_path / "nested", annotation_folder=folder)
    assert not (tmp_path / "nested" / "mpii_human_pose_v1_u12_1.mat").exists()
    nested = open_dataset("mpii", tmp_path / "nested").items
    flat = open_dataset("mpii", tmp_path / "flat").items
    assert [i.id for i in nested] == ["0_0", "0_1", "1_0"]
    np.testing.assert_array_equal(nested[0].keypoints, flat[0].keypoints)


def test_lspet_pairs_sorted_images_with_joints_and_flags(tmp_path):
    make_lspet(tmp_path)
    source = open_dataset("lspet", tmp_path)
    ids, reasons = _ids_and_reasons(source.items)
    assert ids == ["im00001", "im00002", "im00003"] and not reasons
    first, second = source.items[0], source.items[1]
    assert first.image_name == "im00001.png"
    assert first.keypoints[GT_OFFSET : GT_OFFSET + 14, 2].tolist() == [1.0] * 14
    assert (
        second.keypoints[SPIN49_NAMES.index("Top of Head (LSP)"), 2] == 0
    )  # flag 0 -> confidence 0
    # SPIN's box: the keypoints' bounding box centre, 1.2 x its longer side
    points = second.keypoints[GT_OFFSET : GT_OFFSET + 13, :2]
    np.testing.assert_allclose(second.center, (points.min(0) + points.max(0)) / 2)
    assert second.scale == pytest.approx(1.2 * (points.max(0) - points.min(0)).max() / 200)


def test_openpose_body25_and_coco18_several_people(tmp_path):
    make_openpose(tmp_path)
    source = open_dataset("openpose", tmp_path)
    ids, reasons = _ids_and_reasons(source.items)
    assert ids == ["a_0", "a_1", "b_0", "c"]
    assert "0 keypoints with confidence > 0.2" in reasons["a_1"]
    assert "no OpenPose file" in reasons["c"]
    body25, coco18 = source.items[0], source.items[2]
    assert body25.keypoints[:25, 2].tolist() == [pytest.approx(0.9)] * 25
    # detected joints are copied to their ground-truth keypoints (EFT weights OpenPose keypoints 0)
    np.testing.assert_array_equal(
        body25.keypoints[SPIN49_NAMES.index("Left Knee")],
        body25.keypoints[SPIN49_NAMES.index("OP LKnee")],
    )
    assert (
        body25.keypoints[SPIN49_NAMES.index("Neck (LSP)"), 2] == 0
    )  # OpenPose's neck is another point
    # COCO-18: index 8 is RHip -> "OP RHip" (slot 9); no MidHip, no feet
    assert coco18.keypoints[SPIN49_NAMES.index("OP MidHip"), 2] == 0
    assert coco18.keypoints[SPIN49_NAMES.index("OP RHip"), 2] == pytest.approx(0.9)
    assert coco18.keypoints[19:25, 2].sum() == 0


def test_openpose_frame_with_no_people_is_a_skip_record(tmp_path):
    make_openpose(tmp_path)
    save_images(tmp_path / "images", ["d.jpg"])
    (tmp_path / "keypoints" / "d_keypoints.json").write_text('{"version": 1.3, "people": []}')
    ids, reasons = _ids_and_reasons(open_dataset("openpose", tmp_path).items)
    assert ids == ["a_0", "a_1", "b_0", "c", "d"]  # every frame counted, the empty one too
    assert reasons["d"] == "no people detected in d_keypoints.json"


def test_spin_npz_input(tmp_path):
    make_spin_npz(tmp_path)
    source = open_dataset("spin-npz", tmp_path, "train.npz")
    ids, reasons = _ids_and_reasons(source.items)
    assert ids == ["000000", "000001", "000002"]
    assert "0 keypoints annotated" in reasons["000002"]
    assert source.items[0].image_name == "images/img_0.jpg"
    assert source.items[0].scale == pytest.approx(1.2 * 90 / 200)
    items = _exemplars(source)
    assert isinstance(items[0], Exemplar) and items[0].keypoints[GT_OFFSET, 2] == 1


# --- folders and malformed files: clear errors naming the file and the problem ------------------


@pytest.mark.parametrize("name", ["coco", "mpii", "lspet", "openpose", "spin-npz"])
def test_missing_root_is_an_error(tmp_path, name):
    with pytest.raises(
        DatasetError, match="root folder does not exist|images folder does not exist"
    ):
        open_dataset(name, tmp_path / "nowhere", "x.npz" if name == "spin-npz" else None)


def test_missing_images_folder_is_an_error(tmp_path):
    make_coco(tmp_path, "val2017")
    shutil.rmtree(tmp_path / "val2017")
    with pytest.raises(DatasetError, match=r"val2017: COCO val2017 images folder does not exist"):
        open_dataset("coco", tmp_path, "val2017")
    with pytest.raises(DatasetError, match="unknown COCO selection 'coco-some'"):
        open_dataset("coco", tmp_path, "val2017", "coco-some")
    with pytest.raises(DatasetError, match="unknown dataset 'kitti'"):
        open_dataset("kitti", tmp_path)


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_malformed_mpii_mat(tmp_path):
    from scipy.io import savemat

    path = make_mpii(tmp_path)
    _truncate(path)
    with pytest.raises(
        DatasetError, match=r"mpii_human_pose_v1_u12_1\.mat: not a readable MATLAB file"
    ):
        open_dataset("mpii", tmp_path)
    savemat(path, {"annolist": np.zeros(3)})
    with pytest.raises(DatasetError, match="no 'RELEASE' struct"):
        open_dataset("mpii", tmp_path)


def test_malformed_lspet_mat(tmp_path):
    from scipy.io import savemat

    path = make_lspet(tmp_path)
    savemat(path, {"joints": np.zeros((3, 14, 3))})  # LSP's original 3 x 14 x N, not hr-lspet's
    with pytest.raises(DatasetError, match=r"joints\.mat: 'joints' must be numeric 14 x 3 x N"):
        open_dataset("lspet", tmp_path)
    savemat(path, {"joints": np.zeros((14, 3, 5))})
    with pytest.raises(DatasetError, match="has 5 people but the folder has 3 .png images"):
        open_dataset("lspet", tmp_path)
    _truncate(path, 0.3)
    with pytest.raises(DatasetError, match="not a readable MATLAB file"):
        open_dataset("lspet", tmp_path)


def test_malformed_openpose_json(tmp_path):
    make_openpose(tmp_path)
    path = tmp_path / "keypoints" / "b_keypoints.json"
    _truncate(path)
    with pytest.raises(DatasetError, match=r"b_keypoints\.json: not valid JSON"):
        open_dataset("openpose", tmp_path)
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 60}]}))
    with pytest.raises(
        DatasetError, match=r"people\[0\]\.pose_keypoints_2d must be 75 \(BODY_25\) or 54"
    ):
        open_dataset("openpose", tmp_path)
    path.write_text(json.dumps({"persons": []}))
    with pytest.raises(DatasetError, match="not an OpenPose file"):
        open_dataset("openpose", tmp_path)


def test_malformed_spin_npz(tmp_path):
    path = make_spin_npz(tmp_path)
    np.savez(path, imgname=np.array(["a.jpg"]), center=np.zeros((1, 2)))
    with pytest.raises(DatasetError, match=r"train\.npz: missing \['scale'\]"):
        open_dataset("spin-npz", tmp_path, "train.npz")
    np.savez(
        path,
        imgname=np.array(["a.jpg"]),
        center=np.zeros((1, 2)),
        scale=np.ones(1),
        part=np.zeros((1, 14, 3)),
    )
    with pytest.raises(DatasetError, match=r"'part' must have shape \(1, 24, 3\)"):
        open_dataset("spin-npz", tmp_path, "train.npz")
    _truncate(path)
    with pytest.raises(DatasetError, match="not a readable .npz file"):
        open_dataset("spin-npz", tmp_path, "train.npz")


def test_malformed_coco_json_in_a_root(tmp_path):
    path = make_coco(tmp_path, "train2014")
    _truncate(path)
    with pytest.raises(DatasetError, match=r"person_keypoints_train2014\.json: not valid JSON"):
        open_dataset("coco", tmp_path)  # train2014 is the default split
    path.write_text(json.dumps({"images": [], "annotation": []}))
    with pytest.raises(DatasetError, match="missing 'annotations'"):
        open_dataset("coco", tmp_path)


# --- 3DPW (restricted unpickler) and SPIN's evaluation files --------------------------------------


def test_pw3d_sequences_with_camera_frame_ground_truth(tmp_path):
    from eft_jax.datasets.pw3d import read_pw3d
    from eft_jax.geometry import axis_angle_to_rotmat

    make_pw3d(tmp_path)
    dataset = read_pw3d(tmp_path, "test")
    ids, reasons = _ids_and_reasons(dataset.items)
    assert ids == [
        "seq_a_0_00000",
        "seq_a_0_00001",
        "seq_a_0_00002",
        "seq_a_1_00000",
        "seq_a_1_00002",
    ]
    assert not reasons and sorted(dataset.truth) == sorted(ids)
    person = dataset.items[0]
    assert person.image_name == "imageFiles/seq_a/image_00000.jpg"
    assert person.keypoints[SPIN49_NAMES.index("OP RHip"), 2] == pytest.approx(0.8)
    assert person.keypoints[SPIN49_NAMES.index("Right Hip"), 2] == pytest.approx(0.8)
    truth = dataset.truth["seq_a_1_00002"]
    assert truth["gender"] == "f" and truth["betas"].shape == (10,) and truth["pose"].shape == (72,)
    # the global orientation is rotated into the camera frame (x kept, y and z flipped)
    from eft_jax.safe_pickle import load_data_pickle

    raw = load_data_pickle(tmp_path / "sequenceFiles" / "test" / "seq_a.pkl")
    world = np.asarray(axis_angle_to_rotmat(raw["poses"][1][2, :3].astype(np.float32)))
    camera = np.asarray(axis_angle_to_rotmat(truth["pose"][:3].astype(np.float32)))
    np.testing.assert_allclose(camera, np.diag([1, -1, -1]) @ world, atol=1e-5)
    np.testing.assert_array_equal(truth["pose"][3:], raw["poses"][1][2, 3:])
    source = open_dataset("3dpw", tmp_path)
    assert all(isinstance(i, Exemplar) for i in _exemplars(source))


def test_pw3d_malformed_and_malicious_pickles_run_nothing(tmp_path):
    import os
    import pickle

    path = make_pw3d(tmp_path)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path.write_bytes(pickle.dumps({"sequence": Exploit()}, protocol=2))
    with pytest.raises(DatasetError, match=r"seq_a\.pkl: the pickle names (posix|os)\.system"):
        open_dataset("3dpw", tmp_path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"sequence": "seq_a", "poses": []}, protocol=2))
    with pytest.raises(DatasetError, match=r"seq_a\.pkl: missing \['betas'"):
        open_dataset("3dpw", tmp_path)
    path.write_bytes(make_pw3d(tmp_path / "good").read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"seq_a\.pkl: not a readable pickle"):
        open_dataset("3dpw", tmp_path)


@pytest.mark.parametrize("name, with_part", [("h36m", False), ("mpi-inf-3dhp", True)])
def test_spin_evaluation_files(tmp_path, name, with_part):
    from eft_jax.datasets.spin_npz import EVALUATION_FILES, read_evaluation_npz

    path = make_evaluation_npz(tmp_path, EVALUATION_FILES[name], with_part=with_part)
    dataset = read_evaluation_npz(path)
    assert [i.id for i in dataset.items] == ["000000", "000001"]  # every row gets a crop
    assert dataset.joints3d["000001"].shape == (24, 4)
    assert (dataset.items[0].keypoints[:, 2].sum() > 0) == with_part
    source = open_dataset(name, tmp_path)  # SPIN's file name is the default split
    assert len(_exemplars(source)) == 2
    np.savez(
        path,
        imgname=np.array(["e_0.jpg"]),
        center=np.zeros((1, 2)),
        scale=np.ones(1),
        S=np.zeros((1, 17, 3)),
    )
    with pytest.raises(DatasetError, match=r"'S' must have shape \(1, 24, 4\)"):
        open_dataset(name, tmp_path)


@pytest.mark.parametrize(
    "name, build, split, prefix",
    [
        ("coco", lambda root: make_coco(root, "val2017"), "val2017", "val2017/"),
        ("mpii", make_mpii, None, "images/"),
        ("lspet", make_lspet, None, ""),
        ("openpose", make_openpose, None, "images/"),
        ("spin-npz", make_spin_npz, "train.npz", ""),
        ("3dpw", make_pw3d, None, ""),
    ],
)
def test_image_prefix_makes_names_relative_to_the_dataset_folder(
    tmp_path, name, build, split, prefix
):
    # SPIN's preprocessing writes imgname relative to the dataset folder its loader joins it with
    # (coco.py 'train2014/<file>', mpii.py 'images/<file>', hr_lspet.py '<file>', pw3d.py
    # 'imageFiles/<sequence>/<file>'); `fit --spin-npz` writes image_prefix + image_name.
    build(tmp_path)
    source = open_dataset(name, tmp_path, split)
    assert source.image_prefix == prefix
    names = {item.image_name for item in source.items if not isinstance(item, Skip)}
    assert any(os.path.isfile(os.path.join(tmp_path, prefix + n)) for n in names), names
