"""Held-out synthetic humans with their truth: the one way every evaluation builds them.

    humans = heldout_set(range(HELDOUT_SEED_OFFSET, HELDOUT_SEED_OFFSET + 500), crop_size=128)
    humans["image"], humans["keypoints"]              # what a method sees
    humans["joints3d_spin49"], humans["vertices"]     # the truth it is scored against

Seed ranges (`eft_jax.datasets.synthetic`): `HELDOUT_SEED_OFFSET` for reported results,
`VALIDATION_SEED_OFFSET` for choosing settings, the demo's `first_seed`; none overlaps training.
Every human is `datasets.synthetic.make_sample` of its seed (with its vertices), so a set is the
same whether made whole or in pieces. `write_fit_inputs` writes a set as a fit job's inputs (the
demo's).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from eft_jax.datasets.synthetic import make_samples
from eft_jax.fitting.inputs import FitInputs
from eft_jax.formats.exemplar import Exemplar
from eft_jax.formats.exemplar_npz import write_exemplars_npz
from eft_jax.formats.images import save_png
from eft_jax.geometry.crops import normalize_image

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


def write_fit_inputs(
    seeds: Sequence[int], out_dir: Path, *, crop_size: int
) -> tuple[FitInputs, Path, list[Exemplar], list[dict]]:
    """Render the humans of `seeds`; write their crops (`images/synthetic_<seed>.png`) and
    `exemplars.npz` into `out_dir`. Returns the fit inputs, the crops' folder, the exemplars (id,
    normalised crop, keypoints) and the truth (one record of SPIN-49 joints and vertices per
    exemplar)."""
    samples = heldout_set(seeds, crop_size=crop_size)
    ids = [f"synthetic_{seed}" for seed in seeds]
    names = [f"{i}.png" for i in ids]
    for name, image in zip(names, samples["image"]):
        save_png(out_dir / "images" / name, image)
    npz = out_dir / "exemplars.npz"
    write_exemplars_npz(npz, samples["image"], samples["keypoints"], ids=ids, image_names=names)
    exemplars = [
        Exemplar(i, normalize_image(image), keypoints)
        for i, image, keypoints in zip(ids, samples["image"], samples["keypoints"])
    ]
    truth = [
        {"joints3d_spin49": joints, "vertices": vertices}
        for joints, vertices in zip(samples["joints3d_spin49"], samples["vertices"])
    ]
    return FitInputs(crops_npz=npz), out_dir / "images", exemplars, truth
