"""Training on mixtures: SPIN's has_smpl / has_pose_3d masking, a mixture's sampling, pure
synthetic training unchanged, the sources' targets, and HMR's adversarial prior."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fake_training import SyntheticRecords

from eft_jax import body
from eft_jax.config import default_config_path, load_config
from eft_jax.eval.metrics import hip_centred
from eft_jax.geometry.rotations import axis_angle_to_rotmat
from eft_jax.nets.hmr import RegressorOutput
from eft_jax.train.adversarial import (
    MocapPrior,
    PoseShapeDiscriminator,
    discriminator_losses,
    regressor_adversarial_loss,
)
from eft_jax.train.batches import MixtureBatches, TrainBatches
from eft_jax.train.losses import keypoint_weights, spin_loss
from eft_jax.train.sources import ArraySource, SyntheticSource, TrainingDataError, spin_npz_targets

pytestmark = pytest.mark.fast_compiles


@pytest.fixture(scope="module")
def loss_config():
    return load_config(default_config_path("train_synthetic")).loss


def _bodies(model, count, seed):
    rng = np.random.default_rng(seed)
    rotmats = axis_angle_to_rotmat(jnp.asarray(rng.normal(size=(count, 24, 3)) * 0.3, jnp.float32))
    betas = jnp.asarray(rng.normal(size=(count, 10)), jnp.float32)
    return rotmats, betas


def _batch(model, rotmats, betas, has_smpl, has_pose_3d):
    count = rotmats.shape[0]
    joints = body.forward(model, rotmats, betas).spin49
    keypoints = jnp.concatenate([0.5 * joints[..., :2], jnp.ones((count, 49, 1))], -1)
    return {
        "keypoints": keypoints,
        "joints3d_spin49": joints,
        "joints3d_confidence": jnp.broadcast_to(
            jnp.asarray(model.spin49_available, jnp.float32), (count, 49)
        ),
        "rotmats": rotmats,
        "betas": betas,
        "has_smpl": jnp.asarray(has_smpl, jnp.float32),
        "has_pose_3d": jnp.asarray(has_pose_3d, jnp.float32),
    }


def _output(rotmats, betas):
    count = rotmats.shape[0]
    camera = jnp.tile(jnp.asarray([[0.5, 0.0, 0.0]], jnp.float32), (count, 1))
    return RegressorOutput(rotmats, jnp.zeros((count, 144)), betas, camera, jnp.zeros((count, 8)))


def test_a_sample_without_smpl_or_3d_contributes_nothing_to_those_terms(open_body, loss_config):
    model = open_body
    weights = jnp.asarray(keypoint_weights(loss_config, model.spin49_available))
    true_rotmats, true_betas = _bodies(model, 2, 0)
    pred_rotmats, pred_betas = _bodies(model, 2, 1)
    # Sample 1's targets are far off, but it has neither SMPL nor 3D joints.
    wild_rotmats = true_rotmats.at[1].set(-true_rotmats[1])
    batch = _batch(model, wild_rotmats, true_betas.at[1].add(50.0), [1, 0], [1, 0])
    batch["joints3d_spin49"] = batch["joints3d_spin49"].at[1].add(jnp.linspace(0, 3, 49)[:, None])
    # jitted, the body model and weights as arguments: one compile per batch size, not op by op
    loss = jax.jit(
        lambda out, batch, model, weights: spin_loss(out, batch, model, weights, loss_config)
    )
    terms = loss(_output(pred_rotmats, pred_betas), batch, model, weights)

    alone = loss(
        _output(pred_rotmats[:1], pred_betas[:1]),
        jax.tree.map(lambda x: x[:1], batch),
        model,
        weights,
    )
    for name in ("pose", "betas", "keypoints_3d"):
        np.testing.assert_allclose(
            float(getattr(terms, name)), float(getattr(alone, name)), rtol=1e-6, err_msg=name
        )
        assert float(getattr(terms, name)) > 1e-4, name  # sample 0 does contribute
    # The 2D term has no flag: both samples count.
    assert float(terms.keypoints_2d) != pytest.approx(float(alone.keypoints_2d), rel=1e-3)

    def pose_and_betas(rotmats, betas, model, weights):
        terms = spin_loss(_output(rotmats, betas), batch, model, weights, loss_config)
        return terms.pose + terms.betas

    grad_rotmats, grad_betas = jax.jit(jax.grad(pose_and_betas, argnums=(0, 1)))(
        pred_rotmats, pred_betas, model, weights
    )
    assert np.all(np.asarray(grad_rotmats[1]) == 0) and np.all(np.asarray(grad_betas[1]) == 0)
    assert np.abs(np.asarray(grad_rotmats[0])).max() > 0

    nothing = dict(batch, has_smpl=jnp.zeros(2), has_pose_3d=jnp.zeros(2))
    none = loss(_output(pred_rotmats, pred_betas), nothing, model, weights)
    assert float(none.pose) == float(none.betas) == float(none.keypoints_3d) == 0.0


def test_with_every_target_the_masked_loss_is_the_plain_mean(open_body, loss_config):
    """On synthetic batches (every flag 1) the loss is the one the bundled regressor was trained
    with: plain means over the batch."""
    model = open_body
    weights = jnp.asarray(keypoint_weights(loss_config, model.spin49_available))
    true_rotmats, true_betas = _bodies(model, 3, 2)
    pred_rotmats, pred_betas = _bodies(model, 3, 3)
    batch = _batch(model, true_rotmats, true_betas, [1, 1, 1], [1, 1, 1])
    terms = spin_loss(_output(pred_rotmats, pred_betas), batch, model, weights, loss_config)
    joints = body.forward(model, pred_rotmats, pred_betas).spin49
    available = jnp.asarray(model.spin49_available, jnp.float32)[25:]
    error = (hip_centred(joints) - hip_centred(batch["joints3d_spin49"]))[:, 25:]
    np.testing.assert_allclose(
        float(terms.keypoints_3d), float(jnp.mean(available[:, None] * error**2)), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(terms.pose), float(jnp.mean((pred_rotmats - true_rotmats) ** 2)), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(terms.betas), float(jnp.mean((pred_betas - true_betas) ** 2)), rtol=1e-6
    )


def test_pure_synthetic_batches_are_todays():
    """One synthetic source gives the batches the bundled regressor was trained on: epoch
    permutations from (seed, epoch), every target flagged present."""
    available = np.zeros(49, np.float32)
    available[25:] = 1
    source = SyntheticSource(SyntheticRecords(10), available)
    batches = TrainBatches(source, batch_size=3, seed=5)
    for step in range(5):
        epoch, position = divmod(step, 3)
        expected = np.random.default_rng([5, epoch]).permutation(10)[
            3 * position : 3 * position + 3
        ]
        batch = batches.batch(step)
        np.testing.assert_array_equal(batch["betas"][:, 0], expected)
        np.testing.assert_array_equal(
            batch["keypoints"], np.stack([source.records[i]["keypoints"] for i in expected])
        )
        assert np.all(batch["has_smpl"] == 1) and np.all(batch["has_pose_3d"] == 1)
        np.testing.assert_array_equal(
            batch["joints3d_confidence"], np.broadcast_to(available, (3, 49))
        )


def _array_source(count, first):
    images = np.zeros((count, 4, 4, 3), np.uint8)
    keypoints = np.zeros((count, 49, 3), np.float32)
    betas = np.arange(first, first + count, dtype=np.float32)[:, None] * np.ones(10, np.float32)
    rotmats = np.broadcast_to(np.eye(3, dtype=np.float32), (count, 24, 3, 3))
    return ArraySource(images, keypoints, rotmats=rotmats, betas=betas, description="test")


def test_a_mixture_samples_its_sources_in_proportion_and_by_step():
    sources = [_array_source(5, 0), _array_source(50, 100), _array_source(7, 1000)]
    weights = [1.0, 2.0, 1.0]
    batches = MixtureBatches(sources, weights, batch_size=16, seed=3, color_noise=0.0)
    steps = 300
    which = np.concatenate([batches.choices(step)[0] for step in range(steps)])
    draws = len(which)
    for s, p in enumerate(np.asarray(weights) / sum(weights)):
        observed = np.mean(which == s)
        assert abs(observed - p) < 4 * np.sqrt(p * (1 - p) / draws), (s, observed, p)
    # Each slot's sample comes from the source the draw named, and every sample of a small source is used.
    batch = batches.batch(7)
    chosen, index = batches.choices(7)
    offsets = np.array([0, 100, 1000])
    np.testing.assert_array_equal(batch["betas"][:, 0], offsets[chosen] + index)
    small = {int(b) for step in range(steps) for b in batches.batch(step)["betas"][:, 0] if b < 100}
    assert small == set(range(5))
    # A pure function of (seed, step): a new object gives the same batch; another seed does not.
    again = MixtureBatches(sources, weights, batch_size=16, seed=3, color_noise=0.0).batch(7)
    for key in batch:
        np.testing.assert_array_equal(batch[key], again[key])
    other = MixtureBatches(sources, weights, batch_size=16, seed=4, color_noise=0.0).batch(7)
    assert not np.array_equal(other["betas"], batch["betas"])
    with pytest.raises(ValueError, match="positive"):
        MixtureBatches(sources, [1.0, 0.0, 1.0], batch_size=4, seed=0)


def test_array_sources_flag_what_they_lack_and_refuse_non_finite_targets():
    images = np.zeros((2, 4, 4, 3), np.uint8)
    keypoints = np.zeros((2, 49, 3), np.float32)
    only_2d = ArraySource(images, keypoints, description="2D")
    assert only_2d[1]["has_smpl"] == 0 and only_2d[1]["has_pose_3d"] == 0
    bad = np.broadcast_to(np.eye(3, dtype=np.float32), (2, 24, 3, 3)).copy()
    bad[1, 3, 0, 0] = np.nan
    with pytest.raises(TrainingDataError, match=r"rotmats of rows \[1\]"):
        ArraySource(images, keypoints, rotmats=bad, betas=np.zeros((2, 10)), description="fits")
    # A row without SMPL may hold anything: it is never a target.
    fine = ArraySource(
        images, keypoints, rotmats=bad, betas=np.zeros((2, 10)), has_smpl=[1, 0], description="fits"
    )
    assert np.all(np.isfinite(fine[1]["rotmats"]))


def test_spin_npz_targets_read_s_and_keep_smpl_only_for_its_body_model():
    count = 3
    joints = np.zeros((count, 24, 4), np.float32)
    joints[:, :, :3] = np.arange(72, dtype=np.float32).reshape(24, 3) / 100
    joints[:, :14, 3] = 1.0  # the LSP joints known
    joints[2, :, 3] = 0.0  # a row without 3D
    arrays = {
        "imgname": np.array(["a.jpg", "b.jpg", "c.jpg"]),
        "S": joints,
        "pose": np.zeros((count, 72)),
        "shape": np.ones((count, 10)),
        "has_smpl": np.array([1.0, 0.0, 1.0]),
    }
    targets = spin_npz_targets(arrays, "smpl", "h36m.npz")
    np.testing.assert_array_equal(targets["has_pose_3d"], [1, 1, 0])
    np.testing.assert_allclose(targets["joints3d"][0, 25:39], joints[0, :14, :3])
    np.testing.assert_array_equal(targets["joints3d_confidence"][0, 25:], joints[0, :, 3])
    assert np.all(targets["joints3d_confidence"][:, :25] == 0)
    np.testing.assert_array_equal(targets["has_smpl"], [1, 0, 1])
    np.testing.assert_allclose(
        targets["rotmats"][0], np.broadcast_to(np.eye(3), (24, 3, 3)), atol=1e-7
    )
    # SPIN's files hold SMPL parameters: not targets for the bundled open body.
    assert np.all(spin_npz_targets(arrays, "open", "h36m.npz")["has_smpl"] == 0)
    # eft-jax's own npz names the body of each row.
    arrays["smpltype"] = np.array(["eftjax_open"] * count)
    np.testing.assert_array_equal(
        spin_npz_targets(arrays, "open", "fits.npz")["has_smpl"], [1, 0, 1]
    )


def test_discriminator_losses_at_known_scores():
    ones, zeros = jnp.ones((4, 25)), jnp.zeros((4, 25))
    real, fake = discriminator_losses(ones, zeros)
    assert float(real) == 0.0 and float(fake) == 0.0  # a perfect discriminator
    real, fake = discriminator_losses(zeros, ones)
    assert float(real) == 25.0 and float(fake) == 25.0  # each output off by 1, summed over 25
    assert float(regressor_adversarial_loss(ones)) == 0.0
    scores = jnp.full((2, 25), 0.5).at[1].set(3.0)
    np.testing.assert_allclose(
        float(regressor_adversarial_loss(scores)), (25 * 0.25 + 25 * 4.0) / 2
    )
    real, fake = discriminator_losses(scores, scores)
    np.testing.assert_allclose(float(real), (25 * 0.25 + 25 * 4.0) / 2)
    np.testing.assert_allclose(float(fake), (25 * 0.25 + 25 * 9.0) / 2)


def test_the_discriminator_shares_one_embedding_over_joints():
    discriminator = PoseShapeDiscriminator()
    prior = MocapPrior(seed=0)
    real = prior.sample(step=0, count=3)
    params = discriminator.init(jax.random.key(0), real["prior_rotmats"], real["prior_betas"])[
        "params"
    ]
    assert params["common_1"]["kernel"].shape == (9, 32)  # one embedding for the 23 joints
    assert params["per_joint_kernel"].shape == (23, 32, 1)
    scores = discriminator.apply({"params": params}, real["prior_rotmats"], real["prior_betas"])
    assert scores.shape == (3, 25)
    # Joint j's output sees joint j only; the shape output sees the betas only.
    moved = real["prior_rotmats"].copy()
    moved[:, 5] = np.eye(3)
    changed = discriminator.apply({"params": params}, moved, real["prior_betas"])
    differs = np.any(np.asarray(changed) != np.asarray(scores), axis=0)
    assert (
        differs[5] and differs[23] and not differs[24] and not np.delete(differs, [5, 23, 24]).any()
    )


def test_the_mocap_prior_is_a_function_of_the_step_and_gives_rotations():
    prior = MocapPrior(seed=1)
    a, b = prior.sample(4, 8), MocapPrior(seed=1).sample(4, 8)
    np.testing.assert_array_equal(a["prior_rotmats"], b["prior_rotmats"])
    assert not np.array_equal(a["prior_rotmats"], prior.sample(5, 8)["prior_rotmats"])
    rotmats = a["prior_rotmats"]
    assert rotmats.shape == (8, 23, 3, 3)
    np.testing.assert_allclose(
        rotmats @ np.swapaxes(rotmats, -1, -2), np.broadcast_to(np.eye(3), rotmats.shape), atol=1e-5
    )
    np.testing.assert_allclose(np.linalg.det(rotmats), 1.0, atol=1e-5)
    assert np.abs(a["prior_betas"]).max() <= 2.5
