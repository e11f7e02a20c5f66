"""`eft-jax evaluate`: a regressor's 3D errors on a benchmark, by SPIN's protocols.

    config = load_config(default_config_path("evaluate"), ["dataset='h36m-p2'", "root='/data/h36m'",
                         "checkpoint='checkpoints/spin'", "body_model='models/SMPL_NEUTRAL.pkl'"])
    run_evaluate(config)                                          # configs/evaluate.py

The regressor (an eft-jax checkpoint: the bundled one, one trained by `eft-jax train`, or a SPIN
checkpoint converted by `eft-jax convert-spin`) runs once on every benchmark crop (SPIN's crop,
at the regressor's input size, no augmentation); its body is scored against the 3D truth:

- 3dpw, h36m-p1, h36m-p2, mpi-inf-3dhp (`eft_jax.datasets.benchmarks`, opened by
  `eft_jax.eval.benchmark_sources`): SPIN's protocols
  (`eft_jax.eval.protocols`, evaluator `spin_protocol`): H36M-17 joints regressed from the SMPL mesh, so these need a
  regressor that predicts SMPL, the SMPL file (`body_model_path`) and SPIN's
  `J_regressor_h36m.npy` (`h36m_regressor`, default: beside the SMPL file or one folder up).
  3DPW's true meshes use SMPL's male and female models by the person's gender when their files
  are given or found beside the SMPL file (SPIN's protocol), else the given model (said so in the
  summary);
- synthetic: held-out synthetic humans (`eft_jax.eval.heldout`, seeds from `HELDOUT_SEED_OFFSET`,
  as experiments/compare_fitting/) with the truth of the bundled open body, scored by the
  project's evaluator (evaluator `synthetic_truth`, `eval.evaluation.evaluate_fits`: LSP-14 joints,
  hip-centred, PVE, 2D error, facing and left/right swaps); one table row per mocap clip.

The config's `evaluator` names another evaluator plug-in (`eft_jax.eval.evaluators`) than the
dataset's own. The run and its worst pictures are `eft_jax.eval.benchmark_run`, the summary
`eft_jax.eval.benchmark_summary`.

Writes into `out_dir`: `summary.md` and `summary.json` (protocol, regressor, body models, counts,
means, the per-sequence table, skipped exemplars with reasons), `per_exemplar.csv`, and
`worst/NN_<id>.png` for the `worst` exemplars of largest PA-MPJPE: [crop | the prediction over the
crop | side view].
"""

from __future__ import annotations

import time
from pathlib import Path

import ml_collections

from eft_jax import nets
from eft_jax.eval import evaluators
from eft_jax.eval.benchmark_run import draw_worst, run_regressor
from eft_jax.eval.benchmark_sources import DATASETS, EvaluateInputError, open_source
from eft_jax.eval.benchmark_summary import WORST_BY, summarize, summary_markdown, write_summary
from eft_jax.progress import note


def run_evaluate(config: ml_collections.ConfigDict) -> dict:
    """Score a regressor on `config.dataset` (DATASETS; configs/evaluate.py); returns the summary
    written to summary.json."""
    start = time.perf_counter()
    dataset, checkpoint, out_dir = config.dataset, config.checkpoint, config.output_dir
    limit, batch_size, worst = config.limit, config.batch_size, config.worst
    if dataset not in DATASETS:
        raise EvaluateInputError(f"unknown --dataset {dataset!r}; known: {list(DATASETS)}")
    if batch_size < 1 or (limit is not None and limit < 1) or worst < 0:
        raise EvaluateInputError(
            f"batch size and limit must be >= 1, worst >= 0; got {batch_size}, {limit}, {worst}"
        )
    out_dir = (
        Path(out_dir) if out_dir is not None else Path("eft_jax_output") / "evaluate" / dataset
    )
    record = nets.regressor_record(checkpoint)
    crop_size = nets.trained_crop_size(record)
    source, model, truth_models, bodies = open_source(
        dataset,
        root=config.root,
        split=config.split,
        limit=limit,
        synthetic_count=config.synthetic_count,
        body_model_path=config.body_model,
        h36m_regressor=config.h36m_regressor,
        gendered={"m": config.body_male, "f": config.body_female},
        predicts=nets.predicted_body_kind(record),
        crop_size=crop_size,
    )
    loaded = nets.load_regressor(checkpoint, model)
    evaluator = evaluators.from_config(
        config.evaluator or evaluators.DATASET_EVALUATOR.get(dataset, "spin_protocol"),
        model=model,
        dataset=dataset,
        truth_models=truth_models,
    )

    note(
        f"eft-jax evaluate: {len(source.ids)} exemplars of {source.description}; regressor {loaded.source}; "
        f"body {bodies}; {crop_size} px crops"
    )
    run = run_regressor(source, loaded.regressor, loaded.variables, evaluator, batch_size)
    summary, per = summarize(
        run,
        dataset=dataset,
        evaluator=evaluator,
        source=source.description,
        regressor=loaded.source,
        bodies=bodies,
        crop_size=crop_size,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    summary["worst"] = (
        draw_worst(source, model, run, per[WORST_BY], out_dir, worst) if worst else []
    )
    write_summary(out_dir, summary, per, run)
    print(summary_markdown(summary))
    print(
        f"eft-jax evaluate: wrote {out_dir}/summary.md, summary.json, per_exemplar.csv and "
        f"{len(summary['worst'])} pictures ({time.perf_counter() - start:.1f} s)"
    )
    return summary
