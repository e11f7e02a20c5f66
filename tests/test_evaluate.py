"""`eft-jax evaluate` and SPIN's benchmark protocols on hand-computed cases: centring, Procrustes,
PVE, PCK / AUC, 3DPW's gendered truth, frame selection, per-sequence tables, the errors a user
meets, and the command end to end on tiny files of every format."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil

import jax
import numpy as np
import pytest
from dataset_builders import make_pw3d, save_images, standing
from random_smpl_model import make_random_smpl, write_npz
from scipy.spatial.transform import Rotation

from eft_jax import cli
from eft_jax.body.joint_sets import H36M_TO_J17, J24_PELVIS, J24_TO_J17
from eft_jax.datasets.benchmarks import h36m_name_parts, mpi_sequence, open_benchmark
from eft_jax.datasets.people import DatasetError
from eft_jax.datasets.synthetic import HELDOUT_SEED_OFFSET, make_samples
from eft_jax.eval import protocols
from eft_jax.eval.evaluation import benchmark_scores, evaluate_fits, group_table, smpl_truth
from eft_jax.eval.protocols import PROTOCOLS, centred_h36m_joints, centred_truth_joints
from eft_jax.geometry.crops import normalize_image
from eft_jax.nets import restore_regressor, save_regressor, update_config_record

pytestmark = pytest.mark.fast_compiles

TINY_SIZE = 32  # tests/tiny_eft.py's crops


def h36m17(seed=0):
    return np.random.default_rng(seed).normal(scale=0.4, size=(17, 3))


def s24_from_h36m17(joints):
    """SPIN's S (24, 4) holding the same 17 points: what a perfect prediction's truth looks like."""
    s = np.zeros((24, 4))
    s[J24_TO_J17, :3] = joints[H36M_TO_J17]
    s[J24_PELVIS, :3] = joints[0]
    s[J24_TO_J17, 3] = s[J24_PELVIS, 3] = 1
    return s


# --- protocols ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_a_prediction_equal_to_the_truth_scores_zero_and_a_translation_is_centred_away(name):
    protocol = PROTOCOLS[name]
    joints = h36m17()
    truth = centred_truth_joints(s24_from_h36m17(joints - (3.0, 1.0, 0.5)), protocol.joints)
    pred = centred_h36m_joints(joints + (0.2, -0.4, 9.0), protocol.joints)
    assert pred.shape == (protocol.joints, 3)
    scores = protocols.joint_scores(pred, truth, with_pck=protocol.pck)
    assert float(scores["mpjpe_mm"]) == pytest.approx(0, abs=1e-3)
    assert float(scores["pa_mpjpe_mm"]) == pytest.approx(0, abs=1e-2)
    if protocol.pck:  # the 0 mm threshold counts nothing (errors must be under it): 30 of 31
        assert float(scores["pck150_pct"]) == 100.0
        assert float(scores["auc_pct"]) == pytest.approx(100 * 30 / 31)


def test_one_joint_off_by_a_known_distance():
    joints = h36m17(1)
    truth = centred_truth_joints(s24_from_h36m17(joints), 14)
    moved = joints.copy()
    moved[H36M_TO_J17[3]] += (0.0, 0.07, 0.0)  # the left hip (LSP-14 joint 3), 70 mm
    scores = protocols.joint_scores(centred_h36m_joints(moved, 14), truth, with_pck=False)
    assert float(scores["mpjpe_mm"]) == pytest.approx(70 / 14, rel=1e-4)
    moved[0] += (0.0, 0.05, 0.0)  # the pelvis, 50 mm: every other joint moves 50 mm relative to it
    scores = protocols.joint_scores(centred_h36m_joints(moved, 14), truth, with_pck=False)
    assert float(scores["mpjpe_mm"]) == pytest.approx((13 * 50 + 20) / 14, rel=1e-4)


def test_procrustes_removes_a_rotation_and_scale_that_mpjpe_sees():
    truth = centred_truth_joints(s24_from_h36m17(h36m17(2)), 17)
    rotation = Rotation.from_euler("xyz", (30, -50, 100), degrees=True).as_matrix()
    pred = 1.7 * np.asarray(truth) @ rotation.T + (0.3, 0.0, -0.2)
    scores = protocols.joint_scores(pred, truth, with_pck=True)
    assert float(scores["pa_mpjpe_mm"]) == pytest.approx(0, abs=0.05)
    assert float(scores["mpjpe_mm"]) > 300
    assert float(scores["pa_pck150_pct"]) == 100.0
    assert float(scores["pck150_pct"]) < 50


def test_pck_and_auc_at_hand_values():
    errors = np.array([0.0, 10.0, 149.9, 150.0, 300.0])
    assert float(protocols.pck_pct(errors)) == pytest.approx(60.0)  # 0, 10 and 149.9 are under 150
    # thresholds 0, 5, ..., 150: 0 mm is under 30 of them, 10 mm under 28 (15..150), 149.9 under 1
    assert float(protocols.auc_pct(errors)) == pytest.approx(100 * (30 + 28 + 1) / (31 * 5))


def test_pve_of_a_known_offset_after_centring():
    rng = np.random.default_rng(3)
    vertices = rng.normal(size=(40, 3))
    centre = np.array([0.1, 0.2, 0.3])
    moved = vertices + (5.0, -1.0, 2.0)
    assert float(
        protocols.centred_pve_mm(moved, vertices, centre + (5.0, -1.0, 2.0), centre)
    ) == pytest.approx(0, abs=1e-3)
    moved[:10] += (0.0, 0.0, 0.04)  # 10 of 40 vertices 40 mm off: 10 mm on average
    assert float(
        protocols.centred_pve_mm(moved, vertices, centre + (5.0, -1.0, 2.0), centre)
    ) == pytest.approx(10.0, rel=1e-4)


def test_missing_truth_joints_are_named():
    s = s24_from_h36m17(h36m17())
    assert protocols.missing_truth_joints(s, 17) == []
    s[J24_TO_J17[15], 3] = 0  # MPI-INF-3DHP's 16th joint (H36M spine) not annotated
    s[J24_PELVIS, :3] = np.nan
    assert protocols.missing_truth_joints(s, 17) == ["Pelvis (MPII)", "Spine (H36M)"]
    assert protocols.missing_truth_joints(s, 14) == ["Pelvis (MPII)"]


# --- the evaluator on body models -----------------------------------------------------------------


@pytest.fixture(scope="module")
def h36m_body(open_body):
    """The bundled body with a stand-in H36M-17 regressor (each joint a mean of 40 vertices)."""
    rng = np.random.default_rng(0)
    regressor = np.zeros((17, open_body.v_template.shape[0]), np.float32)
    for joint in range(17):
        regressor[joint, rng.choice(regressor.shape[1], 40, replace=False)] = 1 / 40
    return dataclasses.replace(open_body, J_regressor_h36m=jax.numpy.asarray(regressor))


def test_benchmark_scores_from_s_and_from_gendered_smpl_truth(h36m_body):
    rng = np.random.default_rng(4)
    poses = rng.normal(scale=0.2, size=(3, 72))
    betas = rng.normal(size=(3, 10))
    rotmats = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(3, 24, 3, 3)
    neutral = smpl_truth({"neutral": h36m_body}, poses, betas, ["m", "f", "m"])
    per = benchmark_scores(
        PROTOCOLS["h36m-p1"],
        h36m_body,
        rotmats,
        betas,
        {"S": np.stack([s24_from_h36m17(j) for j in neutral["h36m17"]])},
    )
    np.testing.assert_allclose(per["mpjpe_mm"], 0, atol=0.01)
    assert "pve_mm" not in per and "pck150_pct" not in per

    # 3DPW: each person's truth is posed on their gender's model; a taller "female" model makes
    # the women's truth differ from the neutral prediction, the men's not
    taller = dataclasses.replace(h36m_body, v_template=h36m_body.v_template * 1.1)
    gendered = smpl_truth({"m": h36m_body, "f": taller}, poses, betas, ["m", "f", "m"])
    per = benchmark_scores(PROTOCOLS["3dpw"], h36m_body, rotmats, betas, gendered)
    np.testing.assert_allclose(per["mpjpe_mm"][[0, 2]], 0, atol=0.01)
    np.testing.assert_allclose(per["pve_mm"][[0, 2]], 0, atol=0.01)
    assert per["mpjpe_mm"][1] > 5 and per["pve_mm"][1] > 5
    assert (
        per["pa_mpjpe_mm"][1] < 0.05 * per["mpjpe_mm"][1] + 0.5
    )  # a uniform scale, which PA removes


def test_group_table_means_by_hand():
    per = {
        "mpjpe_mm": np.array([10.0, 20.0, 40.0, np.nan]),
        "pve_mm": np.array([1.0, 2.0, 3.0, 4.0]),
    }
    rows = group_table(per, ["b", "a", "b", "c"])
    assert [r["group"] for r in rows] == ["a", "b", "c"]
    assert rows[1] == {"group": "b", "exemplars": 2, "mpjpe_mm": 25.0, "pve_mm": 2.0}
    assert rows[2]["mpjpe_mm"] is None  # no finite value: no NaN in the table


# --- benchmark files --------------------------------------------------------------------------------

H36M_NAMES = [
    "images/S9_Directions_1.54138969_000001.jpg",
    "images/S9_Directions.60457274_000001.jpg",
    "images/S9_Directions_1.60457274_000006.jpg",
    "images/S11_Eating_2.55011271_000001.jpg",
    "images/S11_Eating_2.60457274_000011.jpg",
]


def make_h36m_npz(root, name, names=H36M_NAMES, nan_pelvis_row=None):
    """SPIN's Human3.6M evaluation layout (imgname, center, scale, S) with images of every row."""
    save_images(root / "images", [n.split("/")[-1] for n in names])
    s = np.stack([s24_from_h36m17(h36m17(i)) for i in range(len(names))])
    if nan_pelvis_row is not None:
        s[nan_pelvis_row, J24_PELVIS, :3] = np.nan
    np.savez(
        root / name,
        imgname=np.array(names),
        center=np.tile([80.0, 60.0], (len(names), 1)),
        scale=np.full(len(names), 0.5),
        S=s,
    )


