"""Slots sharded over two (forced host) devices give the sequential reference's results.

XLA_FLAGS must be set before jax initialises, so the check runs in a fresh interpreter."""

from __future__ import annotations

import textwrap

import pytest
from forced_devices import run_on_two_host_devices

SCRIPT = textwrap.dedent(
    """
    import jax
    from tiny_eft import IMAGE_SIZE, assert_results_close, calibrated_config, tiny_exemplars, tiny_regressor
    from eft_jax import fitting

    assert len(jax.local_devices()) == 2, jax.local_devices()
    regressor, variables, model = tiny_regressor()
    exemplars = tiny_exemplars(regressor, variables, model)
    config = calibrated_config(regressor, variables, model, exemplars)
    reference = fitting.SequentialEft(regressor, variables, model, config, crop_size=IMAGE_SIZE)
    expected = {exemplar.id: reference.fit(exemplar) for exemplar in exemplars}
    for lowering in ("vmap+im2col", "map"):
        engine = fitting.EftEngine(regressor, variables, model, config, crop_size=IMAGE_SIZE, lowering=lowering)
        slots = engine.empty_slots()
        assert len(slots.images.sharding.device_set) == 2
        assert slots.images.addressable_shards[0].data.shape[0] == 2  # 4 slots, 2 per device
        results = {r.id: r for r in fitting.fit_stream(exemplars, engine)}
        for exemplar in exemplars:
            assert_results_close(results[exemplar.id], expected[exemplar.id])
    print("SHARDED-OK")
    """
)


@pytest.mark.slow  # a fresh interpreter compiles the engine for two devices: over a minute
def test_slots_sharded_over_two_devices_match_reference():
    run_on_two_host_devices(SCRIPT, "SHARDED-OK")
