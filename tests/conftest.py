"""Fixtures shared by the test files. Helpers that test files import as modules live beside this
file: `tiny_eft` (the EFT engine and trajectory setup), `fake_records` (COCO annotations and fit
records), `fake_training` (a stand-in for the synthetic training split), `forced_devices`
(scripts run with two forced host devices) and `random_smpl_model` (SMPL-format files with random
contents); pytest puts this folder on the import path. Test files never import each other."""

from __future__ import annotations

import pytest
import tiny_eft

from eft_jax import body


@pytest.fixture(scope="session")
def open_body():
    """The bundled open body model (`body.load()`)."""
    return body.load()


@pytest.fixture(scope="session")
def tiny_regressor():
    """(regressor, variables, open body model): a ResNet-18 at 1/16 width for 32 px crops,
    untrained (tests/tiny_eft.py)."""
    return tiny_eft.tiny_regressor()


@pytest.fixture(scope="session")
def calibrated_eft(tiny_regressor):
    """(regressor, variables, body model, EFT config, exemplars): the engine and trajectory tests'
    one setup. tests/tiny_eft.py's seven exemplars and a stop threshold calibrated on them
    (`tiny_eft.calibrated_config`), so that their fits stop after different numbers of passes."""
    regressor, variables, model = tiny_regressor
    exemplars = tiny_eft.tiny_exemplars(regressor, variables, model)
    return (
        regressor,
        variables,
        model,
        tiny_eft.calibrated_config(regressor, variables, model, exemplars),
        exemplars,
    )


@pytest.fixture(scope="module")
def eft_setup(tiny_regressor):
    """(regressor, variables, body model, EFT config with tests/tiny_eft.py's OVERRIDES)."""
    return (*tiny_regressor, tiny_eft.eft_config(tiny_eft.OVERRIDES))
