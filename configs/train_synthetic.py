"""`eft-jax train`: the bundled regressor, an HMR trained on synthetic humans with SPIN's losses.

A small backbone at a reduced input size, so that it trains on a 2-core CPU (time: README.md) and
EFT with it runs in seconds; every other choice follows SPIN (nkolot/SPIN utils/train_options.py,
train/trainer.py), which trains a ResNet-50 at 224 px.
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.workdir = "eft_jax_output/train_synthetic"  # checkpoints, log, final regressor
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    # The tensorflow-datasets builder eft_jax.datasets.synthetic_tfds.SyntheticHumans (bodies of the
    # bundled open model), prepared on first use: every sample is rendered once (time: README.md).
    # The image size is the regressor's input size.
    config.data.image_size = 128
    # "basic" (the bundled regressor's data) or "lifelike" (clothes, backgrounds, more poses:
    # eft_jax/datasets/synthetic_lifelike.py); each style is its own prepared dataset.
    config.data.style = "basic"
    config.data.data_dir = None  # None: tfds's default (~/tensorflow_datasets)
    config.data.num_train = 40_000
    config.data.num_validation = 1_000
    config.data.color_noise = 0.4  # SPIN --noise_factor

    config.model = ml_collections.ConfigDict()
    config.model.depth = 18  # ResNet-18 (SPIN: 50)
    config.model.width_divisor = 4  # every width / 4 (head 256 wide)

    config.batch_size = 64  # SPIN --batch_size
    config.total_steps = 8_000  # the bundled regressor's run (experiments/results/train_synthetic_log.jsonl)
    # SPIN fine-tunes from ImageNet weights with lr 5e-5; from scratch we start higher and decay.
    config.learning_rate = 1e-3
    config.warmup_steps = 500
    config.final_learning_rate_fraction = 0.01

    config.loss = ml_collections.ConfigDict()
    config.loss.keypoint_weight = 5.0  # --keypoint_loss_weight (2D and 3D)
    config.loss.pose_weight = 1.0  # --pose_loss_weight
    config.loss.betas_weight = 0.001  # --beta_loss_weight
    config.loss.openpose_weight = 0.0  # --openpose_train_weight
    config.loss.gt_weight = 1.0  # --gt_train_weight
    config.loss.camera_scale_weight = 1.0  # trainer.py: + exp(-10 s)^2
    config.loss.camera_scale_rate = 10.0
    config.loss.overall_scale = 60.0  # trainer.py: loss *= 60
    # SPIN: True. False: the 2D / 3D keypoint terms do not train the betas (the betas term does);
    # with True the network shrinks the bodies to hedge its pose errors (eft_jax/train/losses.py).
    # The bundled regressor was trained with True, before this field existed: every other default
    # here is its run's, so `eft-jax train loss.keypoints_train_betas=True` repeats that run.
    config.loss.keypoints_train_betas = False

    config.log_every = 50  # steps between lines of <workdir>/train_log.jsonl and the progress line
    config.checkpoint_every = 500  # steps between resumable checkpoints
    config.eval_every = 2_000  # steps between held-out evaluations (MPJPE, PA-MPJPE)
    return config
