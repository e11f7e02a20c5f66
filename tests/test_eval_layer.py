"""The evaluation layer's shared pieces: one held-out set, whole or in pieces, and the evaluator
plug-ins a config names."""

from __future__ import annotations

import numpy as np
import pytest

from eft_jax.config import ConfigError
from eft_jax.datasets.synthetic import make_samples
from eft_jax.eval import evaluators
from eft_jax.eval.evaluation import evaluate_fits, summarize
from eft_jax.eval.heldout import heldout_pieces, heldout_set
from eft_jax.eval.protocols import PROTOCOLS

pytestmark = pytest.mark.fast_compiles

SEEDS = range(30_000_000, 30_000_003)


@pytest.fixture(scope="module")
def humans():
    return heldout_set(SEEDS, crop_size=32)


def test_a_heldout_set_is_the_same_whole_or_in_pieces(humans):
    pieces = list(heldout_pieces(SEEDS, crop_size=32, piece=2))
    assert [len(p["seed"]) for p in pieces] == [2, 1]
    whole = make_samples(SEEDS, crop_size=32, with_vertices=True)
    assert set(humans) == set(whole)
    for key in whole:
        np.testing.assert_array_equal(humans[key], whole[key])
        np.testing.assert_array_equal(np.concatenate([p[key] for p in pieces]), whole[key])


def test_synthetic_truth_scores_as_the_evaluator(open_body, humans):
    evaluator = evaluators.from_config("synthetic_truth", model=open_body, dataset="synthetic")
    records = [
        {"joints3d_spin49": j, "vertices": v}
        for j, v in zip(humans["joints3d_spin49"], humans["vertices"])
    ]
    rotmats = np.repeat(np.eye(3, dtype=np.float32)[None, None], 3, 0).repeat(24, 1)
    betas, cameras = np.zeros((3, 10), np.float32), np.tile(np.float32([0.9, 0, 0]), (3, 1))
    per = evaluator.scores(rotmats, betas, cameras, humans["keypoints"], records)
    expected = evaluate_fits(
        open_body,
        rotmats,
        betas,
        cameras,
        humans["keypoints"],
        humans["joints3d_spin49"],
        humans["vertices"],
    )
    assert per.keys() == expected.keys()
    for key in per:
        np.testing.assert_array_equal(per[key], expected[key])
    assert evaluator.summary(per) == summarize(expected)
    assert evaluator.truth_problem(None) == "no 3D ground truth for this exemplar"
    assert evaluator.truth_problem(records[0]) is None
    broken = {**records[0], "vertices": np.full_like(records[0]["vertices"], np.nan)}
    assert evaluator.truth_problem(broken) == "ground truth has NaN or infinite values"


def test_spin_protocol_names_missing_truth_joints(open_body):
    evaluator = evaluators.from_config("spin_protocol", model=open_body, dataset="mpi-inf-3dhp")
    assert evaluator.description == PROTOCOLS["mpi-inf-3dhp"].frames
    s = np.ones((24, 4), np.float32)
    assert evaluator.truth_problem({"S": s}) is None
    s[14, 3] = 0.0  # the MPII pelvis's confidence
    assert "missing or non-finite in S" in evaluator.truth_problem({"S": s})


def test_unknown_evaluators_and_protocols_are_config_errors(open_body):
    with pytest.raises(ConfigError, match="unknown evaluator 'nope'"):
        evaluators.from_config("nope", model=open_body, dataset="synthetic")
    with pytest.raises(ConfigError, match="no protocol for 'synthetic'"):
        evaluators.from_config("spin_protocol", model=open_body, dataset="synthetic")