def test_h36m_protocol_2_keeps_only_the_frontal_camera_and_groups_by_subject_and_action(tmp_path):
    make_h36m_npz(tmp_path, "h36m_valid_protocol1.npz")
    make_h36m_npz(tmp_path, "h36m_valid_protocol2.npz")
    p1 = open_benchmark("h36m-p1", tmp_path)
    assert len(p1.items) == 5
    p2 = open_benchmark("h36m-p2", tmp_path)
    assert [item.image_name for item in p2.items] == [n for n in H36M_NAMES if ".60457274_" in n]
    assert sorted(p2.truth) == [item.id for item in p2.items]
    assert [p2.groups[item.id] for item in p2.items] == [
        "S9 Directions",
        "S9 Directions",
        "S11 Eating",
    ]
    assert h36m_name_parts("images/S11_Walking_Dog_1.58860488_000101.jpg") == (
        "S11",
        "Walking_Dog",
        "58860488",
    )


def test_3dpw_and_mpi_inf_3dhp_groups(tmp_path):
    make_pw3d(tmp_path / "3dpw")
    pw3d = open_benchmark("3dpw", tmp_path / "3dpw")
    assert set(pw3d.groups.values()) == {"seq_a"} and len(pw3d.truth) == 5  # person 1 lacks frame 1
    assert {t["gender"] for t in pw3d.truth.values()} == {"m", "f"}
    assert mpi_sequence("mpi_inf_3dhp_test_set/TS3/imageSequence/img_000001.jpg") == "TS3"


