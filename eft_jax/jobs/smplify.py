"""`eft-jax smplify`: SMPLify (SPIN's port) over a set of exemplars, written as EFT-format JSON.

Same inputs, logs, resume, process sharing and outputs as `eft-jax fit` (`fitting.run`, run with
a SMPLify `FitMethod`); the config is `configs/smplify.py`. With `init=regressor` (default, SPIN's
way) each batch starts from the regressor's prediction on its crops (`--checkpoint`, default the
bundled regressor); with `init=mean` from the mean pose, and no regressor is loaded.
"""

from __future__ import annotations

from pathlib import Path

import jax
import ml_collections

from eft_jax.config import ConfigError
from eft_jax.fitting.inputs import FitInputs
from eft_jax.fitting.run import FitMethod, RunOutcome, run_fitting
from eft_jax.fitting.smplify import Smplify, smplify_stream
from eft_jax.nets import predictor

INITS = ("regressor", "mean")


def smplify_method(config: ml_collections.ConfigDict) -> FitMethod:
    if config.init not in INITS:
        raise ConfigError(f"init must be one of {INITS}; got {config.init!r}")

    def build(model, regressor, variables, crop_size):
        smplify = Smplify(model, config)
        predict = None
        if regressor is not None:
            apply = predictor(regressor, variables)

            def predict(images):
                out = apply(images)
                return out.rotmats, out.betas, out.camera

        settings = smplify.settings
        description = (
            f"init {config.init}, {settings.camera_iters} + {settings.body_iters} iterations, "
            f"pose prior {smplify.prior.source}, on {jax.default_backend()}"
        )
        return (
            (
                lambda exemplars: smplify_stream(
                    exemplars, smplify, predict=predict, crop_size=crop_size
                )
            ),
            description,
            smplify.batch_size,
        )

    return FitMethod(
        "smplify",
        build,
        needs_regressor=config.init == "regressor",
        header={"method": "smplify", "pose_prior": str(config.pose_prior or "bundled")},
        quality_method="smplify",
        max_iters=int(config.camera_iters) + int(config.body_iters),
    )


def run_smplify(
    inputs: FitInputs, out_json: Path, config: ml_collections.ConfigDict, **options
) -> RunOutcome:
    """SMPLify `inputs` and write `out_json`; `options` are `fitting.run.run_fitting`'s (checkpoint, body_model_path,
    crop_size, spin_npz, process_index, process_count, compilation_cache_dir, fresh)."""
    return run_fitting(inputs, out_json, config, method=smplify_method(config), **options)
