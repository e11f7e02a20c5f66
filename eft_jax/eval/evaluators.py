"""Evaluators as plug-ins: a job's config names one (`evaluator = "synthetic_truth"`), and
`from_config` builds it, as big_vision's configs name their evaluators.

    evaluator = from_config("spin_protocol", model=model, dataset="3dpw", truth_models=models)
    problem = evaluator.truth_problem(record)         # why an exemplar cannot be scored, or None
    per = evaluator.scores(rotmats, betas, cameras, keypoints, records)   # {score: (N,) array}
    evaluator.summary(per)                            # means over the exemplars

`records` hold each exemplar's truth. The kinds (`EVALUATORS`):

- `synthetic_truth`: synthetic humans (`eval.heldout`) against their truth, `joints3d_spin49` and
  `vertices` of the bundled open body, by the project's evaluator (`eval.evaluation.evaluate_fits`:
  LSP-14 joints hip-centred, PVE, 2D error, facing and left/right swaps); the demo's, and
  `eft-jax evaluate --dataset synthetic`'s;
- `spin_protocol`: a 3D benchmark (`dataset`, a key of `eval.protocols.PROTOCOLS`) by SPIN's
  protocol: records with `S` (Human3.6M, MPI-INF-3DHP) or SMPL's `pose`, `betas` and `gender`
  (3DPW, posed with `truth_models`); the prediction's `model` needs its H36M-17 regressor.
"""

from __future__ import annotations

import numpy as np

from eft_jax import body
from eft_jax.config import ConfigError
from eft_jax.eval.evaluation import (
    benchmark_scores,
    evaluate_fits,
    group_table,
    smpl_truth,
    summarize,
)
from eft_jax.eval.protocols import PROTOCOLS, missing_truth_joints


def _non_finite(record: dict) -> str | None:
    values = [np.asarray(v, np.float64) for k, v in record.items() if k != "gender"]
    if all(np.all(np.isfinite(v)) for v in values):
        return None
    return "ground truth has NaN or infinite values"


class SyntheticTruth:
    """Fits of the bundled open body against synthetic humans' truth (`eval.evaluation`). Built
    from the same context as every evaluator (`from_config`); synthetic humans need no dataset
    name or truth models."""

    description = "LSP-14 joints, hip-centred (eval.evaluation)"

    def __init__(self, model: body.BodyModel, dataset: str = "synthetic", truth_models=None):
        self.model = model

    def truth_problem(self, record: dict | None) -> str | None:
        if record is None:
            return "no 3D ground truth for this exemplar"
        return _non_finite(record)

    def scores(self, rotmats, betas, cameras, keypoints, records: list[dict]) -> dict:
        joints = np.stack([r["joints3d_spin49"] for r in records])
        vertices = np.stack([r["vertices"] for r in records])
        return evaluate_fits(self.model, rotmats, betas, cameras, keypoints, joints, vertices)

    def summary(self, per: dict) -> dict:
        return summarize(per)


class SpinProtocol:
    """A regressor's bodies against a 3D benchmark's truth by SPIN's protocol (`eval.protocols`)."""

    def __init__(self, model: body.BodyModel, dataset: str, truth_models: dict | None = None):
        if dataset not in PROTOCOLS:
            raise ConfigError(
                f"spin_protocol: no protocol for {dataset!r}; known: {list(PROTOCOLS)}"
            )
        self.model, self.protocol, self.truth_models = model, PROTOCOLS[dataset], truth_models
        self.description = self.protocol.frames

    def truth_problem(self, record: dict | None) -> str | None:
        if record is None:
            return "no 3D ground truth for this exemplar"
        if "S" in record:
            missing = missing_truth_joints(record["S"], self.protocol.joints)
            return f"ground-truth joints {missing} missing or non-finite in S" if missing else None
        return _non_finite(record)

    def scores(self, rotmats, betas, cameras, keypoints, records: list[dict]) -> dict:
        if self.protocol.smpl_truth:
            truth = smpl_truth(
                self.truth_models,
                np.stack([r["pose"] for r in records]),
                np.stack([r["betas"] for r in records]),
                [r["gender"] for r in records],
            )
        else:
            truth = {"S": np.stack([r["S"] for r in records])}
        return benchmark_scores(self.protocol, self.model, rotmats, betas, truth)

    def summary(self, per: dict) -> dict:
        return group_table(per, ["all"] * len(next(iter(per.values()))))[0]


EVALUATORS = {"synthetic_truth": SyntheticTruth, "spin_protocol": SpinProtocol}
# Each dataset's own evaluator (`eft-jax evaluate`), unless a config names another.
DATASET_EVALUATOR = {"synthetic": "synthetic_truth"}


def from_config(
    kind: str, *, model: body.BodyModel, dataset: str, truth_models: dict | None = None
):
    """The evaluator `kind` (a key of EVALUATORS) for predictions of `model` on `dataset`."""
    if kind not in EVALUATORS:
        raise ConfigError(f"unknown evaluator {kind!r}; known: {list(EVALUATORS)}")
    return EVALUATORS[kind](model, dataset, truth_models)
