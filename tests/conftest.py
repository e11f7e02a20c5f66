"""Fixtures shared by the test files. Helpers that test files import as modules live beside this
file: `tiny_eft` (the EFT engine and trajectory setup), `fake_records` (COCO annotations and fit
records), `fake_training` (a stand-in for the synthetic training split), `forced_devices`
(scripts run with two forced host devices), `random_smpl_model` (SMPL-format files with random
contents), `small_runs` (the settings of the tests' demo runs) and `xla_flags` (the XLA flags of
every test process); pytest puts this folder on the import path. Test files never import each
other."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import xla_flags

# The run is dominated by XLA compiling, often the same program in several files (the tiny
# regressor's EFT step, the bundled regressor's, a training step): one persistent compilation cache
# serves the whole run, set before jax is imported and inherited by the scripts the tests start
# (`eft-jax` commands without --compilation-cache use it too, instead of the user's). Set
# JAX_COMPILATION_CACHE_DIR beforehand to keep one's own.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="eft-jax-tests-jax-cache-")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("EFT_JAX_COMPILATION_CACHE", os.environ["JAX_COMPILATION_CACHE_DIR"])
# Every program is kept, however quickly it compiled (JAX's default keeps those over 1 s): with
# optimisations off most compile in under a second, and both workers and the scripts compile them.
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
xla_flags.use_test_flags()  # XLA's faster-compiling CPU emitters (tests/xla_flags.py)

import jax  # noqa: E402
import pytest  # noqa: E402
import tiny_eft  # noqa: E402
from jax.experimental.compilation_cache import compilation_cache  # noqa: E402

from eft_jax import body  # noqa: E402

RUN_CACHE = os.environ["JAX_COMPILATION_CACHE_DIR"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Tests marked `fast_compiles` (most end-to-end ones: they compile more than they compute)
    run with XLA's optimisations off (`jax_disable_most_optimizations`, as flax's example tests
    do), the scripts they start too. Not the whole run: it changes rounding, and some tests compare
    with goldens bit for bit. JAX keeps compiled programs in memory whatever the setting, so they
    are dropped where it changes (those on disk are kept apart by their compile options): files
    with nothing that depends on the setting are marked too, so that a worker seldom changes it."""
    fast = item.get_closest_marker("fast_compiles") is not None
    if fast != jax.config.read("jax_disable_most_optimizations"):
        jax.clear_caches()
        jax.config.update("jax_disable_most_optimizations", fast)
        if fast:
            os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"
        else:
            os.environ.pop("JAX_DISABLE_MOST_OPTIMIZATIONS", None)
    yield


@pytest.fixture(autouse=True)
def _back_to_the_runs_compilation_cache():
    """A test that points the cache elsewhere (`--compilation-cache DIR`) hands it back after."""
    yield
    if jax.config.jax_compilation_cache_dir != RUN_CACHE:
        compilation_cache.reset_cache()
        jax.config.update("jax_compilation_cache_dir", RUN_CACHE)


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
