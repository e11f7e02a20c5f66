"""One side of `bundled_vs_commit.py`: EFT with the bundled regressor and its tuned recipe, in the
eft-jax of the directory it runs in (this tree or a checkout of an older commit).

    python <path>/bundled_worker.py CROPS.npz FITS.npz [key=value ...]   (cwd: the tree to time)

Loads the crops (normalised, SPIN-49 keypoints), builds the engine with the tree's defaults plus
the overrides, compiles it on a warm-up pass over the first exemplars, then answers each line
"run" on stdin with one timed pass over every crop (a JSON line on stdout: seconds, total
iterations); the first timed pass's fits go to FITS.npz. Uses only the API that commit 6892460
and later share, so the same file drives both sides.
"""

from __future__ import annotations

import inspect
import json
import sys
import time
from pathlib import Path

import numpy as np

from eft_jax import body, fitting, nets
from eft_jax.fitting.recipe import resolve_config


def main():
    crops, fits_path, overrides = sys.argv[1], sys.argv[2], sys.argv[3:]
    with np.load(crops) as data:
        images, keypoints = data["image"], data["keypoints"]
    restored = nets.bundled_regressor()
    size = images.shape[1]
    config = resolve_config(Path("configs/eft_default.py"), overrides, restored.record)
    size_argument = (
        "crop_size"
        if "crop_size" in inspect.signature(fitting.EftEngine).parameters
        else "image_size"
    )
    engine = fitting.EftEngine(
        restored.regressor, restored.variables, body.load(), config, **{size_argument: size}
    )
    exemplars = [fitting.Exemplar(i, images[i], keypoints[i]) for i in range(len(images))]
    for _ in fitting.fit_stream(exemplars[: 2 * engine.batch_size], engine):  # compile
        pass
    print(json.dumps({"ready": True, "batch_size": engine.batch_size, "lowering": engine.lowering}))
    sys.stdout.flush()
    saved = False
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start = time.perf_counter()
        results = {r.id: r for r in fitting.fit_stream(exemplars, engine)}
        seconds = time.perf_counter() - start
        ordered = [results[i] for i in range(len(exemplars))]
        if not saved:
            np.savez(
                fits_path,
                rotmats=np.stack([r.rotmats for r in ordered]),
                betas=np.stack([r.betas for r in ordered]),
                camera=np.stack([r.camera for r in ordered]),
                iterations=np.array([r.iterations for r in ordered]),
            )
            saved = True
        iterations = sum(r.iterations for r in ordered)
        print(json.dumps({"seconds": seconds, "iterations": iterations}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
