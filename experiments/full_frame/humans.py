"""The study's held-out full-frame humans (`make_sample(style="full_frame")`, seeds
HELDOUT_SEED_OFFSET..), rendered in pieces of 50 and cached under
eft_jax_output/evaluation_sets/ (git-ignored), so an interrupted preparation resumes.

    python -m experiments.full_frame.humans --count 500     # prepare the set (~3 s a human)
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from eft_jax.datasets.synthetic import HELDOUT_SEED_OFFSET
from eft_jax.eval.heldout import PIECE, heldout_pieces
from experiments.fitting_runs import CACHE

KEYS = (
    "image",
    "keypoints",
    "joints3d_spin49",
    "vertices",
    "rotmats",
    "betas",
    "camera",
    "translation",
    "focal_px",
    "principal_px",
    "image_size",
    "box_center",
    "box_scale",
    "keypoints_frame",
    "clip",
    "seed",
)


def full_frame_set(count: int, image_size: int) -> dict:
    """Held-out full-frame humans of seeds HELDOUT_SEED_OFFSET .. + count - 1, `KEYS` stacked."""
    pieces = []
    for start in range(0, count, PIECE):
        first = HELDOUT_SEED_OFFSET + start
        seeds = range(first, first + min(PIECE, count - start))
        path = CACHE / f"full_frame-heldout_{first}_{len(seeds)}_{image_size}px.npz"
        if not path.exists():
            (piece,) = heldout_pieces(seeds, crop_size=image_size, style="full_frame", piece=PIECE)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, **{key: piece[key] for key in KEYS})
            print(f"rendered seeds {first}..{seeds[-1]}", file=sys.stderr, flush=True)
        with np.load(path) as data:
            pieces.append({key: data[key] for key in KEYS})
    return {key: np.concatenate([p[key] for p in pieces]) for key in KEYS}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--image-size", type=int, default=128, help="crop side (the regressor's)")
    args = parser.parse_args(argv)
    humans = full_frame_set(args.count, args.image_size)
    print(f"{len(humans['seed'])} humans ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
