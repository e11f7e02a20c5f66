"""The stem's max pool against flax's: the same values, the same gradient (to the last bit where
no input wins more than one window), ties broken as XLA's select-and-scatter breaks them."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax.nets.max_pool import max_pool_3x3_stride2


def flax_pool(x):
    if x.ndim > 4:  # flax pools one leading batch axis
        return jax.vmap(flax_pool)(x)
    return nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))


def gradients(pool, x, cotangent):
    return jax.jit(lambda x, g: jax.vjp(pool, x)[1](g)[0])(x, cotangent)


@pytest.mark.parametrize("shape", [(2, 16, 16, 3), (1, 7, 9, 2), (3, 2, 6, 10, 4), (1, 1, 1, 1)])
def test_values_and_gradient_match_flax(shape):
    keys = jax.random.split(jax.random.key(0), 2)
    # After a ReLU, as in the stem: many exact zeros, so ties are common.
    x = jax.nn.relu(jax.random.normal(keys[0], shape))
    pooled = max_pool_3x3_stride2(x)
    np.testing.assert_array_equal(pooled, flax_pool(x))
    cotangent = jax.random.normal(keys[1], pooled.shape)
    ours, theirs = gradients(max_pool_3x3_stride2, x, cotangent), gradients(flax_pool, x, cotangent)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    assert np.mean(np.asarray(ours) == np.asarray(theirs)) > 0.99


def test_ties_go_to_the_first_maximum_like_select_and_scatter():
    x = jnp.ones((1, 6, 5, 1))  # every window a tie
    cotangent = jnp.arange(1.0, 1.0 + 3 * 3).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(
        gradients(max_pool_3x3_stride2, x, cotangent), gradients(flax_pool, x, cotangent)
    )


def test_under_vmap_and_in_bfloat16():
    x = jax.random.normal(jax.random.key(1), (3, 2, 10, 12, 4)).astype(jnp.bfloat16)
    cotangent = jnp.ones((3, 2, 5, 6, 4), jnp.bfloat16)
    vmapped = jax.vmap(lambda x, g: jax.vjp(max_pool_3x3_stride2, x)[1](g)[0])(x, cotangent)
    np.testing.assert_array_equal(jax.vmap(max_pool_3x3_stride2)(x), flax_pool(x))
    assert vmapped.dtype == jnp.bfloat16
    np.testing.assert_array_equal(vmapped, gradients(flax_pool, x, cotangent))
