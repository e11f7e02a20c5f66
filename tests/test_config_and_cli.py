"""Config overrides, the OBJ writer, named poses and command-line errors."""

import numpy as np
import pytest

from eft_jax import cli
from eft_jax.body import named_poses
from eft_jax.config import ConfigError, default_config_path, load_config
from eft_jax.formats.exemplar_npz import write_exemplars_npz
from eft_jax.formats.obj_file import read_obj, write_obj

pytestmark = pytest.mark.fast_compiles


def test_overrides_are_typed_and_typos_rejected():
    config = load_config(
        default_config_path("demo"),
        [
            "num_exemplars=3",
            "output_dir=/tmp/x",
            "strip_iterations=(0, 1)",
            "eft.optimizer.learning_rate=1e-5",
        ],
    )
    assert config.num_exemplars == 3 and isinstance(config.num_exemplars, int)
    assert config.output_dir == "/tmp/x"
    assert config.strip_iterations == (0, 1)
    assert config.eft.optimizer.learning_rate == 1e-5
    with pytest.raises(ConfigError, match="no field 'num_exemplar'"):
        load_config(default_config_path("demo"), ["num_exemplar=1"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(default_config_path("demo"), ["num_exemplars"])


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


def test_a_bad_body_file_is_reported_clearly(tmp_path, capsys):
    bad = tmp_path / "SMPL_NEUTRAL.pkl"
    bad.write_bytes(b"not a pickle")
    crops = write_exemplars_npz(
        tmp_path / "c.npz", np.zeros((1, 8, 8, 3), np.uint8), np.zeros((1, 49, 3), np.float32)
    )
    argv = [
        "fit",
        "--crops",
        str(crops),
        "--out",
        str(tmp_path / "o.json"),
        "--body",
        str(bad),
        "--compilation-cache",
        "",
    ]
    assert cli.main(argv) == 2
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
    assert (
        cli.main(
            [
                "render",
                "--fits",
                str(missing),
                "--images",
                str(tmp_path),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert str(missing) in capsys.readouterr().err


def test_every_input_error_derives_from_the_one_base_class():
    """The error classes the CLI once listed by hand are all `InputError`s, so it needs no list."""
    from eft_jax.body import BodyModelFileError, SmplFileError
    from eft_jax.datasets.coco import CocoFormatError
    from eft_jax.datasets.people import DatasetError
    from eft_jax.errors import InputError
    from eft_jax.eval.benchmark_sources import EvaluateInputError
    from eft_jax.eval.pictures import RenderInputError
    from eft_jax.fitting.inputs import FitInputError
    from eft_jax.fitting.pose_prior import PosePriorFileError
    from eft_jax.formats.eft_json import EftJsonError
    from eft_jax.formats.exemplar_npz import ExemplarFileError
    from eft_jax.formats.fit_log import FitLogError
    from eft_jax.formats.images import ImageReadError
    from eft_jax.formats.run_lock import RunLockedError
    from eft_jax.nets import RegressorCheckpointError, SpinImportError, TorchCheckpointError
    from eft_jax.train.sources import TrainingDataError
    from eft_jax.train.trainer import TrainingDiverged

    listed = [
        ConfigError,
        BodyModelFileError,
        SmplFileError,
        TorchCheckpointError,
        SpinImportError,
        RegressorCheckpointError,
        DatasetError,
        CocoFormatError,
        RunLockedError,
        EftJsonError,
        ExemplarFileError,
        FitLogError,
        ImageReadError,
        FitInputError,
        EvaluateInputError,
        RenderInputError,
        PosePriorFileError,
        TrainingDataError,
        TrainingDiverged,
    ]
    assert [c.__name__ for c in listed if not issubclass(c, InputError)] == []
    # Callers that caught the built-in kinds still catch them.
    assert issubclass(DatasetError, ValueError) and issubclass(RunLockedError, RuntimeError)


def test_cli_reports_any_input_error_in_one_line_with_exit_code_2(monkeypatch, capsys):
    from eft_jax.errors import InputError

    class NewInputError(InputError):
        pass

    def convert(args):
        raise NewInputError(f"{args.checkpoint}: not a checkpoint")

    monkeypatch.setattr(cli, "_convert_spin", convert)
    assert cli.main(["convert-spin", "bad.pt", "--out", "out"]) == 2
    assert capsys.readouterr().err == "eft-jax convert-spin: error: bad.pt: not a checkpoint\n"

    def crash(args):
        raise ValueError("a bug, not bad input")

    monkeypatch.setattr(cli, "_convert_spin", crash)
    with pytest.raises(ValueError, match="a bug"):
        cli.main(["convert-spin", "bad.pt", "--out", "out"])


def test_overrides_after_the_flags_of_a_job_with_its_own_positional(capsys):
    from eft_jax import cli

    argv = ["export", "fits.json", "--format", "spin-npz", "--out", "x.npz", "min_quality=0.4"]
    assert cli.main([*argv, "--show-config"]) == 0
    assert "\nmin_quality: 0.4" in capsys.readouterr().out
    assert cli.main(["report", "fits.json", "--show-config", "thumbnail_size=12"]) == 0
    assert "\nthumbnail_size: 12" in capsys.readouterr().out
    for stray in ("--bogus", "bogus"):
        assert cli.main([*argv, stray]) == 2
        assert f"unrecognized arguments: {stray}" in capsys.readouterr().err
