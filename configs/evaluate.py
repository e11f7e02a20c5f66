"""`eft-jax evaluate`: a regressor's 3D errors on a benchmark by SPIN's protocols, or on held-out
synthetic humans (eft_jax/jobs/evaluate.py). The command line's flags set these fields."""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.dataset = None  # 3dpw, h36m-p1, h36m-p2, mpi-inf-3dhp or synthetic (--dataset)
    config.root = None  # the benchmark's folder (synthetic: none)
    config.split = None  # another evaluation .npz or 3DPW split than the benchmark's default
    config.checkpoint = None  # None: the bundled regressor; or a regressor checkpoint folder
    # The SMPL model file for regressors that predict SMPL (the real benchmarks), SPIN's
    # J_regressor_h36m.npy (None: beside it or one folder up), and SMPL's male and female models
    # for 3DPW's true meshes (None: found beside the SMPL file).
    config.body_model = None
    config.h36m_regressor = None
    config.body_male = None
    config.body_female = None
    config.output_dir = None  # None: eft_jax_output/evaluate/<dataset>
    config.limit = None  # score only the first N exemplars
    config.synthetic_count = 500  # held-out synthetic humans scored when no limit is given
    config.batch_size = 32  # crops per regressor call
    config.worst = 8  # render this many exemplars of largest PA-MPJPE
    # The evaluator plug-in (eft_jax/eval/evaluators.py): "" for the dataset's own
    # (synthetic_truth for synthetic, spin_protocol for the benchmarks).
    config.evaluator = ""
    return config
