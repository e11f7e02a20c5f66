"""SMPLify (SPIN's port): it recovers a known pose from clean keypoints better than where it
starts, batched equals one at a time, a bad exemplar is a skip that changes nothing else, the GMM
prior equals a direct evaluation, and `eft-jax smplify` writes EFT JSON that resumes."""

from __future__ import annotations

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from random_smpl_model import make_random_smpl, write_npz
from scipy.stats import multivariate_normal

from eft_jax import body, cli
from eft_jax.config import default_config_path, load_config
from eft_jax.datasets.mocap_poses import load_mocap_poses
from eft_jax.fitting.pose_prior import (
    BUNDLED_POSE_GMM_PATH,
    load_pose_prior,
    max_mixture_nll,
    mixture_nll,
    read_gmm_file,
)
from eft_jax.fitting.run import log_path_for
from eft_jax.fitting.smplify import Smplify, angle_prior, project
from eft_jax.formats.eft_json import read_eft_json
from eft_jax.formats.exemplar_npz import write_exemplars_npz
from eft_jax.formats.fit_log import read_fit_log
from eft_jax.geometry import perspective_to_weak, similarity_align, weak_to_perspective_translation
from eft_jax.nets import Regressor, RegressorArch, save_regressor

pytestmark = pytest.mark.fast_compiles

BATCH = 3


@pytest.fixture(scope="module")
def model():
    return body.load()


@pytest.fixture(scope="module")
def smplify(model):
    return Smplify(model, load_config(default_config_path("smplify"), [f"batch_size={BATCH}"]))


def synthetic_keypoints(model, poses, betas, translation):
    """Clean SPIN-49 keypoints (crop coordinates, confidence 1) of posed bodies seen by SPIN's camera."""
    joints = body.forward(model, poses, betas).spin49
    pixels = jax.vmap(lambda j, t: project(j, t, 5000.0, 224))(
        joints, jnp.asarray(translation, jnp.float32)
    )
    return np.concatenate(
        [np.asarray(pixels) / 112.0 - 1.0, np.ones(pixels.shape[:-1] + (1,))], -1
    ).astype(np.float32)


