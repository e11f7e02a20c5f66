"""How fast XLA's CPU backend and torch run the matrix products of a ResNet-50 EFT step.

    python -m experiments.bench_eft.gemm_shapes [--slots 2] [--torch-threads 2] [--seconds 2]

eft-jax runs every convolution of the regressor as a patch x kernel product (`lowering=+im2col`),
so one EFT iteration's arithmetic is three products per convolution: the forward one (patches @
kernel), the kernel's gradient (patches.T @ output gradient, a contraction over the pixels) and
the patches' gradient (output gradient @ kernel.T). This script times each, for one convolution
of every kind in ResNet-50 at 224 px, as XLA runs them (vmapped over `--slots` exemplars with
weights of their own, as the engine does) and as torch runs the same products (one exemplar
after another, as EFT's loop does), the two taking turns (`experiments.timing.time_interleaved`),
with a 2048 x 2048 product as each one's peak. It bounds what a faster engine could gain from the
products alone. Writes gemm_shapes.md / .json here (`--out`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import numpy as np

from experiments.timing import machine_description, time_interleaved, write_results

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


def xla_calls(patches, kernel, grad) -> dict:
    """Each product of every slot in one vmapped program, as blocking calls."""
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
    calls = {}
    for name, (product, a, b) in programs.items():
        program, a, b = jax.jit(jax.vmap(product)), jax.device_put(a), jax.device_put(b)
        calls[name] = lambda f=program, a=a, b=b: f(a, b).block_until_ready()
    return calls


def torch_calls(patches, kernel, grad) -> dict:
    """The same products, one slot after another, as blocking calls."""
    import torch

    p, w, g = (list(torch.from_numpy(a)) for a in (patches, kernel, grad))
    return {
        "forward": lambda: [a @ b for a, b in zip(p, w)],
        "kernel gradient": lambda: [a.t() @ b for a, b in zip(p, g)],
        "patch gradient": lambda: [a @ b.t() for a, b in zip(g, w)],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--torch-threads", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per shape")
    parser.add_argument("--out", default=str(STUDY))
    args = parser.parse_args(argv)
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    rng = np.random.default_rng(0)

    size = 2048
    square = rng.standard_normal((1, size, size), np.float32)
    peak_seconds = time_interleaved(
        {
            "xla": xla_calls(square, square, square)["forward"],
            "torch": torch_calls(square, square, square)["forward"],
        },
        args.seconds,
    )
    peak = {impl: 2.0 * size**3 / s / 1e9 for impl, s in peak_seconds.items()}
    rows = []
    for name, pixels, k, o in SHAPES:
        arrays = (
            rng.standard_normal((args.slots, pixels, k), np.float32),
            rng.standard_normal((args.slots, k, o), np.float32),
            rng.standard_normal((args.slots, pixels, o), np.float32),
        )
        calls = {("xla", p): f for p, f in xla_calls(*arrays).items()}
        calls.update({("torch", p): f for p, f in torch_calls(*arrays).items()})
        flops = 2.0 * pixels * k * o * args.slots
        rates = {key: flops / s / 1e9 for key, s in time_interleaved(calls, args.seconds).items()}
        rows.append(
            {
                "convolution": name,
                "shape": [pixels, k, o],
                **{" / ".join(key): r for key, r in rates.items()},
            }
        )

    command = "python -m experiments.bench_eft.gemm_shapes " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines = [
        f"Matrix products of a ResNet-50 EFT step, GFLOP/s, XLA (vmapped over {args.slots} slots) "
        f"against torch {torch.__version__} ({torch.get_num_threads()} threads, one exemplar after "
        f"another), taking turns; {machine_description()}. 2048 x 2048 float32 product: XLA "
        f"{peak['xla']:.0f}, torch {peak['torch']:.0f} GFLOP/s.",
        "",
        "| convolution | pixels x K x O | "
        + " | ".join(f"{p}, XLA | torch" for p in PRODUCTS)
        + f" | {CHANNEL_MAJOR}, XLA |",
        "|---|---|" + "---:|---:|" * len(PRODUCTS) + "---:|",
    ]
    for row in rows:
        cells = [f"{row[f'xla / {p}']:.0f} | {row[f'torch / {p}']:.0f}" for p in PRODUCTS]
        cells.append(f"{row[f'xla / {CHANNEL_MAJOR}']:.0f}")
        shape = " x ".join(map(str, row["shape"]))
        lines.append(f"| {row['convolution']} | {shape} | " + " | ".join(cells) + " |")
    lines += ["", f"`{command.strip()}`", ""]
    write_results(Path(args.out), "gemm_shapes", "\n".join(lines), {"peak": peak, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
