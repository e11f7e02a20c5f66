"""The fit-quality signals (fitting/quality.py) on bodies whose answers are known, and the
calibration's logistic regression and ranking figures (eval/quality_calibration.py)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax import body
from eft_jax.body.joint_sets import SMPL_JOINT_NAMES
from eft_jax.body.upright import UPRIGHT_TURN
from eft_jax.datasets.joint_limits import joint_rotations
from eft_jax.eval.quality_calibration import (
    auroc,
    auroc_intervals,
    bad_fits,
    fit_quality_model,
    kept_curve,
    write_calibration,
)
from eft_jax.fitting.exemplar import Exemplar
from eft_jax.fitting.quality import (
    SIGNALS,
    QualityCalibrationError,
    QualityScorer,
    QualitySignals,
    joint_angles,
    read_calibration,
)
from eft_jax.fitting.result import FitResult
from eft_jax.geometry import (
    FullFrame,
    axis_angle_to_rotmat,
    full_to_crop_camera,
    image_to_crop,
    pinhole,
    weak_perspective,
)

pytestmark = pytest.mark.fast_compiles

CAMERA = np.array([0.8, 0.05, 0.1], np.float32)


@pytest.fixture(scope="module")
def signals_of(open_body):
    return QualitySignals(open_body)


def _pose(**joint_axis_angles) -> np.ndarray:
    """(24, 3, 3): the upright T-pose with the given joints rotated (axis-angle, radians)."""
    rotmats = np.tile(np.eye(3, dtype=np.float32), (24, 1, 1))
    for name, axis_angle in joint_axis_angles.items():
        rotmats[SMPL_JOINT_NAMES.index(name)] = np.asarray(
            axis_angle_to_rotmat(jnp.asarray(axis_angle, jnp.float32))
        )
    rotmats[0] = UPRIGHT_TURN @ rotmats[0]
    return rotmats


def _keypoints_of(model, rotmats, betas) -> np.ndarray:
    """(49, 3): the body's own projected keypoints, every available one visible."""
    spin49 = body.forward_joints(model, rotmats, betas).spin49
    xy = np.asarray(weak_perspective(spin49, jnp.asarray(CAMERA)))
    return np.concatenate([xy, np.asarray(model.spin49_available, np.float32)[:, None]], -1)


def _signals(signals_of, open_body, rotmats, keypoints=None, start=None, iterations=5):
    betas = np.zeros((1, 10), np.float32)
    if keypoints is None:
        keypoints = _keypoints_of(open_body, rotmats, betas[0])
    return signals_of(
        rotmats[None],
        betas,
        CAMERA[None],
        keypoints[None],
        iterations=[iterations],
        max_iters=20,
        converged=[True],
        start_rotmats=None if start is None else start[None],
        start_betas=None if start is None else betas,
    )


def test_joint_angles_invert_the_joint_limit_tables_rotations():
    angles = np.random.default_rng(0).uniform(-1.2, 1.2, (6, 24, 3))
    back = joint_angles(jnp.asarray(joint_rotations(angles), jnp.float32))
    np.testing.assert_allclose(np.asarray(back), angles, atol=1e-5)


def test_a_fit_on_its_own_keypoints_facing_the_camera(signals_of, open_body):
    tpose = _pose()
    s = _signals(signals_of, open_body, tpose, start=tpose)
    assert set(s) == set(SIGNALS)
    for part in ("head", "torso", "left_arm", "right_arm", "left_leg", "right_leg", "all"):
        assert s[f"residual_{part}"][0] < 1e-5, part
    # Turned about the vertical, its left and right land on each other's keypoints; its mirror
    # image is (nearly) itself: the bundled body is nearly symmetric.
    assert s["turned_residual"][0] > 0.05
    assert s["mirrored_residual"][0] < 0.01
    assert s["facing_camera_deg"][0] < 1.0
    assert s["moved_pa"][0] < 1e-4
    assert s["self_intersection"][0] == 0.0
    assert s["joint_limit_excess_deg"][0] < 1e-3
    # Limbs and torso in the image plane: nothing points along the line of sight.
    for name in ("limb_depth_mean", "limb_depth_max", "leg_depth_mean", "torso_depth"):
        assert s[name][0] < 0.1, name
    assert s["iterations_fraction"][0] == pytest.approx(0.25) and s["converged"][0] == 1.0
    height = s["box_fill"][0] * 2.0 / CAMERA[0]
    assert 1.4 < height < 2.1  # metres, the rest pose's keypoint extent


