"""`eft-jax demo`: pose the body model in a few postures and write meshes and joints."""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    # None: the bundled open body model; or an official SMPL file (.pkl / .npz).
    config.body_model = None
    config.output_dir = "eft_jax_output/demo"
    # Named postures from eft_jax.body.named_poses.
    config.poses = ("t_pose", "a_pose", "walking", "arms_raised", "sitting", "torso_twist")
    # The shapes: the mean body, then bodies with the first shape component at -/+ this value.
    config.betas_scale = 2.0
    return config
