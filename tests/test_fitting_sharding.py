"""Slots sharded over two (forced host) devices give the sequential reference's results.

XLA_FLAGS must be set before jax initialises, so the check runs in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import jax
    from tiny_eft import IMAGE_SIZE, assert_results_close, calibrated_config, tiny_exemplars, tiny_regressor
    from eft_jax import fitting

    assert len(jax.local_devices()) == 2, jax.local_devices()
    regressor, variables, model = tiny_regressor()
    exemplars = tiny_exemplars(regressor, variables, model)
    config = calibrated_config(regressor, variables, model, exemplars)
    for lowering in ("vmap+im2col", "map"):
        engine = fitting.EftEngine(regressor, variables, model, config, image_size=IMAGE_SIZE, lowering=lowering)
        slots = engine.empty_slots()
        assert len(slots.images.sharding.device_set) == 2
        assert slots.images.addressable_shards[0].data.shape[0] == 2  # 4 slots, 2 per device
        results = {r.id: r for r in fitting.fit_stream(exemplars, engine)}
        reference = fitting.SequentialEft(regressor, variables, model, config, image_size=IMAGE_SIZE)
        for exemplar in exemplars:
            assert_results_close(results[exemplar.id], reference.fit(exemplar))
    print("SHARDED-OK")
    """
)


def test_slots_sharded_over_two_devices_match_reference():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    # The script imports the tests' shared setup (tests/tiny_eft.py) and this tree's eft_jax.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), str(REPO), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "SHARDED-OK" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
