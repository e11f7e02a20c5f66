"""eft-jax's own regressor checkpoints (orbax): variables plus the record that rebuilds the network.

    save_regressor("ckpt/", variables, regressor.config_record())
    regressor, variables, record = restore_regressor("ckpt/")

A checkpoint is an orbax StandardCheckpointer directory holding the variables ({'params',
'batch_stats'}, stored exactly) whose custom metadata is the config record (JSON: format tag,
architecture, mean parameters, plus whatever else the caller recorded, e.g. where converted
weights came from).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np
import orbax.checkpoint as ocp

from eft_jax.errors import InputError
from eft_jax.nets.hmr import DEFAULT_CROP_SIZE, Regressor, RegressorArch

FORMAT = "eft-jax-regressor"
# The regressor eft-jax ships: an HMR (ResNet-18, widths / 4, 128 px input) trained on synthetic
# humans of the bundled open body model by `eft-jax train`, in two stages: basic humans from random
# weights (configs/train_synthetic.py), then lifelike ones (configs/train_lifelike.py).
BUNDLED_REGRESSOR_DIR = Path(__file__).resolve().parent / "assets" / "synthetic_regressor"
FORMAT_VERSION = 1


class RegressorCheckpointError(InputError, ValueError):
    """A regressor checkpoint that does not exist, is not one, does not fit the expected network, or
    predicts another body model's parameters than the run's (`nets.load_regressor`)."""


class RestoredRegressor(NamedTuple):
    regressor: Regressor
    variables: dict
    record: dict


def _shapes(tree) -> dict[str, tuple]:
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {
        jax.tree_util.keystr(path): (tuple(leaf.shape), np.dtype(leaf.dtype)) for path, leaf in flat
    }


def _differences(expected, found) -> list[str]:
    expected, found = _shapes(expected), _shapes(found)
    lines = [f"missing {k}" for k in expected if k not in found]
    lines += [f"unexpected {k}" for k in found if k not in expected]
    lines += [
        f"{k}: expected {expected[k][0]} {expected[k][1]}, found {found[k][0]} {found[k][1]}"
        for k in expected
        if k in found and expected[k] != found[k]
    ]
    return lines


def save_regressor(
    directory: str | Path, variables: dict, config_record: dict, overwrite: bool = False
) -> Path:
    """Write `variables` to `directory`, with `config_record` (which must hold `arch` and
    `mean_params`, as `Regressor.config_record()` does) as the checkpoint's custom metadata."""
    directory = Path(directory).absolute()
    regressor = Regressor.from_config_record(config_record)
    variables = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
    mismatch = _differences(regressor.abstract_variables(), variables)
    if mismatch:
        raise RegressorCheckpointError(
            "variables do not match the architecture in the config record:\n  "
            + "\n  ".join(mismatch)
        )
    if directory.exists() and not overwrite:
        raise FileExistsError(f"{directory} exists; pass overwrite=True to replace it")
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, **config_record}
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(directory, variables, force=overwrite, custom_metadata=record)
    return directory


def _read_metadata(directory: Path):
    if not directory.exists():
        raise RegressorCheckpointError(f"{directory}: not found (a regressor checkpoint folder)")
    if not (directory / "_CHECKPOINT_METADATA").is_file():
        raise RegressorCheckpointError(
            f"{directory} is not an orbax checkpoint (no _CHECKPOINT_METADATA)"
        )
    with ocp.StandardCheckpointer() as checkpointer:
        metadata = checkpointer.metadata(directory)
    record = metadata.custom_metadata or {}
    if record.get("format") != FORMAT:
        raise RegressorCheckpointError(
            f"{directory}: not an eft-jax regressor checkpoint (metadata format {record.get('format')!r})"
        )
    if record.get("format_version", 0) > FORMAT_VERSION:
        raise RegressorCheckpointError(
            f"{directory}: written by a newer eft-jax (format version {record['format_version']})"
        )
    return record, metadata.item_metadata.tree


