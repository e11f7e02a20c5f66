"""The ResNet stem's 3x3, stride-2, pad-1 max pool, with a gradient XLA's CPU backend runs fast.

`flax.linen.max_pool`'s gradient is XLA's select-and-scatter, which the CPU backend lowers to an
index-tracking reduce-window and a scatter: ~6 % of a ResNet-50 EFT step and ~10 % of the
bundled regressor's on a 2-core CPU, for an operation that moves a few megabytes. Here the
forward pass records which of the nine window elements won (the first maximum, as
select-and-scatter picks it), and the backward pass routes each output gradient to its winner
with shifted slices only:

    input row 2m      lies in window row m only (as its middle row, ky = 1);
    input row 2m + 1  lies in window rows m + 1 (top, ky = 0) and m (bottom, ky = 2);

and the same for columns, so each of the four (row, column) parities of the input is a sum of
one, two or four masked, shifted copies of the output gradient, interleaved into one array.
The values are `nn.max_pool`'s exactly; the gradient is the same up to the order in which an
input that wins two or four windows sums their gradients (a last-bit difference). Being a
`jax.custom_vjp`, it has no forward-mode derivative (`jax.jvp`, `jax.jacfwd`); reverse mode only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# (window-row offset ky, shift of the output grid) of each input row parity: even rows are the
# middle row of window m, odd rows the top row of window m + 1 and the bottom row of window m.
_WINDOW_ROWS = {0: ((1, 0),), 1: ((0, 1), (2, 0))}


def _pooled_and_winner(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(..., H, W, C) -> the pooled (..., Ho, Wo, C) and which window element (0..8, row-major)
    held each maximum, the first one on ties."""
    height, width = x.shape[-3], x.shape[-2]
    out_h, out_w = (height + 1) // 2, (width + 1) // 2
    lead = ((0, 0),) * (x.ndim - 3)
    padded = jnp.pad(x, lead + ((1, 1), (1, 1), (0, 0)), constant_values=-jnp.inf)
    best = winner = None
    for k in range(9):
        ky, kx = divmod(k, 3)
        window = padded[..., ky : ky + 2 * out_h - 1 : 2, kx : kx + 2 * out_w - 1 : 2, :]
        if best is None:
            best, winner = window, jnp.zeros(window.shape, jnp.int8)
        else:
            winner = jnp.where(window > best, jnp.int8(k), winner)
            best = jnp.maximum(best, window)
    # A barrier so that XLA keeps the winners as one array instead of recomputing the comparison
    # chain inside the backward pass's loops.
    return best, jax.lax.optimization_barrier(winner)


@jax.custom_vjp
def max_pool_3x3_stride2(x: jax.Array) -> jax.Array:
    """(..., H, W, C) -> (..., ceil(H / 2), ceil(W / 2), C): the maximum over each 3x3 window at
    stride 2 with one pixel of padding, as `nn.max_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1)))`."""
    return _pooled_and_winner(x)[0]


def _forward(x):
    pooled, winner = _pooled_and_winner(x)
    # The input's height and width travel as the shape of an empty array (residuals are arrays).
    return pooled, (winner, jnp.zeros(x.shape[-3:-1] + (0,), jnp.int8))


def _backward(residuals, grad):
    winner, input_hw = residuals
    height, width = input_hw.shape[:2]
    out_h, out_w = grad.shape[-3], grad.shape[-2]
    lead = [(0, 0)] * (grad.ndim - 3)
    zero = jnp.zeros((), grad.dtype)

    def routed(k: int, shift_h: int, shift_w: int) -> jax.Array:
        """The gradient of window element k of window (i + shift_h, j + shift_w) at (i, j)."""
        masked = jnp.where(winner == k, grad, zero)
        masked = jnp.pad(masked, lead + [(0, shift_h), (0, shift_w), (0, 0)])
        return masked[..., shift_h : shift_h + out_h, shift_w : shift_w + out_w, :]

    parities = []
    for row_parity in (0, 1):
        columns = []
        for column_parity in (0, 1):
            total = None
            for ky, shift_h in _WINDOW_ROWS[row_parity]:
                for kx, shift_w in _WINDOW_ROWS[column_parity]:
                    part = routed(3 * ky + kx, shift_h, shift_w)
                    total = part if total is None else total + part
            columns.append(total)
        parities.append(jnp.stack(columns, axis=-2))  # (..., Ho, Wo, 2, C)
    interleaved = jnp.stack(parities, axis=-4)  # (..., Ho, 2, Wo, 2, C)
    interleaved = interleaved.reshape(grad.shape[:-3] + (2 * out_h, 2 * out_w, grad.shape[-1]))
    return (interleaved[..., :height, :width, :],)


max_pool_3x3_stride2.defvjp(_forward, _backward)
