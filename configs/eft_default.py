"""EFT as its public code runs it (facebookresearch/eft at c8400a6); every constant is a field.

Sources: eft/utils/train_options.py (TO), eft/train/eftFitter.py (EF), eft/train/trainer.py (TR).
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()

    # "checkpoint": a regressor's own tuned overrides (its metadata's `eft_recipe`) on top of these
    # constants; "paper": these constants exactly. See eft_jax/fitting/recipe.py.
    config.recipe = "checkpoint"

    # Which regressor weights each exemplar fine-tunes: a preset of eft_jax.nets.PRESETS ("all",
    # "layer4+head", "layer3+", "head" = fc1 fc2 + decoders, "decoders", "backbone") or a list of
    # groups. BatchNorm scale/bias stay frozen and running statistics are used, dropout is off
    # (EF:191-206 `exemplerTrainingMode`). EFT's default tunes every other weight.
    config.trainable = "all"

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.learning_rate = 5e-6  # TO:139 --lr_eft (Adam, EF:59-63)
    config.optimizer.b1 = 0.9  # torch.optim.Adam defaults, as EF:59 builds it
    config.optimizer.b2 = 0.999
    config.optimizer.eps = 1e-8
    # EF:63 weight_decay=0; a fresh optimiser state per exemplar (base_trainer.py:203-214).

    config.max_iters = (
        20  # TO:96 --maxExemplarIter (demo/eftFitting.py:18: "50 would be more than sufficient")
    )
    # Stop an exemplar once its 2D keypoint loss (the `keypoint` term, not the total) is below this
    # (EF:1587). TO:140 default 1e-4 (pseudo-GT generation); demo/eftFitting.py:17 passes 2e-5,
    # TO:141 uses 2e-4 at test time.
    config.stop_threshold = 1e-4

    config.loss = ml_collections.ConfigDict()
    config.loss.keypoint_weight = 5.0  # TO:46 --keypoint_loss_weight (EF:330)
    config.loss.openpose_weight = (
        0.0  # TO:49 --openpose_train_weight: OpenPose keypoints 0-24 (TR:123)
    )
    config.loss.gt_weight = 1.0  # TO:50 --gt_train_weight: ground-truth keypoints 25-48 (TR:124)
    config.loss.betas_weight = 0.001  # TO:48 --beta_loss_weight (EF:328, 331)
    config.loss.camera_scale_weight = 1.0  # EF:332, exp(-10 s)^2 added with weight 1
    config.loss.camera_scale_rate = 10.0  # EF:332
    config.loss.leg_orientation_weight = 0.005  # EF:339
    config.loss.leg_min_length = 0.0089  # EF:275 LENGTH_THRESHOLD, crop units (1/112 = 1 px)
    config.loss.overall_scale = 60.0  # EF:341 `loss *= 60`
    config.loss.use_hips = False  # TO:142 --eft_withHip2D; EF:278-281 zero LSP hips + MPII pelvis
    config.loss.use_ankles = False  # EF:311-312 zero both ankles in the keypoint term

    # The camera the loss projects with (docs/camera.md): "crop", EFT's weak-perspective camera in
    # the person's crop (EFT's own), or "full_frame", a pinhole camera over the whole image
    # (CLIFF's): the regressor's crop camera becomes a translation through the box, and the
    # keypoints are compared in the box's coordinates. Its focal length is the input's, else
    # `focal_px` (pixels; 0: not given), else the image's diagonal.
    config.camera = "crop"
    config.focal_px = 0.0

    # Multi-start (eft_jax/fitting/multistart.py): fit K hypotheses per exemplar and keep the one
    # with the lowest final 2D keypoint loss. 1: plain EFT. 2: + the mirrored crop. 3: + the
    # initial global orientation turned 180 degrees about the vertical axis. 4: + both.
    config.hypotheses = 1
    # Hypotheses whose keypoint loss is within this fraction of the best are tied; the pose prior
    # picks among them.
    config.hypothesis_tie_tolerance = 0.05

    # Engine: slots per step program, continuous batching (refill a slot as soon as its exemplar
    # stops) or static batches, and how the per-slot computation is lowered ("auto" picks per
    # backend, see eft_jax/fitting/lowering.py for the measurements behind the choice). Idle
    # slots at the end of a stream cost as much as busy ones, so few slots suit a CPU; on an
    # accelerator raise batch_size (experiments/bench_eft/README.md).
    config.batch_size = 2
    # Lanes: groups of batch_size slots stepped side by side, each on a thread of its own and
    # drawing from the same exemplars (fitting.fit_stream). 0: automatic, 2 on a CPU with one
    # device, else 1. On a 2-core CPU two lanes of 2 slots ran the bundled regressor's iterations
    # 1.3x faster than one of 4 (XLA leaves the cores idle between its small operations; a second
    # program fills the gaps), ResNet-50's about as fast.
    config.lanes = 0
    config.continuous = True
    config.lowering = "auto"
    config.chunk_size = 4  # slots per vmapped chunk of the "chunked" lowering
    # At most this many EFT iterations per call of the engine's step (fitting.fit_stream): a call
    # ends after the iteration in which a slot stops, and the host looks for stopped slots and
    # refills them after each call instead of after every iteration. The count is an argument of
    # one program: any value gives the same fits bit for bit, and a run resumes under another.
    # 16 rather than 8: 1.10x faster per exemplar with the bundled regressor on a 2-core CPU
    # (fewer host round trips; experiments/bench_eft/README.md).
    config.iterations_per_call = 16
    config.shard = True  # spread slots over all local devices (data parallel over exemplars)
    # Compute the frozen layers before the first trainable group once per exemplar, when it is
    # loaded into a slot, and iterate only the rest (exact: BatchNorm uses running statistics).
    config.cache_prefix = True
    # Pose only the vertices the SPIN-49 joints read (body.joints_model); False: the full mesh.
    config.joints_only = True
    # Computation dtype of the regressor's convolutions and matmuls: "float32" or "bfloat16"
    # (for accelerators; weights and Adam state stay float32).
    config.compute_dtype = "float32"
    return config
