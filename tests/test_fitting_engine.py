"""The batched EFT engine against the plain sequential EFT (eft_jax.fitting.reference), with
exemplars that stop at different iterations, continuous and static batching, several lowerings,
bad exemplars and determinism. The setup (a tiny regressor on 32 px crops, the bundled body model,
seven exemplars and a stop threshold calibrated on them) is conftest's `calibrated_eft`."""

from __future__ import annotations

import copy
import dataclasses

import jax
import numpy as np
import pytest
from tiny_eft import IMAGE_SIZE, assert_results_close, assert_results_identical

from eft_jax import fitting
from eft_jax.fitting.multistart import TurnedRegressor

pytestmark = pytest.mark.fast_compiles


@pytest.fixture(scope="module")
def eft_setup(calibrated_eft):
    """(regressor, variables, body model, calibrated EFT config)."""
    return calibrated_eft[:4]


@pytest.fixture(scope="module")
def exemplars(calibrated_eft):
    return calibrated_eft[4]


@pytest.fixture(scope="module")
def reference_results(eft_setup, exemplars):
    regressor, variables, model, config = eft_setup
    return list(
        fitting.SequentialEft(regressor, variables, model, config, crop_size=IMAGE_SIZE).fit_all(
            exemplars
        )
    )


@pytest.fixture(scope="module")
def engine(eft_setup):
    regressor, variables, model, config = eft_setup
    return fitting.EftEngine(regressor, variables, model, config, crop_size=IMAGE_SIZE)


def test_reference_exemplars_stop_at_different_iterations(reference_results):
    """The calibrated threshold does what it was chosen for in a fit of its own (not only in the
    losses it was chosen from)."""
    iterations = [r.iterations for r in reference_results]
    reasons = {r.stop_reason for r in reference_results}
    assert len(set(iterations)) >= 3, iterations
    assert reasons == {"converged", "max_iters"}
    assert all(
        r.keypoint_loss_after <= r.keypoint_loss_before
        for r in reference_results
        if r.iterations > 1
    )


def completion_steps(exemplar_ids, passes: dict, batch_size: int) -> dict:
    """Continuous batching with `batch_size` slots, simulated: the step at which each exemplar
    stops, given how many passes it runs; a stopped slot takes the next exemplar before the next
    step."""
    waiting, running, stops, step = list(exemplar_ids), {}, {}, 0
    while waiting or running:
        while waiting and len(running) < batch_size:
            exemplar_id = waiting.pop(0)
            running[exemplar_id] = step + passes[exemplar_id]
        step += 1
        for exemplar_id in [i for i, last in running.items() if last == step]:
            stops[exemplar_id] = running.pop(exemplar_id)
    return stops


@pytest.mark.parametrize("continuous", [True, False], ids=["continuous", "static"])
def test_engine_matches_sequential_reference(engine, exemplars, reference_results, continuous):
    results = list(fitting.fit_stream(exemplars, engine, continuous=continuous))
    assert sorted(r.id for r in results) == sorted(e.id for e in exemplars)
    by_id = {r.id: r for r in results}
    for expected in reference_results:
        assert_results_close(by_id[expected.id], expected)


def test_continuous_batching_emits_in_completion_order(engine, exemplars, reference_results):
    """Results come out in the order their fits stop, which is not the input order: exemplars
    loaded later overtake ones loaded earlier."""
    order = [e.id for e in exemplars[::-1]]
    steps = completion_steps(
        order, {r.id: r.iterations for r in reference_results}, engine.batch_size
    )
    emitted = [r.id for r in fitting.fit_stream(exemplars[::-1], engine, continuous=True)]
    assert sorted(emitted) == sorted(order)
    assert [steps[i] for i in emitted] == sorted(steps.values())
    assert sorted(order, key=steps.get) != order  # the calibration makes some exemplar overtake


# vmap+im2col is the CPU default that test_engine_matches_sequential_reference already runs.
@pytest.mark.parametrize(
    "lowering", ["vmap", "map", "chunked", pytest.param("vmap+im2col", marks=pytest.mark.slow)]
)
def test_lowerings_agree_with_reference(eft_setup, exemplars, reference_results, lowering):
    regressor, variables, model, config = eft_setup
    engine = fitting.EftEngine(
        regressor, variables, model, config, crop_size=IMAGE_SIZE, lowering=lowering
    )
    by_id = {r.id: r for r in fitting.fit_stream(exemplars[:5], engine)}
    for expected in reference_results[:5]:
        assert_results_close(by_id[expected.id], expected)


