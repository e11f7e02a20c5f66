"""Which regressor a job runs: the checkpoint the user gives, or the bundled one.

    loaded = load_regressor(checkpoint, model)     # checkpoint None: the bundled regressor
    loaded.regressor.apply(loaded.variables, images)
    loaded.record["eft_recipe"]                      # the EFT recipe it carries, if any

`regressor_record(checkpoint)` reads only the record (to resolve a config before anything heavy
is loaded); both make the same choice, here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from eft_jax.body import BodyModel
from eft_jax.nets.checkpoint import (
    BUNDLED_REGRESSOR_DIR,
    RegressorCheckpointError,
    predicted_body_kind,
    read_config_record,
    restore_regressor,
    trained_crop_size,
)
from eft_jax.nets.hmr import Regressor

BUNDLED_SOURCE = "bundled (eft_jax/nets/assets/synthetic_regressor)"
BODY_OPTION_HINT = {
    "smpl": "pass --body with a SMPL model file (e.g. --body models/SMPL_NEUTRAL.pkl)",
    "open": "leave out --body (the bundled open body model is the default)",
}


class LoadedRegressor(NamedTuple):
    regressor: Regressor
    variables: dict
    record: dict  # the checkpoint's metadata record (architecture, eft_recipe, ...)
    source: str  # where it came from, as logs and outputs name it
    input_size: int  # the crop side it was trained at


def _checkpoint_dir(checkpoint: str | Path | None) -> tuple[Path, str]:
    """(the checkpoint folder, its name for logs): the given one, else the bundled one."""
    if checkpoint is None:
        return BUNDLED_REGRESSOR_DIR, BUNDLED_SOURCE
    return Path(checkpoint), str(checkpoint)


def regressor_record(checkpoint: str | Path | None) -> dict:
    """The metadata record of `checkpoint` (None: the bundled regressor), without its weights."""
    return read_config_record(_checkpoint_dir(checkpoint)[0])


def load_regressor(
    checkpoint: str | Path | None, model: BodyModel | None = None
) -> LoadedRegressor:
    """Restore `checkpoint` (None: the bundled regressor, trained on synthetic humans of the
    bundled open body model) with its record.

    With `model`, a regressor that predicts another body model's parameters (a converted SPIN
    checkpoint with the bundled open body, say) is refused with RegressorCheckpointError."""
    directory, source = _checkpoint_dir(checkpoint)
    restored = restore_regressor(directory)
    predicts = predicted_body_kind(restored.record)
    if model is not None and predicts is not None and predicts != model.kind:
        raise RegressorCheckpointError(
            f"the regressor {source} predicts parameters of the {predicts} body model, but the body "
            f"model is {model.source} ({model.kind}); "
            f"{BODY_OPTION_HINT.get(predicts, 'choose the matching --body')}"
        )
    return LoadedRegressor(
        restored.regressor,
        restored.variables,
        restored.record,
        source,
        trained_crop_size(restored.record),
    )
