"""Which EFT recipe a fit runs: EFT's constants, a regressor's own tuned overrides, the user's.

EFT's constants (configs/eft_default.py) were tuned for SPIN's ResNet-50. A regressor checkpoint
may carry its own overrides in its metadata, under `eft_recipe`: a flat mapping of dotted config
fields to values, chosen on validation data (experiments/ablate/ablate.py --split validation), e.g.

    "eft_recipe": {"optimizer.learning_rate": 5e-05, "max_iters": 50}

A config is resolved in three layers, later ones winning:

    1. EFT's constants (the job's config file)
    2. the checkpoint's `eft_recipe`, unless the config field `recipe` is "paper"
    3. the user's command-line overrides

`recipe=paper` (a user override like any other) skips layer 2, so the fit runs EFT's constants
exactly, plus whatever else the user set. Checkpoints converted from SPIN / EFT (`eft-jax
convert-spin`) carry no `eft_recipe`, so they always run the paper's recipe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import ml_collections

from eft_jax.config import ConfigError, apply_override, load_config

RECIPE_KEY = "eft_recipe"  # in a regressor checkpoint's metadata record
RECIPES = ("checkpoint", "paper")


def checkpoint_recipe(record: Mapping) -> dict:
    """The EFT recipe overrides a checkpoint's record carries ({} when none)."""
    recipe = record.get(RECIPE_KEY) or {}
    if not isinstance(recipe, Mapping):
        raise ConfigError(
            f"checkpoint metadata {RECIPE_KEY!r} must map config fields to values, got {recipe!r}"
        )
    if "recipe" in recipe:
        raise ConfigError(f"checkpoint metadata {RECIPE_KEY!r} may not set 'recipe' itself")
    return dict(recipe)


def _requested_recipe(
    config: ml_collections.ConfigDict, overrides: Sequence[str], prefix: str
) -> str:
    """The `recipe` field after the user's overrides (read on a copy; nothing else applied)."""
    probe = ml_collections.ConfigDict(config.to_dict())
    for override in overrides:
        if override.split("=", 1)[0].strip() == f"{prefix}recipe":
            apply_override(probe, override)
    node = probe[prefix[:-1]] if prefix else probe
    recipe = node.get("recipe", "checkpoint")
    if recipe not in RECIPES:
        raise ConfigError(f"recipe must be one of {', '.join(RECIPES)}; got {recipe!r}")
    return recipe


def resolve_config(
    config_path: str | Path,
    overrides: Sequence[str] = (),
    record: Mapping | None = None,
    *,
    prefix: str = "",
) -> ml_collections.ConfigDict:
    """Load `config_path` (EFT's constants), apply the checkpoint `record`'s recipe overrides
    (unless `recipe=paper`), then the user's `overrides`.

    `prefix` is where the EFT config sits in the job's config: "" for `eft-jax fit`
    (configs/eft_default.py), "eft." for `eft-jax demo` (configs/demo.py's `eft` field); the
    checkpoint's fields are relative to it, the user's overrides to the whole config.
    """
    config = load_config(config_path)
    overrides = list(overrides)
    recipe = checkpoint_recipe(record or {})
    if recipe and _requested_recipe(config, overrides, prefix) == "checkpoint":
        for field, value in recipe.items():
            try:
                apply_override(config, f"{prefix}{field}={value!r}")
            except ConfigError as error:
                raise ConfigError(f"checkpoint {RECIPE_KEY}: {error}") from None
    for override in overrides:
        apply_override(config, override)
    return config


def describe_recipe(config: ml_collections.ConfigDict, record: Mapping | None) -> str:
    """One line naming the recipe a resolved EFT config runs (for logs and reports), with the
    values it runs: a recipe field the user overrode shows the override."""
    recipe = checkpoint_recipe(record or {})
    if config.get("recipe", "checkpoint") == "paper" or not recipe:
        return "EFT's paper recipe" + (" (recipe=paper)" if recipe else "")
    fields = []
    for field, value in recipe.items():
        node = config
        for name in field.split("."):
            node = node[name]
        overridden = f" (overridden; the recipe's {value})" if node != value else ""
        fields.append(f"{field}={node}{overridden}")
    return f"the regressor's tuned recipe ({', '.join(fields)})"
