"""`eft-jax train --config <this file>`: the bundled regressor's second stage.

The bundled regressor was trained in two runs on this project's 2-core CPU:

1. `eft-jax train loss.keypoints_train_betas=True`: configs/train_synthetic.py, 8,000 steps on
   basic synthetic humans from random weights
   (log: experiments/bundled_regressor/train_synthetic_log.jsonl);
2. this config: the same network and losses (betas no longer trained by the keypoint terms),
   continued from stage 1's weights on lifelike synthetic humans (clothes, backgrounds, random and
   interpolated poses, truncated crops) at half the peak learning rate
   (log: experiments/bundled_regressor/train_lifelike_log.jsonl).
"""

from eft_jax.config import default_config_path, load_config


def get_config():
    config = load_config(default_config_path("train_synthetic"))
    config.workdir = "eft_jax_output/train_lifelike"
    config.data.style = "lifelike"
    config.init_from = "eft_jax_output/train_synthetic/regressor"  # stage 1's final weights
    config.total_steps = 12_000
    config.learning_rate = 5e-4
    config.warmup_steps = 300
    return config
