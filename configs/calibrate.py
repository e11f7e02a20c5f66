"""`eft-jax calibrate`: refit the fit-quality score for a regressor on validation synthetic humans
(eft_jax/jobs/calibrate.py, docs/quality.md). The command line's flags set these fields."""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.checkpoint = None  # None: the bundled regressor; or a regressor checkpoint folder
    config.body_model = None  # None: the bundled open body; or an SMPL file for SMPL regressors
    config.output = (
        "eft_jax_output/quality_calibration.json"  # what fit --quality-calibration reads
    )
    # Validation synthetic humans per style (seeds from 10,000,000, disjoint from training and the
    # held-out sets); each is fitted by EFT (the regressor's recipe) and SMPLify.
    config.count = 100
    config.styles = ("basic", "lifelike")
    # Keypoint settings each human is fitted under: "none" (its own keypoints) and "detector"
    # (jitter, dropped keypoints, an occasional left/right limb swap: eft_jax/eval/keypoint_noise.py),
    # as the bundled calibration was fitted, so that the score holds on a detector's keypoints.
    config.noises = ("none", "detector")
    # key=value overrides of the fits' configs (configs/eft_default.py after the regressor's
    # recipe, configs/smplify.py), when your runs use other settings than the defaults.
    config.eft_overrides = ()
    config.smplify_overrides = ()
    return config
