"""eft-jax regressor checkpoints (orbax): exact round trip, clear errors on mismatch."""

from __future__ import annotations

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from eft_jax.nets import (
    MeanParams,
    Regressor,
    RegressorArch,
    RegressorCheckpointError,
    read_config_record,
    restore_regressor,
    save_regressor,
)

pytestmark = pytest.mark.fast_compiles

ARCH = RegressorArch.reduced(depth=18, width_divisor=16)
IMAGE_SIZE = 32


def random_variables(regressor: Regressor, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    abstract = regressor.abstract_variables(IMAGE_SIZE)
    return jax.tree_util.tree_map(
        lambda s: rng.standard_normal(s.shape).astype(np.float32), abstract
    )


@pytest.fixture(scope="module")
def regressor():
    mean = MeanParams.from_arrays(np.linspace(-1, 1, 144), np.arange(10) / 10, [0.8, 0.1, -0.2])
    return Regressor(ARCH, mean)


def test_round_trip_is_bit_exact(tmp_path, regressor):
    variables = random_variables(regressor)
    record = {**regressor.config_record(), "note": "round trip"}
    save_regressor(tmp_path / "ckpt", variables, record)
    restored = restore_regressor(tmp_path / "ckpt", expected_arch=ARCH)
    assert restored.regressor.arch == ARCH
    for field in MeanParams._fields:
        np.testing.assert_array_equal(
            getattr(restored.regressor.mean_params, field), getattr(regressor.mean_params, field)
        )
    assert restored.record["note"] == "round trip"
    assert jax.tree_util.tree_structure(restored.variables) == jax.tree_util.tree_structure(
        variables
    )
    for a, b in zip(
        jax.tree_util.tree_leaves(restored.variables), jax.tree_util.tree_leaves(variables)
    ):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), b)
    assert read_config_record(tmp_path / "ckpt")["arch"] == ARCH.to_record()


def test_restoring_into_another_architecture_fails_clearly(tmp_path, regressor):
    save_regressor(tmp_path / "ckpt", random_variables(regressor), regressor.config_record())
    other = RegressorArch.reduced(depth=34, width_divisor=8)
    with pytest.raises(
        RegressorCheckpointError, match=r"depth: expected 34, checkpoint has 18"
    ) as info:
        restore_regressor(tmp_path / "ckpt", expected_arch=other)
    assert "stem_width: expected 8, checkpoint has 4" in str(info.value)


def test_stored_arrays_must_match_the_recorded_architecture(tmp_path, regressor):
    # A checkpoint whose metadata claims a wider stem than its arrays have (e.g. hand-edited).
    variables = random_variables(regressor)
    record = {"format": "eft-jax-regressor", "format_version": 1, **regressor.config_record()}
    record["arch"] = {**record["arch"], "stem_width": 8}
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save((tmp_path / "ckpt").absolute(), variables, custom_metadata=record)
    with pytest.raises(
        RegressorCheckpointError,
        match=r"\['params'\]\['conv1'\]\['kernel'\]: expected \(7, 7, 3, 8\)",
    ):
        restore_regressor(tmp_path / "ckpt")


def test_saving_variables_of_another_architecture_fails(tmp_path, regressor):
    variables = random_variables(Regressor(RegressorArch.reduced(depth=18, width_divisor=8)))
    with pytest.raises(RegressorCheckpointError, match="do not match the architecture"):
        save_regressor(tmp_path / "ckpt", variables, regressor.config_record())
    assert not (tmp_path / "ckpt").exists()


def test_existing_directory_needs_overwrite(tmp_path, regressor):
    save_regressor(tmp_path / "ckpt", random_variables(regressor, 0), regressor.config_record())
    newer = random_variables(regressor, 1)
    with pytest.raises(FileExistsError):
        save_regressor(tmp_path / "ckpt", newer, regressor.config_record())
    save_regressor(tmp_path / "ckpt", newer, regressor.config_record(), overwrite=True)
    restored = restore_regressor(tmp_path / "ckpt")
    np.testing.assert_array_equal(
        restored.variables["params"]["fc1"]["bias"], newer["params"]["fc1"]["bias"]
    )


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegressorCheckpointError, match="not an orbax checkpoint"):
        restore_regressor(tmp_path / "empty")
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save((tmp_path / "other").absolute(), {"w": np.zeros(3)})
    with pytest.raises(RegressorCheckpointError, match="not an eft-jax regressor checkpoint"):
        restore_regressor(tmp_path / "other")
