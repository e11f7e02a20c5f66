"""Regressor training: metrics, SPIN's loss, deterministic batches, and a tiny `eft-jax train`
run on a mixture with pseudo ground truth from `eft-jax fit` that resumes exactly where it stopped."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fake_training import SyntheticRecords

from eft_jax import body, nets
from eft_jax.cli import main
from eft_jax.config import ConfigError, default_config_path, load_config
from eft_jax.eval.metrics import mpjpe_mm, pa_mpjpe_mm
from eft_jax.formats.eft_json import read_eft_json
from eft_jax.formats.exemplar_npz import write_exemplars_npz
from eft_jax.geometry.procrustes import similarity_align
from eft_jax.geometry.rotations import axis_angle_to_rotmat
from eft_jax.nets.hmr import RegressorOutput
from eft_jax.train.batches import TrainBatches
from eft_jax.train.losses import keypoint_weights, spin_loss
from eft_jax.train.sources import SyntheticSource
from eft_jax.train.trainer import learning_rate_schedule

pytestmark = pytest.mark.fast_compiles


def _random_joints(rng, batch=3):
    return rng.normal(size=(batch, 49, 3)).astype(np.float32) * 0.3


def test_similarity_align_recovers_a_similarity_transform():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(4, 14, 3))
    rotation = np.asarray(axis_angle_to_rotmat(jnp.asarray(rng.normal(size=(4, 3)))))
    target = 1.7 * source @ np.swapaxes(rotation, -1, -2) + rng.normal(size=(4, 1, 3))
    np.testing.assert_allclose(similarity_align(source, target), target, atol=1e-4)


def test_similarity_align_never_reflects():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(14, 3))
    mirrored = source * np.array([-1.0, 1.0, 1.0])
    aligned = np.asarray(similarity_align(source, mirrored))
    # A proper rotation cannot turn a generic point set into its mirror image.
    assert np.abs(aligned - mirrored).max() > 0.1


def test_mpjpe_centres_on_the_hips_and_pa_removes_rotation_and_scale():
    rng = np.random.default_rng(2)
    true = _random_joints(rng)
    shifted = true + np.array([0.5, -0.2, 3.0], np.float32)
    np.testing.assert_allclose(mpjpe_mm(shifted, true), 0.0, atol=1e-3)
    moved = true.copy()
    moved[:, 25] += np.array([0.01, 0.0, 0.0], np.float32)  # right ankle 10 mm off, hips untouched
    np.testing.assert_allclose(mpjpe_mm(moved, true), 10.0 / 14, rtol=1e-4)
    rotation = np.asarray(axis_angle_to_rotmat(jnp.asarray([0.3, -1.0, 0.2])))
    turned = 0.8 * true @ rotation.T
    assert float(np.min(mpjpe_mm(turned, true))) > 10.0
    np.testing.assert_allclose(pa_mpjpe_mm(turned, true), 0.0, atol=1e-2)


@pytest.fixture(scope="module")
def model(open_body):
    return open_body


def _with_every_target(batch: dict, model) -> dict:
    """A hand-made batch as a source with full 3D truth gives it (train/sources.py)."""
    count = batch["keypoints"].shape[0]
    confidence = jnp.broadcast_to(jnp.asarray(model.spin49_available, jnp.float32), (count, 49))
    return dict(
        batch, joints3d_confidence=confidence, has_smpl=jnp.ones(count), has_pose_3d=jnp.ones(count)
    )


def test_spin_loss_is_zero_at_the_truth_and_weights_each_term(model):
    config = load_config(default_config_path("train_synthetic")).loss
    rng = np.random.default_rng(3)
    rotmats = axis_angle_to_rotmat(jnp.asarray(rng.normal(size=(2, 24, 3)) * 0.3, jnp.float32))
    betas = jnp.asarray(rng.normal(size=(2, 10)), jnp.float32)
    camera = jnp.asarray([[0.2, 0.1, -0.05], [0.3, 0.0, 0.2]], jnp.float32)
    joints = body.forward(model, rotmats, betas).spin49
    keypoints = jnp.concatenate(
        [camera[:, None, :1] * joints[..., :2] + camera[:, None, 1:], jnp.ones((2, 49, 1))], -1
    )
    batch = {
        "keypoints": keypoints,
        "joints3d_spin49": joints - 5.0,
        "rotmats": rotmats,
        "betas": betas,
    }
    batch = _with_every_target(batch, model)
    weights = jnp.asarray(keypoint_weights(config, model.spin49_available))
    out = RegressorOutput(rotmats, jnp.zeros((2, 144)), betas, camera, jnp.zeros((2, 8)))
    terms = spin_loss(out, batch, model, weights, config)
    for name in ("keypoints_2d", "keypoints_3d", "pose", "betas"):
        assert float(getattr(terms, name)) < 1e-10, name
    expected_camera = np.mean(np.exp(-10 * np.array([0.2, 0.3])) ** 2)
    np.testing.assert_allclose(float(terms.total), 60 * expected_camera, rtol=1e-5)

    off = RegressorOutput(rotmats, out.pose6d, betas + 1.0, camera, out.features)
    terms_off = spin_loss(off, batch, model, weights, config)
    np.testing.assert_allclose(float(terms_off.betas), 1.0, rtol=1e-6)
    # OpenPose keypoints carry weight 0 (SPIN's --openpose_train_weight): moving them changes nothing.
    moved = dict(batch, keypoints=batch["keypoints"].at[:, :25, :2].add(0.3))
    assert float(spin_loss(out, moved, model, weights, config).keypoints_2d) < 1e-10


def test_the_true_shape_stays_optimal_when_the_pose_is_wrong(model):
    """The betas defect of the first bundled regressor: with a wrong pose, SPIN's 3D joint term
    is smaller for a shorter body (shorter limbs err by less), so the keypoint terms pushed the
    predicted betas away from the truth (stature +2.5, betas error 1.0 -> 2.5 over training).
    With the default config, the loss's gradient at the true betas is that of the betas term
    alone: zero, whatever the pose error."""
    config = load_config(default_config_path("train_synthetic")).loss
    rng = np.random.default_rng(5)
    true_pose = rng.normal(size=(8, 24, 3)) * 0.2
    wrong_pose = true_pose + rng.normal(size=(8, 24, 3)) * 0.5  # a regressor's pose errors
    betas = jnp.asarray(rng.normal(size=(8, 10)), jnp.float32)
    true_rotmats = axis_angle_to_rotmat(jnp.asarray(true_pose, jnp.float32))
    joints = body.forward(model, true_rotmats, betas).spin49
    camera = jnp.tile(jnp.asarray([[0.9, 0.0, 0.0]], jnp.float32), (8, 1))
    keypoints = jnp.concatenate([0.9 * joints[..., :2], jnp.ones((8, 49, 1))], -1)
    batch = _with_every_target(
        {
            "keypoints": keypoints,
            "joints3d_spin49": joints,
            "rotmats": true_rotmats,
            "betas": betas,
        },
        model,
    )
    weights = jnp.asarray(keypoint_weights(config, model.spin49_available))
    wrong_rotmats = axis_angle_to_rotmat(jnp.asarray(wrong_pose, jnp.float32))

    def betas_gradient(loss_config):
        """Jitted (one compile, not op by op): the loss's gradient at the true betas."""

        def total(b):
            out = RegressorOutput(wrong_rotmats, jnp.zeros((8, 144)), b, camera, jnp.zeros((8, 8)))
            return spin_loss(out, batch, model, weights, loss_config).total

        return np.asarray(jax.jit(jax.grad(total))(betas))

    assert not config.keypoints_train_betas
    np.testing.assert_allclose(betas_gradient(config), 0.0, atol=1e-7)
    # SPIN's coupling (keypoints_train_betas=True) shows the defect: descending its gradient makes
    # the first shape component (stature) grow, i.e. the bodies shorter.
    spin_config = load_config(
        default_config_path("train_synthetic"), ["loss.keypoints_train_betas=True"]
    ).loss
    gradient = betas_gradient(spin_config)
    assert np.abs(gradient).max() > 1e-3
    assert np.mean(-gradient[:, 0]) > 0