def test_a_full_frame_fit_is_measured_through_its_own_camera(open_body):
    # A body off to the side of a wide image, its keypoints its own full-perspective projection:
    # through the fit's pinhole camera they fit exactly, and the ray to the camera is 27 degrees
    # off the optical axis; the weak-perspective limit of the same camera misses them.
    tpose = _pose()
    spin49 = body.forward_joints(open_body, tpose, np.zeros(10, np.float32)).spin49
    translation = np.array([1.5, 0.2, 3.0], np.float32)
    frame = FullFrame(
        box_center=np.array([1140.0, 427.0], np.float32),
        box_size=np.float32(600.0),
        focal=np.array([1000.0, 1000.0], np.float32),
        principal_point=np.array([640.0, 360.0], np.float32),
    )
    pixels = pinhole(spin49, jnp.asarray(translation), frame.focal, frame.principal_point)
    xy = np.asarray(image_to_crop(pixels, frame))
    keypoints = np.concatenate(
        [xy, np.asarray(open_body.spin49_available, np.float32)[:, None]], -1
    )
    exemplar = Exemplar(
        0,
        np.zeros((8, 8, 3), np.float32),
        keypoints,
        center=frame.box_center,
        scale=3.0,
        image_size=(1280, 720),
    )
    fit = dict(
        id=0,
        stop_reason="converged",
        iterations=5,
        rotmats=tpose,
        betas=np.zeros(10, np.float32),
        camera=np.asarray(full_to_crop_camera(jnp.asarray(translation), frame)),
    )
    scorer = QualityScorer(open_body, method="eft", max_iters=20)
    full = scorer.fields(
        FitResult(
            **fit,
            translation=translation,
            focal_length=frame.focal,
            principal_point=frame.principal_point,
        ),
        exemplar,
    )
    crop = scorer.fields(FitResult(**fit), exemplar)
    assert full["quality_residual_all"] < 1e-5
    assert crop["quality_residual_all"] > 0.01
    assert full["quality_facing_camera_deg"] == pytest.approx(
        np.degrees(np.arccos(translation[2] / np.linalg.norm(translation))), abs=0.1
    )
    assert crop["quality_facing_camera_deg"] < 1.0
    assert 0.0 <= full["quality_score"] <= 1.0


def test_signals_see_what_is_wrong(signals_of, open_body):
    tpose = _pose()
    turned = _pose(pelvis=[0.0, np.pi, 0.0])
    assert _signals(signals_of, open_body, turned)["facing_camera_deg"][0] > 179.0
    # Another body than the keypoints': residuals, and the distance from its start.
    bent = _pose(left_knee=[1.2, 0.0, 0.0], right_shoulder=[0.0, 0.0, 1.0])
    s = _signals(signals_of, open_body, bent, _keypoints_of(open_body, tpose, np.zeros(10)), tpose)
    assert s["residual_left_leg"][0] > 0.01 and s["residual_right_arm"][0] > 0.01
    assert s["residual_left_arm"][0] < 1e-5 and s["residual_head"][0] < 1e-5
    assert s["moved_pa"][0] > 0.01
    # A leg raised straight at the camera points along the line of sight, thigh and shin; a body
    # lying along it, every leg segment and the torso.
    raised = _signals(signals_of, open_body, _pose(left_hip=[-np.pi / 2, 0.0, 0.0]))
    assert raised["limb_depth_max"][0] > 0.99 and 0.5 < raised["leg_depth_mean"][0] < 0.55
    assert raised["torso_depth"][0] < 0.1
    lying = _signals(signals_of, open_body, _pose(pelvis=[np.pi / 2, 0.0, 0.0]))
    assert lying["leg_depth_mean"][0] > 0.98 and lying["torso_depth"][0] > 0.99
    # Knees bent forwards past straight break the range-of-motion table by the excess.
    hyper = _pose(left_knee=[-0.5, 0.0, 0.0])
    excess = _signals(signals_of, open_body, hyper)["joint_limit_excess_deg"][0]
    assert excess == pytest.approx(np.degrees(0.5), abs=0.1)
    # Legs crossed through each other intersect; no start: moved_pa is missing.
    crossed = _pose(left_hip=[0.0, 0.0, -0.15], right_hip=[0.0, 0.0, 0.15])  # shins cross
    s = _signals(signals_of, open_body, crossed)
    assert s["self_intersection"][0] > 0.01
    assert np.isnan(s["moved_pa"][0])
    # A missing body part has no residual.
    keypoints = _keypoints_of(open_body, tpose, np.zeros(10))
    keypoints[:, 2] = 0.0
    keypoints[0, 2] = 1.0  # the nose only
    s = _signals(signals_of, open_body, tpose, keypoints)
    assert np.isnan(s["residual_left_leg"][0]) and np.isfinite(s["residual_head"][0])
    assert s["visible_limbs"][0] == 0.0


