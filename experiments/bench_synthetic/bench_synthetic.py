"""Synthetic-human rendering throughput per style, one process, on this machine's CPU.

    python -m experiments.bench_synthetic.bench_synthetic [--samples 60] [--sizes 128 224] [--out experiments/bench_synthetic]

For each style and crop size: `make_sample(seed, style=..., crop_size=...)` for --samples seeds
after a few warm-up samples (compilation and caches excluded), what the TFDS builder does per
record. The table gives ms per sample, samples/s and the time to prepare the 40,000 training
samples of a "128px" / "lifelike_128px" dataset at that rate. Writes bench_synthetic.{md,json}.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from eft_jax.datasets.synthetic import STYLES, make_sample
from experiments.timing import machine_description, write_results

STUDY = Path(__file__).resolve().parent

WARMUP = 4
TRAIN_SAMPLES = 40_000


def bench(style: str, size: int, samples: int) -> dict:
    for seed in range(WARMUP):
        make_sample(1_000_000 + seed, style=style, crop_size=size)
    start = time.perf_counter()
    for seed in range(samples):
        make_sample(seed, style=style, crop_size=size)
    seconds = (time.perf_counter() - start) / samples
    return {
        "style": style,
        "size": size,
        "samples": samples,
        "ms_per_sample": round(seconds * 1e3, 1),
        "samples_per_s": round(1 / seconds, 1),
        "minutes_for_40k": round(TRAIN_SAMPLES * seconds / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--styles", nargs="+", choices=STYLES, default=list(STYLES))
    parser.add_argument("--out", type=Path, default=STUDY)
    args = parser.parse_args()

    rows = []
    for size in args.sizes:
        for style in args.styles:
            rows.append(bench(style, size, args.samples))
            print(rows[-1], flush=True)
    machine = machine_description()
    table = (
        f"Synthetic humans rendered per style, one process; {machine}; {args.samples} "
        "samples each after warm-up.\n\n"
        "| style | crop | ms / sample | samples / s | minutes for 40,000 |\n"
        "|---|---:|---:|---:|---:|\n"
        + "\n".join(
            f"| {r['style']} | {r['size']} px | {r['ms_per_sample']} | "
            f"{r['samples_per_s']} | {r['minutes_for_40k']} |"
            for r in rows
        )
        + "\n"
    )
    write_results(args.out, "bench_synthetic", table, {"machine": machine, "rows": rows})


if __name__ == "__main__":
    main()