def test_a_missing_evaluation_file_names_itself_and_where_it_goes(tmp_path):
    with pytest.raises(DatasetError, match=r"h36m_valid_protocol2\.npz.*goes in --root"):
        open_benchmark("h36m-p2", tmp_path)
    make_h36m_npz(tmp_path, "h36m_valid_protocol1.npz", ["images/not_h36m.jpg"])
    with pytest.raises(DatasetError, match="S<subject>_<action>"):
        open_benchmark("h36m-p1", tmp_path)


# --- the command ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(tiny_regressor, tmp_path_factory):
    """The tiny regressor saved twice: as predicting the open body's parameters and SMPL's."""
    regressor, variables, _ = tiny_regressor
    folder = tmp_path_factory.mktemp("checkpoints")
    record = regressor.config_record() | {"image_size": TINY_SIZE, "body_model_kind": "open"}
    paths = {"open": save_regressor(folder / "open", variables, record), "smpl": folder / "smpl"}
    shutil.copytree(paths["open"], paths["smpl"])
    update_config_record(paths["smpl"], {"body_model_kind": "smpl"})
    return {kind: str(path) for kind, path in paths.items()}


@pytest.fixture(scope="module")
def smpl_files(tmp_path_factory):
    """SPIN's data layout: models/smpl/SMPL_{NEUTRAL,MALE,FEMALE}.npz (random SMPL-format models)
    and models/J_regressor_h36m.npy one folder up."""
    folder = tmp_path_factory.mktemp("models") / "smpl"
    folder.mkdir()
    for seed, name in enumerate(("SMPL_NEUTRAL", "SMPL_MALE", "SMPL_FEMALE")):
        write_npz(make_random_smpl(seed=seed), folder / f"{name}.npz")
    regressor = np.random.default_rng(1).uniform(size=(17, 6890)).astype(np.float32)
    np.save(folder.parent / "J_regressor_h36m.npy", regressor / regressor.sum(1, keepdims=True))
    return folder / "SMPL_NEUTRAL.npz"


