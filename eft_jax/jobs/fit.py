"""`eft-jax fit`: EFT over a set of exemplars, written as EFT-format JSON.

Inputs, the resumable log and the EFT JSON are those of every fitting job (`jobs/fitting_io.py`).
"""

from __future__ import annotations

from pathlib import Path

import jax
import ml_collections

from eft_jax import body
from eft_jax.fitting import EftEngine, fit_stream
from eft_jax.jobs.fitting_io import (  # noqa: F401 (FitInputError, log_path_for: re-exported)
    FitInputError,
    FitInputs,
    fit_and_write,
    load_regressor,
    log_path_for,
)


def run_fit(
    inputs: FitInputs,
    out_json: Path,
    config: ml_collections.ConfigDict,
    *,
    checkpoint: str | None = None,
    body_model_path: str | None = None,
    crop_size: int | None = None,
) -> dict:
    """Fit `inputs` and write `out_json`. `crop_size` defaults to the regressor's input size."""
    model = body.load(body_model_path)
    regressor, variables, regressor_source, trained_size = load_regressor(checkpoint)
    crop_size = trained_size if crop_size is None else crop_size
    engine = EftEngine(regressor, variables, model, config, image_size=crop_size)
    return fit_and_write(
        "fit",
        inputs,
        out_json,
        lambda exemplars: fit_stream(exemplars, engine),
        crop_size=crop_size,
        model=model,
        header={"config": config.to_dict(), "regressor": regressor_source},
        description=f"{engine.batch_size} slots, lowering {engine.lowering}, on {jax.default_backend()}",
    )