def predicted_body_kind(record: dict) -> str | None:
    """Whose parameters the regressor of `record` predicts: 'smpl', 'open' (the bundled open body
    model) or None when the record does not say. Records written since this field exists carry
    `body_model_kind`; older ones are recognised by their source (SPIN/EFT conversions predict
    SMPL's parameters, `eft-jax train` trains on the bundled open model)."""
    if "body_model_kind" in record:
        return record["body_model_kind"]
    source = record.get("source")
    if isinstance(source, dict) and source.get("format") == "spin":
        return "smpl"
    if isinstance(source, str) and source.startswith("eft-jax train"):
        return "open"
    return None


def read_config_record(directory: str | Path) -> dict:
    return _read_metadata(Path(directory).absolute())[0]


def update_config_record(directory: str | Path, changes: dict) -> dict:
    """Merge `changes` into a checkpoint's record (its orbax custom metadata, in
    `_CHECKPOINT_METADATA`) in place and return the new record; a key mapped to None is removed.
    The stored variables are not touched. Used to give a regressor its tuned EFT recipe
    (`eft_recipe`, see eft_jax/fitting/recipe.py)."""
    directory = Path(directory).absolute()
    record, _ = _read_metadata(directory)
    protected = {"format", "format_version", "arch", "mean_params"} & set(changes)
    if protected:
        raise RegressorCheckpointError(f"update_config_record may not change {sorted(protected)}")
    path = directory / "_CHECKPOINT_METADATA"
    metadata = json.loads(path.read_text())
    record = {**record, **changes}
    metadata["custom_metadata"] = {k: v for k, v in record.items() if v is not None}
    path.write_text(json.dumps(metadata))
    return metadata["custom_metadata"]


def restore_regressor(
    directory: str | Path, expected_arch: RegressorArch | None = None
) -> RestoredRegressor:
    """Rebuild the regressor recorded in `directory` and restore its variables exactly.

    With `expected_arch`, a checkpoint of any other architecture is an error naming what differs.
    """
    directory = Path(directory).absolute()
    record, stored = _read_metadata(directory)
    regressor = Regressor.from_config_record(record)
    if expected_arch is not None and regressor.arch != expected_arch:
        want, have = expected_arch.to_record(), regressor.arch.to_record()
        diffs = [
            f"{k}: expected {want[k]}, checkpoint has {have[k]}" for k in want if want[k] != have[k]
        ]
        raise RegressorCheckpointError(
            f"{directory} holds a different regressor architecture:\n  " + "\n  ".join(diffs)
        )
    abstract = regressor.abstract_variables()
    mismatch = _differences(abstract, stored)
    if mismatch:
        raise RegressorCheckpointError(
            f"{directory}: stored variables do not match the recorded architecture:\n  "
            + "\n  ".join(mismatch)
        )
    # Onto this process's first device, by this process alone: under jax.distributed every process
    # restores its own copy (orbax would otherwise sync with the others and place arrays on the
    # devices the checkpoint was saved from).
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), abstract
    )
    alone = ocp.options.MultiprocessingOptions(
        primary_host=jax.process_index(), active_processes={jax.process_index()}
    )
    with ocp.StandardCheckpointer(multiprocessing_options=alone) as checkpointer:
        variables = checkpointer.restore(directory, abstract)
    return RestoredRegressor(regressor, dict(variables), record)


def trained_crop_size(record: dict) -> int:
    """The crop side the checkpoint's regressor was trained at (SPIN's 224 unless recorded)."""
    return int(record.get("image_size", DEFAULT_CROP_SIZE))


def bundled_regressor() -> RestoredRegressor:
    """The regressor shipped with eft-jax (see BUNDLED_REGRESSOR_DIR); it predicts parameters of
    the bundled open body model from 128 px crops."""
    return restore_regressor(BUNDLED_REGRESSOR_DIR)
