"""`eft-jax report`: the static HTML report of a fit file (eft_jax/report/). The command line's
FITS, --images, --crops and --out set the first fields."""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.fits = None  # the EFT JSON of `fit`, `smplify` or `demo` (or EFT's released files)
    # Where the crops come from: the folder the entries' imageName are relative to, or an
    # exemplar .npz (the fit's --crops input); neither: thumbnails without the crop.
    config.images = None
    config.crops = None
    config.output_dir = None  # None: <fits without .json>_report/ beside the fits
    # None: the bundled open body model; or the SMPL model file for fits with smpltype 'smpl'.
    # A report of SMPL fits holds SMPL's arrays for its 3D view: see docs/report.md on sharing.
    config.body_model = None
    config.thumbnail_size = 96  # side of each thumbnail panel in pixels
    config.strips = None  # a folder of <exemplar_id>.png Figure-1 strips (the demo's strips/)
    config.title = None  # None: "eft-jax report: <fits file name>"
    return config
