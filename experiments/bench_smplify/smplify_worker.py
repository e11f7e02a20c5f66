"""One side of `smplify_vs_commit.py`: batched SMPLify, joints-only and full mesh, in the eft-jax of
the directory it runs in (this tree or a checkout of an older commit).

    python <path>/smplify_worker.py KEYPOINTS.npz CAMERA_ITERS BODY_ITERS JOINTS_CALLS MESH_CALLS
        (cwd: the tree to time)

Builds both fits (configs/smplify.py with the given iteration counts, the batch size of the
keypoints), starts them from the mean pose, compiles each with one call, then answers each line
"run" on stdin with one timed pass: JOINTS_CALLS calls of the joints-only fit and MESH_CALLS of the
full-mesh fit, each call's seconds and the final mean 2D error as a JSON line. Uses only the API
that commit 6892460 and later share, so the same file drives both sides.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

from eft_jax import body
from eft_jax.config import load_config
from eft_jax.fitting import smplify


def timed_calls(fit, init, keypoints, calls: int) -> tuple[list[float], float]:
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        outcome = jax.block_until_ready(fit.fit(init, keypoints))
        seconds.append(time.perf_counter() - start)
    return seconds, float(np.mean(outcome.keypoint_error_px_after))


def main():
    keypoints_path, camera_iters, body_iters, joints_calls, mesh_calls = sys.argv[1:6]
    keypoints = np.load(keypoints_path)["keypoints"]
    model = body.load()
    config = load_config(
        Path("configs/smplify.py"), [f"camera_iters={camera_iters}", f"body_iters={body_iters}"]
    )
    config.batch_size = len(keypoints)
    joints_only = smplify.Smplify(model, config)
    full_mesh = smplify.Smplify(model, config, prior=joints_only.prior, joints_only=False)
    init = joints_only.init_from_mean(keypoints)
    fits = {
        "joints_only": (joints_only, int(joints_calls)),
        "full_mesh": (full_mesh, int(mesh_calls)),
    }
    for fit, _ in fits.values():
        timed_calls(fit, init, keypoints, 1)  # compile
    print(json.dumps({"ready": True}))
    sys.stdout.flush()
    for line in sys.stdin:
        if line.strip() != "run":
            break
        reply = {}
        for name, (fit, calls) in fits.items():
            seconds, error = timed_calls(fit, init, keypoints, calls)
            reply[name] = {"seconds": seconds, "error_px": error}
        print(json.dumps(reply))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