def test_batches_are_a_function_of_seed_and_step_and_cover_each_epoch():
    source = SyntheticSource(SyntheticRecords(10, size=8), np.ones(49, np.float32))
    batches = TrainBatches(source, batch_size=3, seed=7)
    assert batches.steps_per_epoch == 3
    epoch = np.concatenate([batches.indices(s) for s in range(3)])
    assert len(set(epoch.tolist())) == 9  # 9 distinct samples, the 10th dropped this epoch
    assert not np.array_equal(batches.indices(0), batches.indices(3))  # a new order each epoch
    streamed = list(batches.iterate(2, 5))
    for step, batch in zip(range(2, 5), streamed):
        again = TrainBatches(source, batch_size=3, seed=7).batch(step)
        for key in batch:
            np.testing.assert_array_equal(batch[key], again[key])
    np.testing.assert_array_equal(streamed[0]["betas"][:, 0], batches.indices(2))
    with pytest.raises(ValueError, match="fewer than one batch"):
        TrainBatches(SyntheticRecords(2), batch_size=3, seed=0)


def test_warmup_must_fit_in_the_run():
    config = load_config(
        default_config_path("train_synthetic"), ["total_steps=10", "warmup_steps=10"]
    )
    with pytest.raises(ConfigError, match="warmup_steps"):
        learning_rate_schedule(config)


