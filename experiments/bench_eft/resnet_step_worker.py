"""One side of `resnet_step_vs_commit.py`: the EFT engine's step on ResNet-50 (SPIN's topology,
every layer trainable, random weights) in the eft-jax of the directory it runs in.

    python <path>/resnet_step_worker.py SLOTS ITERATIONS_PER_CALL CALLS   (cwd: the tree to time)

Builds the engine (configs/eft_default.py, nothing stops: max_iters 10^6, stop threshold 0) on
random 224 px crops, compiles its step with one call, then answers each line "run" on stdin with
CALLS timed calls of ITERATIONS_PER_CALL iterations: a JSON line with each call's seconds and the
median call's seconds per exemplar-iteration. Uses only the API that commit 6892460 and later
share.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

from eft_jax import body, fitting
from eft_jax.config import load_config
from eft_jax.nets import Regressor, RegressorArch

SIZE = 224


def main():
    slots_count, iterations, calls = (int(a) for a in sys.argv[1:4])
    regressor = Regressor(RegressorArch.reduced(50, 1))
    variables = regressor.init(jax.random.key(0), SIZE)
    config = load_config(
        Path("configs/eft_default.py"), ["max_iters=1000000", "stop_threshold=0.0", "trainable=all"]
    )
    engine = fitting.EftEngine(
        regressor, variables, body.load(), config, crop_size=SIZE, batch_size=slots_count
    )
    rng = np.random.default_rng(0)
    images = rng.normal(size=(slots_count, SIZE, SIZE, 3)).astype(np.float32)
    keypoints = np.concatenate(
        [rng.uniform(-0.8, 0.8, (slots_count, 49, 2)), np.ones((slots_count, 49, 1))], -1
    ).astype(np.float32)
    slots = engine.put_exemplars(engine.empty_slots(), list(range(slots_count)), images, keypoints)
    slots = jax.block_until_ready(engine.step(slots, iterations))  # compile
    print(json.dumps({"ready": True, "lowering": engine.lowering}))
    sys.stdout.flush()
    for line in sys.stdin:
        if line.strip() != "run":
            break
        seconds = []
        for _ in range(calls):
            start = time.perf_counter()
            slots = jax.block_until_ready(engine.step(slots, iterations))
            seconds.append(time.perf_counter() - start)
        per_iteration = float(np.median(seconds)) / (slots_count * iterations)
        print(json.dumps({"seconds": seconds, "per_exemplar_iteration": per_iteration}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
