"""How fast XLA's CPU backend and torch run the matrix products of a ResNet-50 EFT step.

    python -m experiments.bench_eft.gemm_shapes [--slots 2] [--torch-threads 2]

eft-jax runs every convolution of the regressor as a patch x kernel product (`lowering=+im2col`),
so one EFT iteration's arithmetic is three products per convolution: the forward one (patches @
kernel), the kernel's gradient (patches.T @ output gradient, a contraction over the pixels) and
the patches' gradient (output gradient @ kernel.T). This script times each, for one convolution
of every kind in ResNet-50 at 224 px, as XLA runs them (vmapped over `--slots` exemplars with
weights of their own, as the engine does) and as torch runs the same products (one exemplar
after another, as EFT's loop does), with a 2048 x 2048 product as each one's peak. It bounds what
a faster engine could gain from the products alone. Writes gemm_shapes.md here (`--out`).
"""

from __future__ import annotations

import argparse
import functools
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

STUDY = Path(__file__).resolve().parent
# (name, pixels, patch length K, output channels O) of one convolution of each kind.
SHAPES = (
    ("stem 7x7 / 2", 112 * 112, 7 * 7 * 3, 64),
    ("layer1 1x1 in", 56 * 56, 64, 64),
    ("layer1 3x3", 56 * 56, 9 * 64, 64),
    ("layer1 1x1 out", 56 * 56, 64, 256),
    ("layer2 3x3", 28 * 28, 9 * 128, 128),
    ("layer2 1x1 out", 28 * 28, 128, 512),
    ("layer3 3x3", 14 * 14, 9 * 256, 256),
    ("layer3 1x1 out", 14 * 14, 256, 1024),
    ("layer4 3x3", 7 * 7, 9 * 512, 512),
    ("layer4 1x1 out", 7 * 7, 512, 2048),
)
PRODUCTS = ("forward", "kernel gradient", "patch gradient")
# The kernel gradient with the patches and output gradients stored channel-major, (K, pixels) and
# (O, pixels), as an NCHW network would hold them: the same product with both operands read along
# their rows (XLA only; torch's row is its kernel gradient above).
CHANNEL_MAJOR = "kernel gradient, channel-major"


def median_seconds(run, repeats: int = 20) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def xla_rates(pixels: int, k: int, o: int, slots: int) -> dict:
    rng = np.random.default_rng(0)
    patches = rng.standard_normal((slots, pixels, k), np.float32)
    kernel = rng.standard_normal((slots, k, o), np.float32)
    grad = rng.standard_normal((slots, pixels, o), np.float32)
    programs = {
        "forward": (lambda p, w: p @ w, patches, kernel),
        "kernel gradient": (lambda p, g: p.T @ g, patches, grad),
        "patch gradient": (lambda g, w: g @ w.T, grad, kernel),
        CHANNEL_MAJOR: (
            lambda pt, gt: pt @ gt.T,
            np.ascontiguousarray(patches.transpose(0, 2, 1)),
            np.ascontiguousarray(grad.transpose(0, 2, 1)),
        ),
    }
    flops = 2.0 * pixels * k * o * slots
    rates = {}
    for name, (product, a, b) in programs.items():
        program, a, b = jax.jit(jax.vmap(product)), jax.device_put(a), jax.device_put(b)
        run = functools.partial(lambda f, a, b: f(a, b).block_until_ready(), program, a, b)
        rates[name] = flops / median_seconds(run) / 1e9
    return rates


def torch_rates(pixels: int, k: int, o: int, slots: int) -> dict:
    import torch

    patches = [torch.randn(pixels, k) for _ in range(slots)]
    kernel = [torch.randn(k, o) for _ in range(slots)]
    grad = [torch.randn(pixels, o) for _ in range(slots)]
    programs = {
        "forward": lambda: [p @ w for p, w in zip(patches, kernel)],
        "kernel gradient": lambda: [p.t() @ g for p, g in zip(patches, grad)],
        "patch gradient": lambda: [g @ w.t() for g, w in zip(grad, kernel)],
    }
    flops = 2.0 * pixels * k * o * slots
    return {name: flops / median_seconds(run) / 1e9 for name, run in programs.items()}


def peaks() -> tuple[float, float]:
    import torch

    size = 2048
    a = jax.device_put(np.random.default_rng(1).standard_normal((size, size), np.float32))
    product = jax.jit(lambda a, b: a @ b)
    flops = 2.0 * size**3
    xla = flops / median_seconds(lambda: product(a, a).block_until_ready()) / 1e9
    t = torch.randn(size, size)
    return xla, flops / median_seconds(lambda: t @ t) / 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--torch-threads", type=int, default=None)
    parser.add_argument("--out", default=str(STUDY))
    args = parser.parse_args(argv)
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    xla_peak, torch_peak = peaks()
    lines = [
        f"Matrix products of a ResNet-50 EFT step, GFLOP/s, XLA (jax {jax.__version__}, "
        f"vmapped over {args.slots} slots) against torch {torch.__version__} "
        f"({torch.get_num_threads()} threads, one exemplar after another); "
        f"{platform.machine()}, {len(jax.devices())} jax device(s). 2048 x 2048 float32 "
        f"product: XLA {xla_peak:.0f}, torch {torch_peak:.0f} GFLOP/s.",
        "",
        "| convolution | pixels x K x O | "
        + " | ".join(f"{p}, XLA | torch" for p in PRODUCTS)
        + f" | {CHANNEL_MAJOR}, XLA |",
        "|---|---|" + "---:|---:|" * len(PRODUCTS) + "---:|",
    ]
    for name, pixels, k, o in SHAPES:
        ours, theirs = xla_rates(pixels, k, o, args.slots), torch_rates(pixels, k, o, args.slots)
        cells = " | ".join(f"{ours[p]:.0f} | {theirs[p]:.0f}" for p in PRODUCTS)
        cells += f" | {ours[CHANNEL_MAJOR]:.0f}"
        lines.append(f"| {name} | {pixels} x {k} x {o} | {cells} |")
    command = "python -m experiments.bench_eft.gemm_shapes " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines += ["", f"`{command.strip()}`", ""]
    text = "\n".join(lines)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "gemm_shapes.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
