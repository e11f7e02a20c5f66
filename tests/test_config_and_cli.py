"""Config overrides, the OBJ writer, and `eft-jax demo` end to end on the bundled model."""

import json

import numpy as np
import pytest

from eft_jax import cli
from eft_jax.body import named_poses
from eft_jax.config import ConfigError, default_config_path, load_config
from eft_jax.data.obj_file import read_obj, write_obj


def test_overrides_are_typed_and_typos_rejected():
    config = load_config(default_config_path("demo"), ["betas_scale=3", "output_dir=/tmp/x", "poses=('t_pose',)"])
    assert config.betas_scale == 3.0 and isinstance(config.betas_scale, float)
    assert config.output_dir == "/tmp/x"
    assert config.poses == ("t_pose",)
    with pytest.raises(ConfigError, match="no field 'betas_scael'"):
        load_config(default_config_path("demo"), ["betas_scael=1"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(default_config_path("demo"), ["betas_scale"])


def test_obj_round_trip_and_validation(tmp_path):
    vertices = np.random.default_rng(0).normal(size=(5, 3))
    faces = np.array([[0, 1, 2], [2, 3, 4]])
    path = write_obj(tmp_path / "m.obj", vertices, faces, comment="hello")
    v, f = read_obj(path)
    np.testing.assert_allclose(v, vertices, atol=1e-6)
    np.testing.assert_array_equal(f, faces)
    with pytest.raises(ValueError, match="do not exist"):
        write_obj(tmp_path / "bad.obj", vertices, faces + 3)


def test_named_poses_mean_what_their_names_say():
    # In SMPL's frame the left arm points along +x; raising it rotates it toward +y.
    from eft_jax.geometry import axis_angle_to_rotmat

    raised = np.asarray(axis_angle_to_rotmat(named_poses.named_pose("arms_raised")[16]))
    assert (raised @ [1.0, 0, 0])[1] > 0.5
    lowered = np.asarray(axis_angle_to_rotmat(named_poses.named_pose("a_pose")[16]))
    assert (lowered @ [1.0, 0, 0])[1] < -0.5
    with pytest.raises(KeyError, match="unknown pose"):
        named_poses.named_pose("moonwalk")


def test_demo_writes_meshes_and_joints(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out), "poses=('t_pose', 'sitting')"]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed
    meshes = sorted((out / "meshes").glob("*.obj"))
    assert len(meshes) == 6
    record = json.loads((out / "joints.json").read_text())
    assert record["body_model"]["kind"] == "open"
    by_name = {(m["pose"], m["shape"]): m for m in record["meshes"]}
    sitting = by_name[("sitting", "mean")]
    vertices, faces = read_obj(out / sitting["mesh"])
    assert faces.max() < len(vertices)
    # Sitting: knees forward of the hips (+z), ankles below the knees.
    joints = sitting["joints_smpl24"]
    assert joints["left_knee"][2] - joints["left_hip"][2] > 0.25
    assert joints["left_ankle"][1] < joints["left_knee"][1] - 0.25
    # Every SPIN-49 slot is available on the open model, and the two shapes differ.
    assert all(v is not None for v in sitting["joints_spin49"].values())
    plus, minus = by_name[("t_pose", "beta0_plus")], by_name[("t_pose", "beta0_minus")]
    assert plus["joints_smpl24"]["head"] != minus["joints_smpl24"]["head"]


def test_demo_reports_a_bad_body_file_clearly(tmp_path, capsys):
    bad = tmp_path / "SMPL_NEUTRAL.pkl"
    bad.write_bytes(b"not a pickle")
    assert cli.main(["demo", "--out", str(tmp_path / "o"), "--body", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err


def test_convert_spin_cli_converts_and_reports_bad_files(tmp_path, capsys):
    from pathlib import Path

    from eft_jax.nets import restore_regressor

    fixture = Path(__file__).parent / "fixtures" / "regressor_spin_r18_w16.pt"
    out = tmp_path / "converted"
    assert cli.main(["convert-spin", str(fixture), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    regressor, variables, _ = restore_regressor(out)
    assert regressor.arch.backbone.depth == 18
    # A second conversion into the same folder needs --overwrite; a corrupt file is named.
    assert cli.main(["convert-spin", str(fixture), "--out", str(out)]) == 2
    assert str(out) in capsys.readouterr().err
    garbage = tmp_path / "model_checkpoint.pt"
    garbage.write_bytes(b"\x00" * 100)
    assert cli.main(["convert-spin", str(garbage), "--out", str(tmp_path / "x")]) == 2
    assert str(garbage) in capsys.readouterr().err


def test_render_cli_reports_a_missing_fits_file(tmp_path, capsys):
    missing = tmp_path / "fits.json"
    assert cli.main(["render", "--fits", str(missing), "--images", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert str(missing) in capsys.readouterr().err
