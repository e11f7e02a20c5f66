"""Regressor throughput: eft-jax's HMR (ResNet-50 @224) vs the same network in PyTorch, one run.

    python -m experiments.bench_regressor.bench_regressor [--batches 1 32] [--seconds 5] [--out experiments/bench_regressor]

"forward" is `apply` in eval mode (BatchNorm running statistics, no dropout) from normalised
images to rotation matrices, betas and camera; "forward+backward" also differentiates a scalar of
those outputs with respect to every weight, which is what one EFT step needs. The PyTorch rows run
the SPIN-layout network of tests/make_regressor_goldens.py (SPIN's modules, eval mode, gradients
for all parameters), when torch is installed. Times are medians of repeated calls after warm-up
(and compilation, for JAX); the ratio column is eft-jax / torch throughput measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax.nets import Regressor, RegressorArch
from experiments.timing import time_interleaved

STUDY = Path(__file__).resolve().parent

IMAGE_SIZE = 224


def images(batch: int) -> np.ndarray:
    return (
        np.random.default_rng(0).normal(size=(batch, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    )


def jax_calls(batch: int) -> dict:
    regressor = Regressor(RegressorArch())
    variables = regressor.init(jax.random.key(0))
    batch_stats = variables["batch_stats"]
    x = jnp.asarray(images(batch))

    def objective(params):
        out = regressor.apply({"params": params, "batch_stats": batch_stats}, x)
        return jnp.sum(out.rotmats**2) + jnp.sum(out.betas**2) + jnp.sum(out.camera**2)

    forward = jax.jit(regressor.apply)
    gradient = jax.jit(jax.grad(objective))
    return {
        "forward": lambda: jax.block_until_ready(forward(variables, x)),
        "forward+backward": lambda: jax.block_until_ready(gradient(variables["params"])),
    }


def torch_calls(batch: int) -> dict:
    import torch

    from experiments.torch_reference import HMR, Bottleneck, random_mean_params

    model = HMR(Bottleneck, (3, 4, 6, 3), random_mean_params(np.random.default_rng(0))).eval()
    x = torch.from_numpy(images(batch)).permute(0, 3, 1, 2).contiguous()

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        model.zero_grad(set_to_none=True)
        rotmat, shape, cam, _, _ = model(x)
        (rotmat.pow(2).sum() + shape.pow(2).sum() + cam.pow(2).sum()).backward()

    return {"forward": forward, "forward+backward": forward_backward}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=STUDY)
    args = parser.parse_args()

    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None

    rows = []
    for batch in args.batches:
        jax_fns = jax_calls(batch)
        torch_fns = torch_calls(batch) if torch_version else {}
        for name in ("forward", "forward+backward"):
            fns = {"jax": jax_fns[name], **({"torch": torch_fns[name]} if torch_fns else {})}
            times = time_interleaved(fns, args.seconds)
            jax_time, torch_time = times["jax"], times.get("torch")
            rows.append(
                {
                    "batch": batch,
                    "pass": name,
                    "eft_jax_ms": 1e3 * jax_time,
                    "eft_jax_images_per_s": batch / jax_time,
                    "torch_ms": None if torch_time is None else 1e3 * torch_time,
                    "torch_images_per_s": None if torch_time is None else batch / torch_time,
                    "throughput_ratio": None if torch_time is None else torch_time / jax_time,
                }
            )
            print(rows[-1], flush=True)

    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "torch": torch_version,
        "torch_threads": torch.get_num_threads() if torch_version else None,
    }

    def cell(value, fmt):
        return "n/a" if value is None else format(value, fmt)

    lines = [
        (
            f"ResNet-50 HMR regressor @{IMAGE_SIZE}x{IMAGE_SIZE}, {machine['jax_backend']} "
            f"({machine['cpu_count']} cores, {machine['processor']}); jax {machine['jax']}, torch {machine['torch']}."
        ),
        "Median time per call; eft-jax and torch calls interleaved, so load from other processes on a",
        "shared machine hits both alike (absolute times drift between runs, the ratio much less).",
        "ratio = eft-jax / torch throughput.",
        "",
        "| batch | pass | eft-jax ms | eft-jax img/s | torch ms | torch img/s | ratio |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch']} | {r['pass']} | {r['eft_jax_ms']:.1f} | {r['eft_jax_images_per_s']:.2f} | "
            f"{cell(r['torch_ms'], '.1f')} | {cell(r['torch_images_per_s'], '.2f')} | {cell(r['throughput_ratio'], '.2f')} |"
        )
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_regressor.md").write_text(table + "\n")
    (args.out / "bench_regressor.json").write_text(
        json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
