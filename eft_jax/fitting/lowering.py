"""How the per-slot EFT step becomes one computation over B slots.

Every slot fine-tunes its own copy of the weights, so a batch of slots is B different networks.
A lowering is "<mapping>" or "<mapping>+im2col":

- mapping "vmap": `jax.vmap` over the slots. XLA turns each convolution with per-slot kernels
  into a grouped convolution.
- mapping "map": `lax.map`, the slots one after another inside one computation (the loop body
  runs at batch 1).
- mapping "chunked": `lax.map` over chunks of `chunk_size` slots, vmapped inside a chunk.
- "+im2col": every convolution of the regressor runs as patches x kernel matrix products (1x1
  convolutions as plain matrix products), so vmap turns them into batched matrix products
  instead of grouped convolutions. Same arithmetic, different summation order (float32 results
  agree to ~1e-6 relative).
  Each product is one 2D matmul over all pixels, whose backward XLA's CPU backend runs without
  transposing copies (`_matmul_over_pixels`).

Measured on this project's 2-core CPU (jax 0.10.2; experiments/bench_eft/bench_eft.py: the full
EFT step of a ResNet-50 regressor at 224 px, every non-BatchNorm weight trainable; exemplars/s
relative to the sequential loop (plain convolutions at batch 1, ~0.27-0.30 s per iteration) in
the same run; single runs, +-10 % machine noise):

    B     vmap          map     chunked(4)   vmap+im2col   map+im2col
    1     0.91x         0.08x   0.82x        0.74x         1.22x
    4     0.42-0.53x    -       0.05x        1.12-1.24x    0.95-1.06x
    16    0.31-0.34x    -       -            1.18x         1.02-1.11x
    (-: estimated over 12 s per step, not run; 64 slots of ResNet-50 need ~36 GiB, more than
    this 23 GiB machine has)

XLA's CPU backend runs grouped convolutions (what vmap makes of per-slot kernels) and
convolutions inside loops far below its batch-1 convolution speed, while matrix products keep
their speed in both; hence the CPU default "vmap+im2col" (and "map+im2col" for a single slot,
where a vmap of size 1 costs ~0.1 s per step). On GPU and TPU the default is plain "vmap"
(cuDNN and the TPU compiler run grouped convolutions natively); that choice awaits measurement
with experiments/bench_eft/bench_eft.py on those machines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

MAPPINGS = ("vmap", "map", "chunked")
DEFAULT_BY_BACKEND = {"cpu": "vmap+im2col", "gpu": "vmap", "tpu": "vmap"}


def default_lowering(backend: str | None = None, batch_size: int | None = None) -> str:
    backend = backend or jax.default_backend()
    if backend == "cpu" and batch_size == 1:
        return "map+im2col"
    return DEFAULT_BY_BACKEND.get(backend, "vmap")


def parse_lowering(name: str) -> tuple[str, bool]:
    """'vmap+im2col' -> ('vmap', True)."""
    mapping, _, conv = name.partition("+")
    if mapping not in MAPPINGS or conv not in ("", "im2col"):
        raise ValueError(
            f"unknown lowering {name!r}: use one of {', '.join(MAPPINGS)}, optionally with '+im2col'"
        )
    return mapping, conv == "im2col"


def map_over_slots(slot_fn: Callable, mapping: str, chunk_size: int) -> Callable:
    """slot_fn(slot, *shared) -> slot, turned into a function of stacked slots (leading axis)."""
    if mapping == "vmap":
        return lambda slots, *shared: jax.vmap(lambda s: slot_fn(s, *shared))(slots)
    if mapping == "map":
        return lambda slots, *shared: jax.lax.map(lambda s: slot_fn(s, *shared), slots)
    if mapping == "chunked":
        return lambda slots, *shared: jax.lax.map(
            lambda s: slot_fn(s, *shared), slots, batch_size=chunk_size
        )
    raise ValueError(f"unknown slot mapping {mapping!r}")


def _matmul_over_pixels(x, kernel):
    """(N, H, W, K) @ (K, O) -> (N, H, W, O) as one 2D matrix product.

    As an einsum over the 4D patches, autodiff writes the kernel's gradient as a contraction over
    their N, H, W axes, and XLA's CPU backend first copies each output gradient into a
    channel-major layout, fused with the BatchNorm/ReLU backward that produces it (strided reads
    and writes: ~27 % of a ResNet-50 step's time). The gradient of a 2D product, patches.T @
    grad, runs on both operands as they lie in memory."""
    out = x.reshape(-1, x.shape[-1]) @ kernel
    return out.reshape(x.shape[:-1] + (kernel.shape[-1],))


def _conv_as_matmul(module: nn.Conv, x):
    """nn.Conv (explicit padding, no dilation or groups) as patches @ reshaped kernel."""
    kernel = module.get_variable("params", "kernel")
    if module.dtype is not None:  # the module's computation dtype (weights stay float32)
        kernel, x = kernel.astype(module.dtype), x.astype(module.dtype)
    kh, kw, cin, cout = kernel.shape
    sh, sw = module.strides
    (top, bottom), (left, right) = module.padding
    if kh == kw == 1 and top == bottom == left == right == 0:
        y = _matmul_over_pixels(x[:, ::sh, ::sw, :], kernel[0, 0])
    else:
        padded = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
        out_h = (padded.shape[1] - kh) // sh + 1
        out_w = (padded.shape[2] - kw) // sw + 1
        # Strided slices rather than conv_general_dilated_patches: their transpose (the input
        # gradient) is a sum of pads, where the patches op's transpose is a grouped convolution.
        columns = [
            padded[:, i : i + sh * (out_h - 1) + 1 : sh, j : j + sw * (out_w - 1) + 1 : sw, :]
            for i in range(kh)
            for j in range(kw)
        ]
        patches = jnp.concatenate(columns, axis=-1)  # (N, H', W', kh*kw*cin), kernel's HWI order
        y = _matmul_over_pixels(patches, kernel.reshape(kh * kw * cin, cout))
    if module.use_bias:
        y = y + module.get_variable("params", "bias").astype(y.dtype)
    return y


def _supports_matmul(module: nn.Conv) -> bool:
    padding = module.padding
    explicit = isinstance(padding, (tuple, list)) and all(
        isinstance(p, (tuple, list)) for p in padding
    )
    dilation = module.kernel_dilation or 1
    return (
        explicit
        and module.feature_group_count == 1
        and all(d == 1 for d in (dilation if isinstance(dilation, (tuple, list)) else (dilation,)))
        and len(module.kernel_size) == 2
    )


def _im2col_interceptor(next_fun, args, kwargs, context):
    module = context.module
    if (
        isinstance(module, nn.Conv)
        and context.method_name == "__call__"
        and _supports_matmul(module)
    ):
        return _conv_as_matmul(module, args[0])
    return next_fun(*args, **kwargs)


def conv_lowering(im2col: bool):
    """Context in which flax convolutions run as im2col matrix products (when `im2col`)."""
    return nn.intercept_methods(_im2col_interceptor) if im2col else contextlib.nullcontext()