def _train(workdir, data_dir, *extra):
    args = [
        "train",
        "--workdir",
        str(workdir),
        "data.image_size=32",
        "data.num_train=16",
        "data.num_validation=4",
        f"data.data_dir='{data_dir}'",
        "model.width_divisor=16",
        "batch_size=4",
        "total_steps=4",
        "warmup_steps=1",
        "log_every=1",
        "eval_every=2",
        "checkpoint_every=2",
        *extra,
    ]
    assert main(args) == 0


def _loss_lines(log: list[dict]) -> list[dict]:
    return [
        {k: v for k, v in record.items() if k != "images_per_s"}
        for record in log
        if "total" in record
    ]


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    """A tfds data_dir shared by this file's training runs (the tiny synthetic set is rendered once)."""
    return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="module")
def fitted_crops(tmp_path_factory):
    """(crops .npz, EFT JSON written by `eft-jax fit` on them): six 32 px crops, one of them
    without any keypoint (the fit skips it, with its reason)."""
    folder = tmp_path_factory.mktemp("fitted")
    rng = np.random.default_rng(8)
    keypoints = np.zeros((6, 49, 3), np.float32)
    keypoints[:, 25:, :2] = rng.uniform(-0.6, 0.6, (6, 24, 2))
    keypoints[:5, 25:, 2] = 1.0
    crops = write_exemplars_npz(
        folder / "crops.npz", rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8), keypoints
    )
    regressor = nets.Regressor(nets.RegressorArch.reduced(18, 16))
    checkpoint = nets.save_regressor(
        folder / "tiny", regressor.init(jax.random.key(0), 32), regressor.config_record()
    )
    fits = folder / "fits.json"
    args = [
        "fit",
        "--crops",
        str(crops),
        "--out",
        str(fits),
        "--checkpoint",
        str(checkpoint),
        "--crop-size",
        "32",
        "--max-iters",
        "2",
        "--batch-size",
        "2",
        "--compilation-cache",
        "",
    ]
    assert main(args) == 0
    return crops, fits