def _evaluate(capsys, *args):
    code = cli.main(["evaluate", *args])
    return code, capsys.readouterr().err


def test_the_command_on_synthetic_humans_matches_the_evaluator(
    checkpoints, tmp_path, capsys, open_body
):
    out = tmp_path / "out"
    code, err = _evaluate(
        capsys,
        "--checkpoint",
        checkpoints["open"],
        "--dataset",
        "synthetic",
        "--limit",
        "5",
        "--batch-size",
        "5",
        "--worst",
        "2",
        "--out",
        str(out),
    )
    assert code == 0, err
    assert "5/5 exemplars" in err  # progress
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scored"] == 5 and summary["skipped"] == []

    samples = make_samples(
        range(HELDOUT_SEED_OFFSET, HELDOUT_SEED_OFFSET + 5),
        crop_size=TINY_SIZE,
        with_vertices=True,
    )
    restored = restore_regressor(checkpoints["open"])
    # jitted: one compile instead of the network op by op
    predicted = jax.jit(restored.regressor.apply)(
        restored.variables, normalize_image(samples["image"])
    )
    expected = evaluate_fits(
        open_body,
        predicted.rotmats,
        predicted.betas,
        predicted.camera,
        samples["keypoints"],
        samples["joints3d_spin49"],
        samples["vertices"],
    )
    with open(out / "per_exemplar.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [str(s) for s in samples["seed"]]
    assert [r["sequence"] for r in rows] == list(samples["clip"])
    for key in ("mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "error_2d_px"):
        np.testing.assert_allclose(
            [float(r[key]) for r in rows], expected[key], rtol=1e-3, err_msg=key
        )
    assert summary["overall"]["mpjpe_mm"] == pytest.approx(expected["mpjpe_mm"].mean(), rel=1e-3)

    table = {row["group"]: row for row in summary["per_sequence"]}
    assert set(table) == set(samples["clip"])
    for clip, row in table.items():
        members = samples["clip"] == clip
        assert row["exemplars"] == members.sum()
        assert row["pa_mpjpe_mm"] == pytest.approx(
            expected["pa_mpjpe_mm"][members].mean(), rel=1e-3
        )
    worst = np.argsort(-expected["pa_mpjpe_mm"])[:2]
    assert [p.split("/")[-1] for p in summary["worst"]] == [
        f"{n + 1:02d}_{samples['seed'][i]}.png" for n, i in enumerate(worst)
    ]
    markdown = (out / "summary.md").read_text()
    assert "| all | 5 |" in markdown and "PA-MPJPE (mm)" in markdown and "Per sequence" in markdown


@pytest.mark.parametrize("dataset", ["h36m-p2", "mpi-inf-3dhp", "3dpw"])
def test_the_command_on_each_benchmark_format(dataset, checkpoints, smpl_files, tmp_path, capsys):
    root = tmp_path / dataset
    if dataset == "3dpw":
        make_pw3d(root)
        (
            root / "imageFiles" / "seq_a" / "image_00002.jpg"
        ).unlink()  # two people's frame 2: skipped
    elif dataset == "h36m-p2":
        make_h36m_npz(
            root, "h36m_valid_protocol2.npz", nan_pelvis_row=2
        )  # S9 Directions_1, frontal
    else:
        names = [
            f"mpi_inf_3dhp_test_set/TS{1 + i % 2}/imageSequence/img_{i:06d}.jpg" for i in range(3)
        ]
        for name in names:
            save_images(root / name.rsplit("/", 1)[0], [name.rsplit("/", 1)[1]])
        s = np.stack([s24_from_h36m17(h36m17(i)) for i in range(3)])
        part = np.zeros((3, 24, 3))
        part[:, :14, :2], part[:, :14, 2] = standing(40, 20, 80, 14, 9), 1
        np.savez(
            root / "mpi_inf_3dhp_valid.npz",
            imgname=np.array(names),
            center=np.tile([80.0, 60.0], (3, 1)),
            scale=np.full(3, 0.5),
            S=s,
            part=part,
        )
    out = tmp_path / "out"
    code, err = _evaluate(
        capsys,
        "--checkpoint",
        checkpoints["smpl"],
        "--dataset",
        dataset,
        "--root",
        str(root),
        "--body",
        str(smpl_files),
        "--batch-size",
        "2",
        "--worst",
        "0",
        "--out",
        str(out),
    )
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    groups = {row["group"]: row["exemplars"] for row in summary["per_sequence"]}
    expected = {
        "h36m-p2": {"S9 Directions": 1, "S11 Eating": 1},
        "mpi-inf-3dhp": {"TS1": 2, "TS2": 1},
        "3dpw": {"seq_a": 3},
    }
    assert groups == expected[dataset]
    columns = {k for k, v in summary["overall"].items() if v is not None}
    assert ("pve_mm" in columns) == (dataset == "3dpw") and ("auc_pct" in columns) == (
        dataset == "mpi-inf-3dhp"
    )
    assert all(np.isfinite(v) for k, v in summary["overall"].items() if k != "group")
    assert summary["worst"] == []
    if dataset == "3dpw":
        assert (
            "SMPL_MALE.npz" in summary["body_models"]
            and "SMPL_FEMALE.npz" in summary["body_models"]
        )
        assert [s["reason"].split(":")[0] for s in summary["skipped"]] == ["image unreadable"] * 2
    if dataset == "h36m-p2":
        assert summary["skipped"] == [
            {
                "id": "000002",
                "reason": "ground-truth joints ['Pelvis (MPII)'] missing or non-finite in S",
            }
        ]


def test_the_command_says_what_to_bring(checkpoints, smpl_files, tmp_path, capsys):
    make_h36m_npz(tmp_path, "h36m_valid_protocol1.npz")
    base = ["--dataset", "h36m-p1", "--root", str(tmp_path)]
    code, err = _evaluate(capsys, *base)  # the bundled regressor and open body
    assert code == 2 and "J_regressor_h36m.npy" in err and "convert-spin" in err and "--body" in err
    code, err = _evaluate(capsys, *base, "--checkpoint", checkpoints["smpl"])
    assert code == 2 and "predicts SMPL" in err and "--body" in err
    lone = tmp_path / "lone" / "inner"
    lone.mkdir(parents=True)
    write_npz(make_random_smpl(seed=0), lone / "SMPL_NEUTRAL.npz")
    code, err = _evaluate(
        capsys, *base, "--checkpoint", checkpoints["smpl"], "--body", str(lone / "SMPL_NEUTRAL.npz")
    )
    assert code == 2 and "J_regressor_h36m.npy not found" in err and "--h36m-regressor" in err
    code, err = _evaluate(
        capsys, *base, "--checkpoint", checkpoints["open"], "--body", str(smpl_files)
    )
    assert code == 2 and "open body model" in err  # a regressor of the open body, posed on SMPL
    code, err = _evaluate(capsys, "--dataset", "synthetic", "--checkpoint", checkpoints["smpl"])
    assert code == 2 and "bundled open body" in err
    code, err = _evaluate(capsys, "--dataset", "h36m-p2", "--root", str(tmp_path / "nowhere"))
    assert code == 2 and "nowhere" in err
    code, err = _evaluate(
        capsys, "--dataset", "synthetic", "--checkpoint", checkpoints["open"], "evaluator='nope'"
    )
    assert code == 2 and "unknown evaluator 'nope'" in err  # configs/evaluate.py's plug-in field
