"""Recipe resolution: EFT's constants <- the checkpoint's tuned overrides <- the command line, and
`recipe=paper` restoring EFT's constants exactly."""

from __future__ import annotations

import pytest

from eft_jax import nets
from eft_jax.config import ConfigError, default_config_path, load_config
from eft_jax.fitting.recipe import RECIPE_KEY, describe_recipe, resolve_config

pytestmark = pytest.mark.fast_compiles

EFT = default_config_path("eft_default")
TUNED = {RECIPE_KEY: {"optimizer.learning_rate": 5e-5, "max_iters": 50, "trainable": "layer4+head"}}


def without_recipe_field(config):
    fields = config.to_dict()
    fields.pop("recipe")
    return fields


def test_checkpoint_recipe_sits_between_paper_constants_and_user_overrides():
    config = resolve_config(EFT, ["max_iters=7"], TUNED)
    assert config.optimizer.learning_rate == 5e-5 and isinstance(
        config.optimizer.learning_rate, float
    )
    assert config.trainable == "layer4+head"
    assert config.max_iters == 7  # the user's override beats the checkpoint's 50
    assert config.stop_threshold == load_config(EFT).stop_threshold  # untouched fields: EFT's
    assert "layer4+head" in describe_recipe(config, TUNED)


def test_recipe_paper_restores_eft_constants_exactly():
    paper = load_config(EFT)
    config = resolve_config(EFT, ["recipe=paper"], TUNED)
    assert config.recipe == "paper"
    assert without_recipe_field(config) == without_recipe_field(paper)
    assert describe_recipe(config, TUNED).startswith("EFT's paper recipe")
    # other user overrides still apply on top of the paper's constants
    assert resolve_config(EFT, ["recipe=paper", "max_iters=9"], TUNED).max_iters == 9


def test_checkpoints_without_a_recipe_run_the_papers():
    # what `eft-jax convert-spin` writes: architecture and mean parameters, no eft_recipe
    converted = {"format": "eft-jax-regressor", "arch": {}, "source": {"format": "spin"}}
    assert resolve_config(EFT, [], converted).to_dict() == load_config(EFT).to_dict()
    assert resolve_config(EFT, [], None).to_dict() == load_config(EFT).to_dict()


def test_demo_config_resolves_its_eft_field():
    demo = default_config_path("demo")
    config = resolve_config(demo, ["eft.optimizer.learning_rate=1e-4"], TUNED, prefix="eft.")
    assert config.eft.max_iters == 50 and config.eft.optimizer.learning_rate == 1e-4
    assert config.eft.batch_size == load_config(demo).eft.batch_size  # the demo's own setting stays
    paper = resolve_config(demo, ["eft.recipe=paper"], TUNED, prefix="eft.")
    assert paper.eft.max_iters == load_config(demo).eft.max_iters


def test_bad_recipes_are_errors():
    with pytest.raises(ConfigError, match="no field"):
        resolve_config(EFT, [], {RECIPE_KEY: {"optimizer.learning_rat": 1e-5}})
    with pytest.raises(ConfigError, match="recipe must be one of"):
        resolve_config(EFT, ["recipe=mine"], TUNED)


def test_bundled_regressor_carries_a_tuned_recipe():
    record = nets.read_config_record(nets.BUNDLED_REGRESSOR_DIR)
    config = resolve_config(EFT, [], record)
    assert record[RECIPE_KEY] and config.to_dict() != load_config(EFT).to_dict()
    assert without_recipe_field(
        resolve_config(EFT, ["recipe=paper"], record)
    ) == without_recipe_field(load_config(EFT))


def test_a_recipe_written_into_a_checkpoint_is_resolved_and_leaves_the_weights_alone(tmp_path):
    import jax
    import numpy as np

    regressor = nets.Regressor(nets.RegressorArch.reduced(18, 16))
    variables = regressor.init(jax.random.key(0), 32)
    path = nets.save_regressor(tmp_path / "ckpt", variables, regressor.config_record())
    assert (
        resolve_config(EFT, [], nets.read_config_record(path)).to_dict()
        == load_config(EFT).to_dict()
    )
    nets.update_config_record(path, {RECIPE_KEY: {"max_iters": 30}})
    restored = nets.restore_regressor(path)
    assert resolve_config(EFT, [], restored.record).max_iters == 30
    same = jax.tree.map(
        lambda a, b: bool(np.array_equal(a, b)), restored.variables, dict(variables)
    )
    assert all(jax.tree.leaves(same))
    with pytest.raises(nets.RegressorCheckpointError, match="may not change"):
        nets.update_config_record(path, {"arch": {}})