@pytest.mark.slow  # two training runs with every source and the discriminator: half a minute
def test_a_mixture_with_eft_fits_resumes_exactly_and_writes_a_usable_regressor(
    tmp_path, fitted_crops, synthetic_dir
):
    """Synthetic humans + pseudo ground truth written by `eft-jax fit` + 2D-only crops, with the
    adversarial prior: stopped after step 2 and rerun, the run ends where the uninterrupted one does."""
    crops, fits = fitted_crops
    data_dir = synthetic_dir
    mixture = [
        "sources.fits.weight=1.0",
        f"sources.fits.file='{fits}'",
        f"sources.fits.crops='{crops}'",
        "sources.keypoints.weight=0.5",
        f"sources.keypoints.crops='{crops}'",
        "adversarial.weight=1.0",
    ]
    _train(tmp_path / "full", data_dir, *mixture)
    full = nets.restore_regressor(tmp_path / "full" / "regressor")
    assert full.record["image_size"] == 32
    log = [
        json.loads(line)
        for line in (tmp_path / "full" / "train_log.jsonl").read_text().splitlines()
    ]
    sources = {record["source"]: record for record in log[0]["sources"]}
    assert len(read_eft_json(fits)["skipped"]) == 1  # the fit skipped the crop without keypoints
    assert sources["fits"]["samples"] == 5
    assert (
        sources["keypoints"]["samples"] == 5 and sources["keypoints"]["skipped"] == 1
    )  # skipped here too
    assert sources["synthetic"]["samples"] == 16
    steps = [r for r in log if "total" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    assert all(r["discriminator_real"] > 0 and np.isfinite(r["adversarial"]) for r in steps)
    evaluations = [r for r in log if r.get("kind") == "evaluation"]
    assert [r["step"] for r in evaluations] == [2, 4] and evaluations[0]["samples"] == 4
    assert all(
        np.isfinite(evaluations[-1][key])
        for key in ("mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "mean_2d_px")
    )

    # Interrupted after step 2: only the step-2 checkpoint and the log up to step 3 survive (a copy
    # of the full run, which is what a second run of it writes).
    cut = tmp_path / "cut"
    shutil.copytree(tmp_path / "full", cut)
    for path in (cut / "checkpoints" / "4", cut / "regressor"):
        shutil.rmtree(path)
    lines = (cut / "train_log.jsonl").read_text().splitlines()
    (cut / "train_log.jsonl").write_text("\n".join(lines[:5]) + '\n{"step": 3, "tot')
    _train(cut, data_dir, *mixture)
    resumed = nets.restore_regressor(cut / "regressor")
    for a, b in zip(jax.tree.leaves(full.variables), jax.tree.leaves(resumed.variables)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    resumed_log = [json.loads(line) for line in (cut / "train_log.jsonl").read_text().splitlines()]
    # Steps 3 and 4 ran from the restored state, the discriminator's included: the same loss terms.
    assert _loss_lines(resumed_log) == _loss_lines(log)
    out = resumed.regressor.apply(resumed.variables, jnp.zeros((1, 32, 32, 3)))
    assert np.isfinite(np.asarray(out.rotmats)).all()


def test_fits_must_match_the_crops_they_were_made_on(tmp_path, fitted_crops, synthetic_dir, capsys):
    crops, fits = fitted_crops
    other = write_exemplars_npz(
        tmp_path / "other.npz",
        np.zeros((2, 32, 32, 3), np.uint8),
        np.ones((2, 49, 3), np.float32),
        ids=["x", "y"],
    )
    args = [
        "train",
        "--workdir",
        str(tmp_path / "run"),
        "data.image_size=32",
        "data.num_train=16",
        "data.num_validation=4",
        f"data.data_dir='{synthetic_dir}'",
        "sources.fits.weight=1.0",
        f"sources.fits.file='{fits}'",
        f"sources.fits.crops='{other}'",
    ]
    assert main(args) == 2
    assert "5 fitted exemplars are not among the crops" in capsys.readouterr().err


def test_a_diverging_run_stops_with_a_clear_error_before_checkpointing(
    tmp_path, synthetic_dir, capsys
):
    args = [
        "train",
        "--workdir",
        str(tmp_path / "run"),
        "data.image_size=32",
        "data.num_train=16",
        "data.num_validation=4",
        f"data.data_dir='{synthetic_dir}'",
        "model.width_divisor=16",
        "batch_size=4",
        "total_steps=4",
        "warmup_steps=1",
        "log_every=2",
        "eval_every=4",
        "checkpoint_every=1",
        "learning_rate=1e30",
    ]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "the training loss is not finite at step 3" in error and "grad_clip_norm" in error
    checkpoints = sorted(
        int(p.name) for p in (tmp_path / "run" / "checkpoints").iterdir() if p.name.isdigit()
    )
    assert checkpoints == [1, 2]  # step 3 diverged (warm-up starts at lr 0): never checkpointed


def _logged_config(log_name: str) -> dict:
    """The config a training run recorded in the header of its committed log."""
    from pathlib import Path

    log = Path(__file__).resolve().parents[1] / "experiments" / "bundled_regressor" / log_name
    return json.loads(log.read_text().splitlines()[0])["config"]


def test_default_config_is_the_bundled_regressors_first_stage():
    """`eft-jax train` with its defaults repeats the first stage of the bundled regressor (README), except the
    betas fix (`loss.keypoints_train_betas`, absent from that run's log: SPIN's coupling, True).
    Fields added since (mixtures, adversarial prior, init_from, gradient clipping, the synthetic style)
    default to that run's behaviour: basic synthetic humans alone, no discriminator, random
    initialisation, no clipping."""
    shipped = _logged_config("train_synthetic_log.jsonl")
    default = load_config(default_config_path("train_synthetic")).to_dict()
    assert default["loss"].pop("keypoints_train_betas") is False
    sources = default.pop("sources")
    assert {kind: source["weight"] for kind, source in sources.items()} == {
        "synthetic": 1.0,
        "fits": 0.0,
        "spin_npz": 0.0,
        "keypoints": 0.0,
    }
    assert default.pop("adversarial")["weight"] == 0.0
    assert default.pop("init_from") is None
    assert default.pop("grad_clip_norm") == 0.0
    assert default["data"].pop("style") == "basic"
    for config in (shipped, default):
        config.pop("workdir")
    assert default == shipped


def test_lifelike_config_is_the_bundled_regressors_second_stage():
    """configs/train_lifelike.py is the run that made the bundled regressor from the first stage's
    weights (README): every field as its log's header records it, but where it ran and the path
    of the stage-1 weights it started from."""
    shipped = _logged_config("train_lifelike_log.jsonl")
    default = load_config(default_config_path("train_lifelike")).to_dict()
    for config in (shipped, default):
        config.pop("workdir")
        config.pop("init_from")
    assert default == shipped
