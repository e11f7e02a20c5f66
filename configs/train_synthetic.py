"""`eft-jax train`: an HMR trained on synthetic humans with SPIN's losses; the bundled regressor's
first stage (its second: configs/train_lifelike.py).

A small backbone at a reduced input size, so that it trains on a 2-core CPU (time: README.md) and
EFT with it runs in seconds; every other choice follows SPIN (nkolot/SPIN utils/train_options.py,
train/trainer.py), which trains a ResNet-50 at 224 px.

The defaults train on synthetic humans alone, without the adversarial prior: the bundled
regressor's first stage. `sources.*` mix in pseudo ground truth, SPIN / Human3.6M .npz files and 2D-only
crops (eft_jax/jobs/train.py); `adversarial.weight` > 0 adds HMR's discriminator.
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
    # "basic" (the bundled regressor's first-stage data) or "lifelike" (clothes, backgrounds, more poses:
    # eft_jax/datasets/synthetic_lifelike.py); each style is its own prepared dataset.
    config.data.style = "basic"
    config.data.data_dir = None  # None: tfds's default (~/tensorflow_datasets)
    config.data.num_train = 40_000
    config.data.num_validation = 1_000
    config.data.color_noise = 0.4  # SPIN --noise_factor

    # What to train on: each source with a weight (0 = not used); samples pick a source by weight
    # (eft_jax/jobs/train.py, eft_jax/train/sources.py).
    config.sources = ml_collections.ConfigDict()
    config.sources.synthetic = ml_collections.ConfigDict({"weight": 1.0})  # sizes: config.data
    config.sources.fits = _crop_input(
        file=None
    )  # pseudo GT: EFT JSON of eft-jax fit / smplify + its crops
    config.sources.spin_npz = ml_collections.ConfigDict(
        {"weight": 0.0, "file": None, "images": None}
    )
    config.sources.keypoints = _crop_input()  # 2D keypoints only
    config.init_from = (
        None  # a regressor checkpoint to start from (same architecture); None: random
    )

    config.model = ml_collections.ConfigDict()
    config.model.depth = 18  # ResNet-18 (SPIN: 50)
    config.model.width_divisor = 4  # every width / 4 (head 256 wide)

    config.batch_size = 64  # SPIN --batch_size
    # the bundled regressor's first stage (experiments/bundled_regressor/train_synthetic_log.jsonl)
    config.total_steps = 8_000
    # SPIN fine-tunes from ImageNet weights with lr 5e-5; from scratch we start higher and decay.
    config.learning_rate = 1e-3
    config.warmup_steps = 500
    config.final_learning_rate_fraction = 0.01
    # Clip the gradient's global norm before Adam (0 = off, as SPIN and the bundled run). A run whose
    # loss stops being finite is stopped with TrainingDiverged before a bad checkpoint is written.
    config.grad_clip_norm = 0.0

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
    # The bundled regressor's first stage was trained with True, before this field existed: every
    # other default here is its run's, so `eft-jax train loss.keypoints_train_betas=True` repeats it.
    config.loss.keypoints_train_betas = False

    # HMR's factorized adversarial prior (eft_jax/train/adversarial.py; akanazawa/hmr src/trainer.py).
    config.adversarial = ml_collections.ConfigDict()
    config.adversarial.weight = 0.0  # HMR --d_loss_weight 1; 0 = off
    config.adversarial.learning_rate = 1e-4  # HMR --d_lr
    config.adversarial.joint_noise = (
        0.15  # rad, perturbation of the real mocap poses (synthetic humans' JOINT_NOISE)
    )

    config.log_every = 50  # steps between lines of <workdir>/train_log.jsonl and the progress line
    config.checkpoint_every = 500  # steps between resumable checkpoints
    config.eval_every = 2_000  # steps between held-out evaluations (MPJPE, PA-MPJPE)
    return config


def _crop_input(**fields) -> ml_collections.ConfigDict:
    """A source read from crops given as `eft-jax fit` takes them: `crops` (exemplar .npz), `tfds`
    (a prepared people dataset folder), or `dataset` + `root` (+ `split`, `selection`)."""
    keys = {
        "crops": None,
        "tfds": None,
        "dataset": None,
        "root": None,
        "split": None,
        "selection": None,
    }
    return ml_collections.ConfigDict({"weight": 0.0, **fields, **keys})