@pytest.mark.parametrize("lowering, convolutions", [("vmap", True), ("vmap+im2col", False)])
def test_im2col_lowering_leaves_no_convolution(eft_setup, lowering, convolutions):
    regressor, variables, model, config = eft_setup
    engine = fitting.EftEngine(
        regressor, variables, model, config, crop_size=IMAGE_SIZE, lowering=lowering
    )
    jaxpr = str(engine._step.trace(engine.empty_slots(), engine.frozen, engine.numbers).jaxpr)
    assert ("conv_general_dilated" in jaxpr) == convolutions


def test_runs_differing_in_rate_threshold_and_iterations_share_one_program(engine, eft_setup):
    """The learning rate, stop threshold and most iterations are arguments of the compiled step
    (`StepNumbers`), not constants in it: a sweep over them compiles once."""
    regressor, variables, model, config = eft_setup
    other_config = copy.deepcopy(config)
    other_config.optimizer.learning_rate = 2 * config.optimizer.learning_rate
    other_config.stop_threshold = 0.5 * config.stop_threshold
    other_config.max_iters = config.max_iters + 3
    other = fitting.EftEngine(regressor, variables, model, other_config, crop_size=IMAGE_SIZE)
    assert other.numbers != engine.numbers

    def program(e):
        return e._step.lower(e.empty_slots(), e.frozen, e.numbers, np.int32(1)).as_text()

    assert program(other) == program(engine)


def test_iterations_per_call_changes_no_fit(eft_setup, exemplars):
    """The iterations a call runs are an argument of one program, and a call ends after the
    iteration in which a slot stops: 1, 3 or 16 per call give the same fits bit for bit (so a run
    resumes under another value, `fitting.run.SCHEDULING_ONLY`)."""
    regressor, variables, model, config = eft_setup
    fits = {}
    for count in (1, 3, 16):
        other = copy.deepcopy(config)
        other.iterations_per_call = count
        engine = fitting.EftEngine(regressor, variables, model, other, crop_size=IMAGE_SIZE)
        fits[count] = sorted(fitting.fit_stream(exemplars, engine), key=lambda r: r.id)
    assert len({r.iterations for r in fits[1]}) > 1  # the exemplars stop at different iterations
    for count in (3, 16):
        for actual, expected in zip(fits[count], fits[1], strict=True):
            assert_results_identical(actual, expected)


def test_engines_built_alike_share_one_jitted_step_and_others_do_not(engine, eft_setup, exemplars):
    """A second engine with the same regressor architecture, loss settings and lowering (another
    run in the same process) reuses the first one's jitted step, so it traces and compiles
    nothing again, and fits with its own weights; a change in anything the program depends on
    gets a step of its own."""
    regressor, variables, model, config = eft_setup
    fresh_regressor = type(regressor)(regressor.arch, regressor.mean_params)
    other_weights = jax.tree.map(lambda x: x * 1.05, variables)
    alike = fitting.EftEngine(fresh_regressor, other_weights, model, config, crop_size=IMAGE_SIZE)
    assert alike._step is engine._step
    (mine,) = fitting.fit_stream(exemplars[:1], engine)
    (theirs,) = fitting.fit_stream(exemplars[:1], alike)
    assert not np.allclose(theirs.camera, mine.camera)  # the weights are not in the program
    other_loss = copy.deepcopy(config)
    other_loss.loss.keypoint_weight = 2 * config.loss.keypoint_weight
    other_adam = copy.deepcopy(config)
    other_adam.optimizer.b2 = 0.99
    for other_config, lowering in ((other_loss, None), (other_adam, None), (config, "map")):
        other = fitting.EftEngine(
            regressor, variables, model, other_config, crop_size=IMAGE_SIZE, lowering=lowering
        )
        assert other._step is not engine._step
    turned = fitting.EftEngine(
        TurnedRegressor(regressor), variables, model, config, crop_size=IMAGE_SIZE
    )
    turned_alike = fitting.EftEngine(
        TurnedRegressor(fresh_regressor), variables, model, config, crop_size=IMAGE_SIZE
    )
    assert turned._step is not engine._step and turned_alike._step is turned._step
    tilted = TurnedRegressor(regressor, np.diag([1.0, -1.0, -1.0]))
    tilted_engine = fitting.EftEngine(tilted, variables, model, config, crop_size=IMAGE_SIZE)
    assert tilted_engine._step is not turned._step


