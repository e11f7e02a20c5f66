"""Training steps with the batch split over two (forced host) devices and the state replicated
give the one-device steps' results, the adversarial prior's discriminator included.

XLA_FLAGS must be set before jax initialises, so the check runs in a fresh interpreter."""

from __future__ import annotations

import textwrap

import pytest
from forced_devices import run_on_two_host_devices

SCRIPT = textwrap.dedent(
    """
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)  # float64 where it can be (the body model and the discriminator stay float32): sums run in another order
    from tiny_eft import IMAGE_SIZE, tiny_regressor
    from eft_jax.config import default_config_path, load_config
    from eft_jax.train.adversarial import MocapPrior
    from eft_jax.train.trainer import Trainer, data_mesh

    assert len(jax.local_devices()) == 2, jax.local_devices()
    regressor, variables, model = tiny_regressor()
    config = load_config(default_config_path("train_synthetic"), [
        "batch_size=4", "total_steps=10", "warmup_steps=1", "adversarial.weight=1.0"])
    rng = np.random.default_rng(0)
    prior = MocapPrior(0)

    def batch(step):
        b = {
            "images": rng.normal(size=(4, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32),
            "keypoints": np.concatenate([rng.uniform(-0.5, 0.5, (4, 49, 2)), np.ones((4, 49, 1))], -1).astype(np.float32),
            "joints3d_spin49": rng.normal(size=(4, 49, 3)).astype(np.float32) * 0.3,
            "joints3d_confidence": np.ones((4, 49), np.float32),
            "rotmats": np.broadcast_to(np.eye(3, dtype=np.float32), (4, 24, 3, 3)).copy(),
            "betas": rng.normal(size=(4, 10)).astype(np.float32),
            "has_smpl": np.array([1, 0, 1, 1], np.float32),
            "has_pose_3d": np.array([1, 1, 0, 1], np.float32),
        }
        b.update(prior.sample(step, 4))
        return {key: value.astype(np.float64) for key, value in b.items()}

    batches = [batch(step) for step in range(2)]
    results = {}
    for name, devices in (("one", jax.local_devices()[:1]), ("two", None)):
        trainer = Trainer(regressor, model, config, mesh=data_mesh(devices))
        state = trainer.init_state(jax.tree.map(lambda x: np.array(x, np.float64), variables), jax.random.key(1))
        for step, b in enumerate(batches):
            sharded = trainer.shard(b)
            if name == "two":
                assert sharded["images"].addressable_shards[0].data.shape[0] == 2  # 2 samples per device
            state, terms = trainer.step(state, sharded, jax.random.key(step))
        if name == "two":
            leaf = jax.tree.leaves(state.params)[0]
            assert len(leaf.sharding.device_set) == 2 and leaf.sharding.is_fully_replicated
        results[name] = (jax.device_get(state), jax.device_get(terms))

    (one, one_terms), (two, two_terms) = results["one"], results["two"]
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(two)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    for a, b in zip(jax.tree.leaves(one_terms), jax.tree.leaves(two_terms)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(jax.tree.leaves(one.discriminator), jax.tree.leaves(
        jax.device_get(Trainer(regressor, model, config).init_state(variables, jax.random.key(1)).discriminator))))
    assert moved > 0  # the discriminator was trained too
    print("TRAIN-SHARDED-OK")
    """
)


@pytest.mark.slow  # a fresh interpreter compiles two trainers (one and two devices): over a minute
def test_train_steps_split_over_two_devices_match_one_device():
    run_on_two_host_devices(SCRIPT, "TRAIN-SHARDED-OK")
