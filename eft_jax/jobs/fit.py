"""`eft-jax fit`: EFT over a set of exemplars, written as EFT-format JSON (and SPIN's npz).

The config is configs/eft_default.py, resolved with the regressor's recipe (fitting/recipe.py).
Inputs are `fitting.inputs.FitInputs` (a dataset by name, a folder of images with a COCO-format
keypoint file, or an `.npz` of crops); logs, resume, process sharing, the run lock and the
compilation cache are `fitting.run`'s.
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from eft_jax.fitting.inputs import FitInputs
from eft_jax.fitting.run import RunOutcome, eft_method, run_fitting


def run_fit(
    inputs: FitInputs, out_json: Path, config: ml_collections.ConfigDict, **options
) -> RunOutcome:
    """EFT over `inputs`, written to `out_json`; `options` are `fitting.run.run_fitting`'s
    (checkpoint, body_model_path, crop_size, spin_npz, process_index, process_count,
    compilation_cache_dir, fresh)."""
    return run_fitting(inputs, out_json, config, method=eft_method(config), **options)
