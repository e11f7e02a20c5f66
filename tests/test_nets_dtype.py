"""The regressor's bfloat16 option: convolutions and matmuls in bfloat16, weights and outputs
float32, results near float32's (plain convolutions and the im2col lowering alike)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax.fitting import lowering
from eft_jax.nets import Regressor, RegressorArch

pytestmark = pytest.mark.fast_compiles


# The default tier keeps the im2col lowering (the CPU default); plain convolutions go slow.
@pytest.mark.parametrize("im2col", [pytest.param(False, marks=pytest.mark.slow), True])
def test_bfloat16_regressor_is_near_float32_with_float32_weights_and_outputs(im2col):
    regressor = Regressor(RegressorArch.reduced(18, 16))
    variables = regressor.init(jax.random.key(0), 32)
    images = jnp.asarray(np.random.default_rng(0).normal(size=(2, 32, 32, 3)), jnp.float32)
    half = regressor.with_dtype(jnp.bfloat16)

    # weights and images are arguments, not constants folded into the compiled programs
    def run(reg, variables, images):
        with lowering.conv_lowering(im2col):
            return reg.apply(variables, images)

    full = jax.jit(lambda v, x: run(regressor, v, x))(variables, images)
    low = jax.jit(lambda v, x: run(half, v, x))(variables, images)
    assert low.rotmats.dtype == low.betas.dtype == low.camera.dtype == jnp.float32
    np.testing.assert_allclose(low.camera, full.camera, atol=3e-2)
    np.testing.assert_allclose(low.rotmats, full.rotmats, atol=5e-2)
    assert np.abs(np.asarray(low.features) - np.asarray(full.features)).max() > 0  # really bfloat16
    jaxpr = str(jax.make_jaxpr(lambda v, x: run(half, v, x))(variables, images))
    assert "bf16" in jaxpr
    grads = jax.jit(jax.grad(lambda p, v, x: jnp.sum(half.apply({**v, "params": p}, x).camera)))(
        variables["params"], variables, images
    )
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))
