"""The im2col lowering's gradients: a convolution run as 2D patches x kernel matrix products has
XLA's convolution gradients (weights and input), alone and vmapped over slots with per-slot
kernels, for every kind of convolution ResNet has."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax.fitting import lowering

pytestmark = pytest.mark.fast_compiles

# (kernel, stride, padding): ResNet's 1x1 (stride 1 and 2), 3x3 (stride 1 and 2) and 7x7 stem.
CONVOLUTIONS = [(1, 1, 0), (1, 2, 0), (3, 1, 1), (3, 2, 1), (7, 2, 3)]


def relative_error(actual, expected):
    return float(jnp.max(jnp.abs(actual - expected)) / jnp.max(jnp.abs(expected)))


@pytest.mark.parametrize("kernel, stride, pad", CONVOLUTIONS)
def test_im2col_gradients_equal_the_convolution_gradients(kernel, stride, pad):
    conv = nn.Conv(
        6,
        (kernel, kernel),
        strides=(stride, stride),
        padding=((pad, pad), (pad, pad)),
        use_bias=False,
    )
    x = jax.random.normal(jax.random.key(1), (2, 9, 9, 5))
    weights = conv.init(jax.random.key(0), x)
    probe = jax.random.normal(jax.random.key(2), conv.apply(weights, x).shape)

    def loss(weights, x, im2col):
        with lowering.conv_lowering(im2col):
            return jnp.sum(jnp.tanh(conv.apply(weights, x)) * probe)

    expected = jax.grad(loss, (0, 1))(weights, x, False)
    actual = jax.grad(loss, (0, 1))(weights, x, True)
    assert relative_error(actual[0]["params"]["kernel"], expected[0]["params"]["kernel"]) < 1e-5
    assert relative_error(actual[1], expected[1]) < 1e-5


def test_im2col_gradients_vmapped_over_per_slot_kernels():
    conv = nn.Conv(4, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), use_bias=False)
    images = jax.random.normal(jax.random.key(1), (3, 1, 8, 8, 4))
    kernels = jax.vmap(lambda key: conv.init(key, images[0]))(
        jax.random.split(jax.random.key(0), 3)
    )

    def per_slot_grad(im2col):
        def loss(weights, image):
            with lowering.conv_lowering(im2col):
                return jnp.sum(jnp.sin(conv.apply(weights, image)))

        return jax.jit(jax.vmap(jax.grad(loss)))(kernels, images)["params"]["kernel"]

    expected, actual = per_slot_grad(False), per_slot_grad(True)
    assert relative_error(actual, expected) < 1e-5
    assert not np.allclose(actual[0], actual[1])  # each slot's gradient is its own