def test_a_reused_slot_starts_again_from_the_base_weights(engine, exemplars):
    """The base weights are never written: a slot that fitted one exemplar and is refilled with
    the next starts from the base weights and a fresh Adam state, so the next exemplar's fit is
    the one it gets alone, bit for bit."""
    alone = {e.id: next(fitting.fit_stream([e], engine)) for e in exemplars[:3]}
    # The last four exemplars fill the 4 slots; the first three then reuse slots they leave.
    assert engine.batch_size == 4
    results = {r.id: r for r in fitting.fit_stream(exemplars[3:][::-1] + exemplars[:3], engine)}
    for exemplar_id, expected in alone.items():
        assert_results_identical(results[exemplar_id], expected)


def test_same_inputs_same_outputs(engine, exemplars):
    first = list(fitting.fit_stream(exemplars, engine))
    second = list(fitting.fit_stream(exemplars, engine))
    for a, b in zip(first, second):
        assert_results_identical(a, b)


def test_bad_exemplars_are_skipped_with_reasons_and_change_nothing_else(engine, exemplars):
    good = exemplars[:4]
    nan_keypoints = dataclasses.replace(good[0], id="nan", keypoints=good[0].keypoints.copy())
    nan_keypoints.keypoints[31, 0] = np.nan
    no_confidence = dataclasses.replace(
        good[0], id="zero-conf", keypoints=good[0].keypoints * [1, 1, 0]
    )
    blank = dataclasses.replace(good[0], id="blank", image=np.full_like(good[0].image, 0.3))
    # Finite inputs whose loss overflows float32: stopped by the engine itself.
    overflow = dataclasses.replace(good[0], id="overflow", keypoints=good[0].keypoints.copy())
    overflow.keypoints[31, :2] = 1e30
    mixed = [good[0], nan_keypoints, good[1], overflow, no_confidence, good[2], blank, good[3]]

    results = {r.id: r for r in fitting.fit_stream(mixed, engine)}
    assert len(results) == len(mixed)
    assert "NaN" in results["nan"].stop_reason
    assert "no keypoint has weight" in results["zero-conf"].stop_reason
    assert "blank image" in results["blank"].stop_reason
    assert results["overflow"].stop_reason == "skipped: non-finite loss at iteration 1"
    for name in ("nan", "zero-conf", "blank", "overflow"):
        assert results[name].skipped and results[name].rotmats is None
    for exemplar in good:
        alone = next(fitting.fit_stream([exemplar], engine))
        assert_results_identical(results[exemplar.id], alone)


def test_missing_joints_may_have_nan_coordinates(engine, exemplars):
    marked = dataclasses.replace(exemplars[1], keypoints=exemplars[1].keypoints.copy())
    marked.keypoints[[2, 40], 2] = 0.0
    zeroed = dataclasses.replace(marked, keypoints=marked.keypoints.copy())
    marked.keypoints[[2, 40], :2] = np.nan
    zeroed.keypoints[[2, 40], :2] = 0.0
    assert_results_identical(
        next(fitting.fit_stream([marked], engine)), next(fitting.fit_stream([zeroed], engine))
    )


def test_skip_ids_resume_a_stream(engine, exemplars):
    done = {"ex0", "ex3"}
    results = list(fitting.fit_stream(exemplars, engine, skip_ids=done))
    assert sorted(r.id for r in results) == sorted(e.id for e in exemplars if e.id not in done)


def test_trainable_subset_keeps_other_weights_shared(eft_setup, exemplars):
    regressor, variables, model, config = eft_setup
    config = config.copy_and_resolve_references()
    config.trainable = "decoders"
    engine = fitting.EftEngine(regressor, variables, model, config, crop_size=IMAGE_SIZE)
    assert set(engine.base) == {"decpose", "decshape", "deccam"}
    assert "layer1" in engine.frozen.params and "fc1" in engine.frozen.params
    expected = fitting.SequentialEft(regressor, variables, model, config, crop_size=IMAGE_SIZE).fit(
        exemplars[4]
    )
    assert_results_close(next(fitting.fit_stream([exemplars[4]], engine)), expected)
