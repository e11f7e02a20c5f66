"""`eft-jax render`: pictures and meshes of the fits in an EFT JSON file (eft_jax/eval/pictures.py).
The command line's --fits, --images and --out set the first three fields."""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.fits = None  # the EFT JSON (eft-jax fit's output or EFT's released files)
    config.images = None  # the folder its entries' imageName are relative to
    config.output_dir = None  # where the PNGs, .obj and .glb meshes go
    # None: the bundled open body model; or a SMPL model file (.pkl / .npz) for fits with
    # smpltype 'smpl'. A fit is drawn with the body model that made it.
    config.body_model = None
    config.limit = None  # None: every fit; or the first N
    config.crop_size = 224  # side of each picture panel in pixels
    return config
