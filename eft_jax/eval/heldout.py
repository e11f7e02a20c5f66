"""Held-out synthetic humans with their truth: the one way every evaluation builds them.

    humans = heldout_set(range(HELDOUT_SEED_OFFSET, HELDOUT_SEED_OFFSET + 500), crop_size=128)
    humans["image"], humans["keypoints"]              # what a method sees
    humans["joints3d_spin49"], humans["vertices"]     # the truth it is scored against

Seed ranges (`eft_jax.datasets.synthetic`): `HELDOUT_SEED_OFFSET` for reported results,
`VALIDATION_SEED_OFFSET` for choosing settings, the demo's `first_seed`; none overlaps training.
Every human is `datasets.synthetic.make_sample` of its seed (with its vertices), so a set is the
same whether made whole or in pieces.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from eft_jax.datasets.synthetic import make_samples

PIECE = 50  # humans made at a time: vertices are ~165 KB each


def heldout_pieces(
    seeds: Sequence[int], *, crop_size: int, style: str = "basic", piece: int = PIECE
) -> Iterator[dict]:
    """The humans of `seeds` in order, `piece` at a time: dicts of stacked `make_sample` fields
    (image, keypoints, joints3d_spin49, vertices, rotmats, betas, camera, clip, seed, ...)."""
    seeds = list(seeds)
    for start in range(0, len(seeds), piece):
        yield make_samples(
            seeds[start : start + piece], crop_size=crop_size, with_vertices=True, style=style
        )


def heldout_set(seeds: Sequence[int], *, crop_size: int, style: str = "basic") -> dict:
    """The humans of `seeds` with their truth, every field stacked over all of them."""
    pieces = list(heldout_pieces(seeds, crop_size=crop_size, style=style))
    return {key: np.concatenate([p[key] for p in pieces]) for key in pieces[0]}
