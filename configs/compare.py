"""`eft-jax compare`: two fit files of the same exemplars and body model, per exemplar and side
by side in one report (eft_jax/report/compare.py). The command line's A, B, --images, --crops
and --out set the first fields."""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.fits_a = None  # EFT JSON files of the same exemplars (fit, smplify, demo, EFT's own)
    config.fits_b = None
    config.images = None  # where the crops come from, as in `eft-jax report`
    config.crops = None
    config.output_dir = None  # None: <A without .json>_vs_<B without .json>/ beside A
    config.body_model = None  # None: the bundled open body model; or the SMPL model file
    config.thumbnail_size = 96
    return config