def test_betas_moved_is_the_change_from_the_start(signals_of, open_body):
    tpose = _pose()
    betas = np.zeros((1, 10), np.float32)
    betas[0, :2] = (3.0, 4.0)
    start_betas = np.zeros((1, 10), np.float32)
    start_betas[0, 0] = 3.0
    common = dict(iterations=[5], max_iters=20, converged=[True])
    keypoints = _keypoints_of(open_body, tpose, betas[0])[None]
    s = signals_of(
        tpose[None], betas, CAMERA[None], keypoints,
        start_rotmats=tpose[None], start_betas=start_betas, **common,
    )  # fmt: skip
    assert s["betas_norm"][0] == pytest.approx(5.0, abs=1e-5)
    assert s["betas_moved"][0] == pytest.approx(4.0, abs=1e-5)
    # Without a start (SMPLify from the mean pose), the betas moved from the mean shape's zeros.
    s = signals_of(tpose[None], betas, CAMERA[None], keypoints, **common)
    assert s["betas_moved"][0] == pytest.approx(5.0, abs=1e-5)


def test_calibration_ranks_and_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    count = 400
    signals = {name: rng.normal(1.0, 0.1, count) for name in SIGNALS}
    signals["residual_all"] = np.exp(rng.normal(-3.0, 1.0, count))
    signals["moved_pa"][:10] = np.nan  # missing signals count as the mean
    bad = np.log(signals["residual_all"]) + rng.normal(0.0, 0.5, count) > -2.5
    model = fit_quality_model(signals, bad)
    score = model.score(signals)
    assert np.all((score > 0) & (score < 1)) and np.all(np.isfinite(score))
    assert auroc(score, bad) > 0.85
    assert model.weights[model.names.index("residual_all")] < 0  # larger residual, lower score
    # AUROC is the fraction of (bad, good) pairs ranked right, ties counted half.
    pairs = score[bad][:, None] < score[~bad][None, :]
    ties = score[bad][:, None] == score[~bad][None, :]
    assert auroc(score, bad) == pytest.approx(pairs.mean() + 0.5 * ties.mean())
    assert auroc(np.array([0.1, 0.1, 0.9]), np.array([True, False, False])) == pytest.approx(0.75)

    path = write_calibration(tmp_path / "calibration.json", {"eft": model}, fitted_on="test")
    again = read_calibration(path)
    assert again["source"] == str(path) and again["fitted_on"] == "test"
    np.testing.assert_allclose(again["models"]["eft"].score(signals), score)
    (tmp_path / "bad.json").write_text('{"version": 99}')
    with pytest.raises(QualityCalibrationError, match="version"):
        read_calibration(tmp_path / "bad.json")


