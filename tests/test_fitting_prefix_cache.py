"""Frozen-prefix caching: the engine that runs the frozen first layers once per exemplar equals the
engine that runs them every step, and the regressor split at an entry point equals the whole."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_eft import IMAGE_SIZE, OVERRIDES, assert_results_close, tiny_exemplars

from eft_jax import fitting
from eft_jax.config import load_config
from eft_jax.nets import entry_point

pytestmark = pytest.mark.fast_compiles


def test_entry_points_of_the_presets():
    assert entry_point("all") == "image"
    assert entry_point("layer3+") == "layer3"
    assert entry_point("layer4+head") == "layer4"
    assert entry_point("head") == entry_point("decoders") == "features"
    assert entry_point(["layer2", "fc1"]) == "layer2"


@pytest.mark.parametrize("stop", ["layer2", "layer4", "features"])
def test_prefix_then_suffix_equals_the_whole_regressor(eft_setup, stop):
    regressor, variables, _, _ = eft_setup
    images = np.random.default_rng(0).normal(size=(2, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    whole = regressor.apply(variables, images)
    split = regressor.apply(variables, regressor.prefix(variables, images, stop), start=stop)
    for name in ("rotmats", "betas", "camera", "features"):
        np.testing.assert_allclose(getattr(split, name), getattr(whole, name), rtol=1e-6, atol=1e-6)


# One entry point in the default tier; the other takes the same cached path (the split at layer4
# is checked by test_prefix_then_suffix_equals_the_whole_regressor).
@pytest.mark.parametrize(
    "trainable, entry",
    [pytest.param("layer4+head", "layer4", marks=pytest.mark.slow), ("decoders", "features")],
)
def test_cached_engine_equals_uncached(eft_setup, trainable, entry):
    regressor, variables, model, _ = eft_setup
    exemplars = tiny_exemplars(regressor, variables, model, count=5)
    results = {}
    for cache in (True, False):
        config = load_config(
            "configs/eft_default.py",
            OVERRIDES + [f"trainable='{trainable}'", f"cache_prefix={cache}"],
        )
        engine = fitting.EftEngine(regressor, variables, model, config, crop_size=IMAGE_SIZE)
        assert engine.entry == (entry if cache else "image")
        results[cache] = {r.id: r for r in fitting.fit_stream(exemplars, engine)}
    slots = engine.empty_slots()  # uncached: slots hold crops; cached: the prefix's output
    assert slots.images.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE, 3)
    assert any(r.iterations > 1 for r in results[True].values())
    for exemplar in exemplars:
        assert_results_close(results[True][exemplar.id], results[False][exemplar.id], rtol=1e-6)