@pytest.fixture(scope="module")
def known(model):
    """Three training-clip poses, upright in the image (root pi about x), and their keypoints."""
    poses, _ = load_mocap_poses(["walk", "kick", "punch"])
    poses = poses[[0, len(poses) // 2, -1]].copy()
    poses[:, 0] = (np.pi, 0.0, 0.0)
    betas = np.random.default_rng(0).normal(scale=0.5, size=(BATCH, 10)).astype(np.float32)
    translation = np.array([[0.05, 0.2, 45.0], [-0.1, 0.15, 55.0], [0.0, 0.25, 50.0]], np.float32)
    return poses, betas, synthetic_keypoints(model, poses, betas, translation)


def pa_mpjpe(model, pose, betas, truth_pose, truth_betas):
    joints = body.forward(model, pose, betas).joints
    truth = body.forward(model, truth_pose, truth_betas).joints
    return np.asarray(jnp.linalg.norm(similarity_align(joints, truth) - truth, axis=-1).mean(-1))


def full_pose(params):
    return np.concatenate([params["global_orient"], params["body_pose"]], -1).reshape(-1, 24, 3)


def test_recovers_a_known_pose_better_than_its_start(model, smplify, known):
    poses, betas, keypoints = known
    init = smplify.init_from_mean(keypoints)
    outcome = smplify.fit(init, keypoints)
    before = pa_mpjpe(model, full_pose(init), init["betas"], poses, betas)
    after = pa_mpjpe(model, full_pose(outcome.params), outcome.params["betas"], poses, betas)
    # The 2D error falls to a few pixels, and the 3D joints (after similarity alignment) get closer.
    assert np.all(outcome.keypoint_error_px_after < 0.35 * outcome.keypoint_error_px_before), (
        outcome.keypoint_error_px_before,
        outcome.keypoint_error_px_after,
    )
    assert np.all(outcome.keypoint_error_px_after < 5.0)
    assert np.all(outcome.keypoint_loss_after < outcome.keypoint_loss_before)
    print("PA-MPJPE before", before, "after", after)
    assert np.all(after < 0.9 * before) and after.mean() < 0.75 * before.mean(), (before, after)
    # Results in EFT's conventions: rotation matrices, a weak-perspective camera that reprojects
    # the fitted joints onto the fitted keypoints up to perspective effects (< 1.5 px here).
    results = smplify.results(["a", "b", "c"], outcome)
    assert [r.stop_reason for r in results] == ["max_iters"] * 3
    for result in results:
        joints = body.forward(model, result.rotmats, result.betas).spin49
        weak = np.asarray(joints[:, :2] * result.camera[0] + result.camera[1:])
        assert np.abs(weak - result.keypoints_2d).max() * 112 < 1.5
        assert result.iterations == 200


def test_batched_equals_one_at_a_time(model, smplify, known):
    _, _, keypoints = known
    single = Smplify(
        model,
        load_config(
            default_config_path("smplify"), ["batch_size=1", "camera_iters=20", "body_iters=30"]
        ),
    )
    batched = Smplify(
        model,
        load_config(
            default_config_path("smplify"),
            [f"batch_size={BATCH}", "camera_iters=20", "body_iters=30"],
        ),
    )
    together = batched.fit(batched.init_from_mean(keypoints), keypoints)
    for i in range(BATCH):
        alone = single.fit(single.init_from_mean(keypoints[i : i + 1]), keypoints[i : i + 1])
        for name in together.params:
            np.testing.assert_allclose(
                alone.params[name][0], together.params[name][i], rtol=1e-4, atol=1e-4
            )
        np.testing.assert_allclose(
            alone.keypoint_error_px_after[0],
            together.keypoint_error_px_after[i],
            rtol=1e-4,
            atol=1e-4,
        )


def test_invalid_exemplar_is_a_skip_and_changes_nothing_else(smplify, known):
    _, _, keypoints = known
    bad = keypoints.copy()
    bad[1, :, :2] = np.nan  # missing joints marked NaN ...
    bad[1, :, 2] = 0.0  # ... with no confidence anywhere
    reference = smplify.fit(smplify.init_from_mean(keypoints), keypoints)
    mixed = smplify.fit(smplify.init_from_mean(bad), bad)
    for name in reference.params:
        for i in (0, 2):
            np.testing.assert_array_equal(reference.params[name][i], mixed.params[name][i])
        assert np.all(np.isfinite(mixed.params[name][1]))
    assert smplify.problem(bad[1]).startswith("no keypoint has confidence")
    only_ignored = np.zeros((49, 3), np.float32)
    only_ignored[body.SPIN49_NAMES.index("OP Neck"), 2] = 1.0
    assert "no keypoint has weight in SMPLify" in smplify.problem(only_ignored)
    assert smplify.problem(keypoints[0]) is None


def test_angle_prior_follows_spin_indices_and_signs():
    body_pose = np.zeros(69, np.float32)
    names = body.SMPL_JOINT_NAMES
    bent = {
        ("left_elbow", 1): 1.0,
        ("right_elbow", 1): -1.0,
        ("left_knee", 0): -1.0,
        ("right_knee", 0): -1.0,
    }
    for (joint, axis), sign in bent.items():
        body_pose[(names.index(joint) - 1) * 3 + axis] = 0.5 * sign
    np.testing.assert_allclose(
        angle_prior(jnp.asarray(body_pose)), np.exp(0.5) ** 2 * np.ones(4), rtol=1e-6
    )


def test_gmm_prior_equals_a_direct_numpy_evaluation(tmp_path):
    prior = load_pose_prior()
    arrays = read_gmm_file(BUNDLED_POSE_GMM_PATH)
    means, covars, weights = (arrays[k].astype(np.float64) for k in ("means", "covars", "weights"))
    rng = np.random.default_rng(1)
    poses = means[rng.integers(0, 8, 5)] + rng.normal(scale=0.2, size=(5, 69))
    log_pdf = np.stack([multivariate_normal(m, c).logpdf(poses) for m, c in zip(means, covars)], 1)
    log_det_min = min(np.linalg.slogdet(c)[1] for c in covars)
    expected_max = (
        np.min(-np.log(weights) - log_pdf, axis=1) - 0.5 * log_det_min
    )  # SMPLify-X's normalisation
    expected_nll = -np.log(np.sum(weights * np.exp(log_pdf), axis=1))
    np.testing.assert_allclose(
        max_mixture_nll(prior, jnp.asarray(poses, jnp.float32)), expected_max, rtol=2e-4
    )
    np.testing.assert_allclose(
        mixture_nll(prior, jnp.asarray(poses, jnp.float32)) - 0.5 * log_det_min,
        expected_nll - 0.5 * log_det_min,
        rtol=2e-4,
    )

    # SMPLify's gmm_08.pkl layout (a Python-2 era pickle of a dict of arrays) loads to the same prior.
    path = tmp_path / "gmm_08.pkl"
    with open(path, "wb") as handle:
        pickle.dump({"means": means, "covars": covars, "weights": weights}, handle, protocol=2)
    from_pickle = load_pose_prior(path)
    np.testing.assert_allclose(
        from_pickle.component_constants, prior.component_constants, rtol=1e-6
    )
    np.testing.assert_allclose(from_pickle.precisions, prior.precisions, rtol=1e-5, atol=1e-5)


def test_camera_conversions_are_inverse():
    camera = jnp.asarray([[0.9, 0.1, -0.2], [1.3, -0.05, 0.0]])
    translation = weak_to_perspective_translation(camera)
    np.testing.assert_allclose(perspective_to_weak(translation), camera, rtol=1e-6)
    np.testing.assert_allclose(translation[:, 2], 2 * 5000 / (224 * camera[:, 0]), rtol=1e-6)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    regressor = Regressor(RegressorArch.reduced(18, 16))
    variables = regressor.init(jax.random.key(0), 32)
    return str(
        save_regressor(
            tmp_path_factory.mktemp("ckpt") / "tiny", variables, regressor.config_record()
        )
    )


def test_smplify_job_writes_eft_json_and_resumes(tmp_path, known, tiny_checkpoint):
    _, _, keypoints = known
    keypoints = np.concatenate([keypoints, keypoints[:1]])
    keypoints[3, :, 2] = 0.0  # a person with no keypoints: a recorded skip
    images = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    crops = write_exemplars_npz(tmp_path / "crops.npz", images, keypoints)
    out = tmp_path / "fits.json"
    argv = [
        "smplify",
        "--crops",
        str(crops),
        "--out",
        str(out),
        "--checkpoint",
        tiny_checkpoint,
        "--batch-size",
        str(BATCH),
        "--crop-size",
        "32",
        "camera_iters=5",
        "body_iters=5",
    ]
    assert cli.main(argv) == 0
    document = read_eft_json(out)
    assert len(document["data"]) == 3 and len(document["skipped"]) == 1
    assert "no keypoint" in document["skipped"][0]["skip_reason"]
    entry = document["data"][0]
    assert entry["smpltype"] == "eftjax_open" and entry["iterations"] == 10
    assert np.asarray(entry["parm_pose"]).shape == (24, 3, 3) and entry["parm_cam"][0] > 0
    assert entry["keypoint_error_px_after"] < entry["keypoint_error_px_before"]
    assert document["meta"]["method"] == "smplify"
    # Scored by the calibration's SMPLify model, its iterations out of camera_iters + body_iters.
    assert entry["quality_iterations_fraction"] == 1.0 and entry["quality_converged"] == 0.0
    assert 0.0 < entry["quality_score"] < 1.0

    # A rerun fits nothing again; a run cut after two results fits only the rest.
    lines = log_path_for(out).read_text().splitlines(keepends=True)
    assert cli.main(argv) == 0
    assert log_path_for(out).read_text().splitlines(keepends=True) == lines
    resumed = tmp_path / "resumed.json"
    log_path_for(resumed).write_text("".join(lines[:3]))
    assert cli.main(argv[:4] + [str(resumed)] + argv[5:]) == 0
    assert len(read_fit_log(log_path_for(resumed))) == 4
    np.testing.assert_allclose(
        read_eft_json(resumed)["data"][2]["parm_pose"], document["data"][2]["parm_pose"], atol=1e-5
    )


def test_runs_on_an_smpl_file_without_the_extra_regressor(tmp_path, known):
    """An SMPL-format model (pose correctives, no extra regressor: LSP hips and 7 more slots
    missing, so stage 1 falls back to what the model has): the 2D error still falls."""
    path = tmp_path / "smpl.npz"
    write_npz(make_random_smpl(seed=5), path)
    smpl = body.load(str(path))
    smplify = Smplify(
        smpl,
        load_config(
            default_config_path("smplify"),
            [f"batch_size={BATCH}", "camera_iters=30", "body_iters=60"],
        ),
    )
    poses, betas, _ = known
    keypoints = synthetic_keypoints(smpl, poses, betas, [[0.0, 0.2, 50.0]] * BATCH)
    keypoints[:, ~np.asarray(smpl.spin49_available), :] = 0.0
    outcome = smplify.fit(smplify.init_from_mean(keypoints), keypoints)
    assert np.all(outcome.keypoint_error_px_after < 0.5 * outcome.keypoint_error_px_before), (
        outcome.keypoint_error_px_before,
        outcome.keypoint_error_px_after,
    )
    assert all(not r.skipped for r in smplify.results(["a", "b", "c"], outcome))