def test_auroc_intervals_bracket_the_auroc_and_its_difference():
    rng = np.random.default_rng(3)
    bad = rng.random(400) < 0.3
    sharp, blunt = rng.normal(size=400) - 2.0 * bad, rng.normal(size=400) - 0.3 * bad
    intervals = auroc_intervals({"sharp": sharp, "blunt": blunt}, bad, draws=500)
    for name, score in (("sharp", sharp), ("blunt", blunt)):
        low, high = intervals[name]
        assert low < auroc(score, bad) < high and high - low < 0.15
    low, high = intervals["difference"]
    assert 0.0 < low < auroc(sharp, bad) - auroc(blunt, bad) < high


def test_bad_fits_and_the_kept_curve():
    per = {
        "pa_mpjpe_mm": np.array([100.0, 160.0, 90.0, 80.0]),
        "facing_error_deg": np.array([10.0, 10.0, 120.0, 5.0]),
        "lr_swaps": np.array([0.0, 0.0, 0.0, 1 / 6]),
    }
    assert bad_fits(per).tolist() == [False, True, True, True]
    rows = kept_curve(np.array([0.9, 0.1, 0.5, 0.8]), per, fractions=(1.0, 0.5))
    assert rows[0] == (1.0, pytest.approx(107.5), pytest.approx(25.0))
    assert rows[1] == (0.5, pytest.approx(90.0), pytest.approx(0.0))


def test_the_bundled_calibration_scores_both_methods():
    calibration = read_calibration()
    assert calibration["source"] == "bundled"
    assert set(calibration["models"]) == {"eft", "smplify"}
    for model in calibration["models"].values():
        assert set(model.names) <= set(SIGNALS) and 0 < model.threshold < 1


@pytest.mark.slow
def test_calibrate_writes_a_calibration_that_fit_reads(tmp_path):
    import jax

    from eft_jax import cli
    from eft_jax.nets import Regressor, RegressorArch, save_regressor

    regressor = Regressor(RegressorArch.reduced(18, 16))
    checkpoint = save_regressor(
        tmp_path / "tiny", regressor.init(jax.random.key(0), 32), regressor.config_record()
    )
    out = tmp_path / "calibration.json"
    argv = ["calibrate", "--checkpoint", str(checkpoint), "--out", str(out), "count=6"]
    argv += ["styles=('basic',)", "noises=('none', 'detector')"]
    argv += ["eft_overrides=('max_iters=2', 'batch_size=2')"]
    argv += ["smplify_overrides=('camera_iters=2', 'body_iters=2', 'batch_size=6')"]
    assert cli.main(argv) == 0
    calibration = read_calibration(out)
    assert set(calibration["models"]) == {"eft", "smplify"}
    assert "6 validation synthetic humans" in calibration["fitted_on"]
    assert calibration["fits"]["eft"]["fits"] == 12  # 6 humans, clean and noisy keypoints
    assert "keypoints ['none', 'detector']" in calibration["fitted_on"]


@pytest.mark.slow
def test_calibration_fits_leave_out_a_human_a_method_skips(tiny_regressor):
    from eft_jax.config import default_config_path, load_config
    from eft_jax.eval.heldout import heldout_set
    from eft_jax.eval.quality_calibration import calibration_fits
    from eft_jax.fitting.recipe import resolve_config

    regressor, variables, model = tiny_regressor
    humans = heldout_set(range(10_000_000, 10_000_004), crop_size=32)
    humans["keypoints"][1, :, 2] = 0.0  # every keypoint hidden: nothing to fit
    eft_config = resolve_config(default_config_path("eft_default"), ["max_iters=2"], None)
    smplify_config = load_config(
        default_config_path("smplify"), ["camera_iters=2", "body_iters=2", "batch_size=4"]
    )
    fits = calibration_fits(regressor, variables, model, eft_config, smplify_config, humans, 32)
    assert fits["kept"].tolist() == [0, 2, 3]
    assert list(fits["skipped"]) == [1] and "keypoint" in fits["skipped"][1]
    for method in ("eft", "smplify"):
        assert len(fits[method]["pa_mpjpe_mm"]) == 3
        assert all(len(v) == 3 for v in fits[method]["signals"].values())
    assert len(fits["start"]["rotmats"]) == 3
