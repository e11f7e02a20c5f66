"""`eft-jax smplify`: SMPLify (SPIN's port) over a set of exemplars, written as EFT-format JSON.

Same inputs, log, resume and output as `eft-jax fit` (`jobs/fitting_io.py`); the config is
`configs/smplify.py`. With `init=regressor` (default, SPIN's way) each batch starts from the
regressor's prediction on its crops (`--checkpoint`, default the bundled regressor); with
`init=mean` from the mean pose, and the regressor is not loaded.
"""

from __future__ import annotations

from pathlib import Path

import jax
import ml_collections

from eft_jax import body
from eft_jax.config import ConfigError
from eft_jax.fitting.smplify import Smplify, smplify_stream
from eft_jax.jobs.fitting_io import FitInputs, fit_and_write, load_regressor

INITS = ("regressor", "mean")


def run_smplify(
    inputs: FitInputs,
    out_json: Path,
    config: ml_collections.ConfigDict,
    *,
    checkpoint: str | None = None,
    body_model_path: str | None = None,
    crop_size: int | None = None,
) -> dict:
    """SMPLify `inputs` and write `out_json`. `crop_size` (of the crops read from images) defaults
    to the regressor's input size, or to config.crop_size with init=mean."""
    if config.init not in INITS:
        raise ConfigError(f"init must be one of {INITS}; got {config.init!r}")
    model = body.load(body_model_path)
    smplify = Smplify(model, config)
    predict, regressor_source = None, "none (init=mean)"
    if config.init == "regressor":
        regressor, variables, regressor_source, trained_size = load_regressor(checkpoint)
        crop_size = trained_size if crop_size is None else crop_size
        apply = jax.jit(lambda images: regressor.apply(variables, images, train=False))

        def predict(images):
            out = apply(images)
            return out.rotmats, out.betas, out.camera

    crop_size = int(config.crop_size) if crop_size is None else crop_size
    settings = smplify.settings
    return fit_and_write(
        "smplify",
        inputs,
        out_json,
        lambda exemplars: smplify_stream(exemplars, smplify, predict=predict, image_size=crop_size),
        crop_size=crop_size,
        model=model,
        header={
            "method": "smplify",
            "config": config.to_dict(),
            "regressor": regressor_source,
            "pose_prior": smplify.prior.source,
        },
        description=(
            f"init {config.init}, {settings.camera_iters} + {settings.body_iters} iterations, "
            f"batches of {smplify.batch_size}, on {jax.default_backend()}"
        ),
    )
