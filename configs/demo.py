"""`eft-jax demo`: EFT with the bundled body model and regressor on synthetic humans (or on your
own images with `--images DIR --keypoints FILE.json`), with pictures, strips and a report."""

import ml_collections

from eft_jax.config import default_config_path, load_config


def get_config():
    config = ml_collections.ConfigDict()
    config.output_dir = "eft_jax_output/demo"
    config.checkpoint = (
        None  # None: the bundled regressor; or an eft-jax regressor checkpoint folder
    )
    # None: the bundled open body model; or a SMPL model file (.pkl / .npz), needed by regressors
    # that predict SMPL's parameters (converted SPIN / EFT checkpoints). A mismatch is refused.
    config.body_model = None
    # Synthetic humans: seeds first_seed .. first_seed + num_exemplars - 1. The bundled regressor
    # was trained on seeds from 0 and validated on seeds from 10,000,000; these are neither.
    config.num_exemplars = 16
    config.first_seed = 20_000_000
    # Figure-1 strips for the first `strips` exemplars, showing the body after these numbers of
    # EFT updates (those an exemplar reaches before it stops), then the final fit and a side view.
    config.strips = 4
    config.strip_iterations = (0, 2, 5, 10)
    config.picture_size = 224  # side of each picture panel in pixels
    config.thumbnail_size = 96  # side of each thumbnail panel of the HTML report (report/)
    # How synthetic humans' fits are scored: an evaluator plug-in (eft_jax/eval/evaluators.py).
    config.evaluator = "synthetic_truth"
    # EFT's recipe (configs/eft_default.py); override fields as eft.max_iters=50 etc.
    config.eft = load_config(default_config_path("eft_default"))
    config.eft.batch_size = 8
    return config
