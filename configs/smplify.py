"""SMPLify as SPIN's public port runs it (nkolot/SPIN at 2476c43); every constant is a field.

Sources: smplify/smplify.py (SF), smplify/losses.py (SL), train/trainer.py (TR),
utils/train_options.py (TO), constants.py (C); the GMM prior is SMPLify-X's `MaxMixturePrior`
(vchoutas/smplify-x smplifyx/prior.py), which SF:9-11 says SPIN uses.
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()

    # Where each fit starts: "regressor" (SPIN's way, TR:178-194: the network's pose, betas and
    # camera; the weak-perspective camera becomes a translation with focal 5000 px at 224 px) or
    # "mean" (the bundled mean parameters: mean pose, zero betas; the translation as original
    # SMPLify guesses it: depth from the torso's 3D / 2D length, smplify_public fit_3d.py
    # `initialize_camera`; SPIN itself always starts from its regressor).
    config.init = "regressor"
    # SMPLify's gmm_08.pkl (or an .npz with means/covars/weights); None: the bundled GMM fitted to
    # the training mocap clips (eft_jax/fitting/assets/POSE_GMM_NOTICE.md).
    config.pose_prior = None

    config.focal_length = 5000.0  # C:1 FOCAL_LENGTH; SF:19, TR:43
    config.crop_size = (
        224  # TO:37 --img_res; keypoints in pixels 0..224, camera centre 112 (TR:142, 191)
    )

    # The camera (docs/camera.md): "crop", SPIN's perspective camera in the crop above, or
    # "full_frame", the pinhole camera of the whole image (CLIFF's), its focal length the input's,
    # else `focal_px` (pixels; 0: not given), else the image's diagonal.
    config.camera = "crop"
    config.focal_px = 0.0

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.learning_rate = 1e-2  # SF:16 step_size; TR:43 SMPLify(step_size=1e-2, ...)
    config.optimizer.b1 = 0.9  # SF:79, 107 torch.optim.Adam(betas=(0.9, 0.999))
    config.optimizer.b2 = 0.999
    config.optimizer.eps = 1e-8  # torch.optim.Adam default

    # Stage 1 (SF:71-91): camera translation and global orientation on the torso joints.
    config.camera_iters = 100  # SF:18, 81 num_iters; TO:50 --num_smplify_iters 100
    config.depth_weight = 100.0  # SL:61 depth_loss_weight, squared in SL:87
    # Stage 2 (SF:96-118): body pose, betas and global orientation, camera translation fixed
    # (SF:93-102). True also frees the translation in stage 2 (not SPIN).
    config.body_iters = 100  # SF:108 num_iters
    config.body_stage_camera = False

    config.loss = ml_collections.ConfigDict()
    config.loss.sigma = 100.0  # SL:28 Geman-McClure sigma (pixels)
    config.loss.pose_prior_weight = 4.78  # SL:28, squared in SL:45
    config.loss.angle_prior_weight = 15.2  # SL:29, squared in SL:48
    config.loss.shape_prior_weight = 5.0  # SL:29, squared in SL:51
    # Joints SMPLify ignores in stage 2 (SF:28-29, 105): OP Neck, OP RHip, OP LHip, Right Hip,
    # Left Hip. SPIN-49 keypoints the body model cannot produce are ignored as well.
    config.loss.ignored_joints = ("OP Neck", "OP RHip", "OP LHip", "Right Hip", "Left Hip")

    # Exemplars optimised together (vmapped); the last batch is padded.
    config.batch_size = 64
    return config
