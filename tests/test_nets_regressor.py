"""The regressor as EFT uses it: a pure function of (variables, images) under jit, vmap over
parameter copies, and grad with respect to named parameter subsets."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax.geometry.rotations import rot6d_to_rotmat
from eft_jax.nets import (
    PRESETS,
    Regressor,
    RegressorArch,
    bundled_mean_params,
    convert_spin_checkpoint,
    merge,
    open_body_mean_params,
    partition,
    predictor,
    restore_regressor,
)
from eft_jax.nets.mean_params import OPEN_BODY_MEAN_PARAMS_PATH, load_mean_params

pytestmark = pytest.mark.fast_compiles

FIXTURES = Path(__file__).resolve().parent / "fixtures"
IMAGE_SIZE = 32


@pytest.fixture(scope="module")
def restored(tmp_path_factory):
    # The parity fixture's random weights (non-trivial BatchNorm statistics, image-dependent
    # outputs); converting is much faster than compiling a fresh `init`.
    out_dir = tmp_path_factory.mktemp("regressor") / "ckpt"
    convert_spin_checkpoint(FIXTURES / "regressor_spin_r18_w16.pt", out_dir)
    return restore_regressor(out_dir)


@pytest.fixture(scope="module")
def regressor(restored):
    return restored.regressor


@pytest.fixture(scope="module")
def variables(restored):
    return restored.variables


@pytest.fixture(scope="module")
def images():
    return jax.random.normal(jax.random.key(2), (2, IMAGE_SIZE, IMAGE_SIZE, 3))


@pytest.fixture(scope="module")
def apply_eval(regressor):
    return jax.jit(regressor.apply)


def test_output_shapes_and_valid_rotations(regressor, variables, images, apply_eval):
    out = apply_eval(variables, images)
    assert out.rotmats.shape == (2, 24, 3, 3)
    assert out.pose6d.shape == (2, 144)
    assert out.betas.shape == (2, 10)
    assert out.camera.shape == (2, 3)
    assert out.features.shape == (2, regressor.arch.backbone.feature_width)
    rtr = jnp.einsum("bjki,bjkl->bjil", out.rotmats, out.rotmats)
    np.testing.assert_allclose(rtr, np.broadcast_to(np.eye(3), rtr.shape), atol=1e-5)
    np.testing.assert_allclose(jnp.linalg.det(out.rotmats), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        out.rotmats, rot6d_to_rotmat(out.pose6d.reshape(2, 24, 6)), atol=1e-5
    )


def test_predictor_takes_the_weights_as_an_argument_not_as_constants(
    regressor, variables, images, apply_eval
):
    """The jitted inference the jobs use equals apply in eval mode, and its program holds none of
    the weights (a ResNet-50's 100 MB would otherwise be compiled into it)."""
    predict = predictor(regressor, variables)
    out, expected = predict(images), apply_eval(variables, images)
    np.testing.assert_allclose(out.rotmats, expected.rotmats, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.betas, expected.betas, rtol=1e-6, atol=1e-6)
    other = jax.tree.map(lambda x: x + 1.0, variables)
    program = predict.func.lower(variables, images).as_text()
    assert predict.func.lower(other, images).as_text() == program
    assert not np.allclose(predict.func(other, images).camera, out.camera)  # and it reads them


def test_eval_is_deterministic_and_per_image(variables, images, apply_eval):
    first = apply_eval(variables, images)
    second = apply_eval(variables, images)
    for a, b in zip(jax.tree_util.tree_leaves(first), jax.tree_util.tree_leaves(second)):
        np.testing.assert_array_equal(a, b)
    # Running statistics, not batch statistics: an image's result does not depend on its batch.
    alone = apply_eval(variables, images[1:])
    np.testing.assert_allclose(alone.rotmats[0], first.rotmats[1], atol=1e-5)
    assert not np.allclose(first.rotmats[0], first.rotmats[1], atol=1e-3)


def test_train_mode_uses_dropout_and_updates_batch_stats(regressor, variables, images):
    out_a, stats_a = regressor.apply(variables, images, train=True, rng=jax.random.key(5))
    out_b, _ = regressor.apply(variables, images, train=True, rng=jax.random.key(5))
    out_c, _ = regressor.apply(variables, images, train=True, rng=jax.random.key(6))
    np.testing.assert_array_equal(out_a.camera, out_b.camera)
    assert not np.allclose(out_a.camera, out_c.camera)
    moved = jax.tree_util.tree_map(
        lambda a, b: bool(np.any(a != b)), stats_a, variables["batch_stats"]
    )
    assert all(jax.tree_util.tree_leaves(moved))
    with pytest.raises(ValueError, match="rng"):
        regressor.apply(variables, images, train=True)


def test_bad_image_shape_is_a_clear_error(regressor, variables):
    with pytest.raises(ValueError, match="NHWC"):
        regressor.apply(variables, jnp.zeros((2, 3, IMAGE_SIZE, IMAGE_SIZE)))


def test_vmap_over_parameter_copies_equals_a_loop(regressor, variables, images):
    copies = 3
    rng = np.random.default_rng(3)
    stacked = jax.tree_util.tree_map(
        lambda p: np.stack(
            [p * (1 + 0.05 * rng.standard_normal(p.shape, np.float32)) for _ in range(copies)]
        ),
        variables["params"],
    )
    batch_stats = variables["batch_stats"]
    batched = jax.jit(
        jax.vmap(lambda p: regressor.apply({"params": p, "batch_stats": batch_stats}, images))
    )(stacked)
    apply_one = jax.jit(
        lambda p: regressor.apply({"params": p, "batch_stats": batch_stats}, images)
    )
    for i in range(copies):
        single = apply_one(jax.tree_util.tree_map(lambda p, i=i: p[i], stacked))
        np.testing.assert_allclose(batched.pose6d[i], single.pose6d, atol=1e-5, rtol=1e-5)
        # Gram-Schmidt of a few nearly parallel 6D columns amplifies float32 rounding ~10x.
        np.testing.assert_allclose(batched.rotmats[i], single.rotmats, atol=1e-4)
        np.testing.assert_allclose(batched.betas[i], single.betas, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(batched.camera[i], single.camera, atol=1e-5, rtol=1e-5)
    assert not np.allclose(batched.rotmats[0], batched.rotmats[1], atol=1e-4)


def _loss(regressor, params, batch_stats, images):
    out = regressor.apply({"params": params, "batch_stats": batch_stats}, images)
    return (
        jnp.sum(out.rotmats**2 * jnp.arange(9.0).reshape(3, 3))
        + jnp.sum(out.betas**2)
        + jnp.sum(out.camera**2)
    )


@pytest.fixture(scope="module")
def full_grads(regressor, variables, images):
    batch_stats = variables["batch_stats"]
    return jax.jit(jax.grad(lambda p: _loss(regressor, p, batch_stats, images)))(
        variables["params"]
    )


@pytest.mark.parametrize("selection", ["layer4+head", "decoders"])
def test_grad_with_respect_to_a_subset(regressor, variables, images, full_grads, selection):
    trainable, frozen = partition(variables["params"], selection, include_batchnorm=False)
    batch_stats = variables["batch_stats"]
    grads = jax.jit(jax.grad(lambda t: _loss(regressor, merge(t, frozen), batch_stats, images)))(
        trainable
    )
    # Gradients exist for exactly the trainable leaves, are finite and not all zero per module.
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(trainable)
    for name, module_grads in grads.items():
        leaves = jax.tree_util.tree_leaves(module_grads)
        assert all(np.all(np.isfinite(g)) for g in leaves), name
        assert any(np.any(g != 0) for g in leaves), name
    # ... and equal the full gradient restricted to them (frozen parameters only lose theirs).
    restricted, _ = partition(full_grads, selection, include_batchnorm=False)
    for g, f in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(restricted)):
        # Two differently compiled float32 programs, through Gram-Schmidt of some nearly parallel
        # 6D columns: they agree to ~2e-4 of the largest entry.
        np.testing.assert_allclose(g, f, rtol=0, atol=1e-3 * float(np.max(np.abs(f))))
    assert "layer1" not in grads and "conv1" not in grads
    if selection == "layer4+head":
        assert "bn1" not in grads["layer4"]["0"] and "conv1" in grads["layer4"]["0"]


def test_fresh_init_follows_spin():
    regressor = Regressor(RegressorArch.reduced(depth=18, width_divisor=16))
    # The rbg generator compiles several times faster than the default threefry.
    variables = regressor.init(jax.random.key(4, impl="rbg"), IMAGE_SIZE)
    params = variables["params"]
    width = regressor.arch.head_width
    expected_std = 0.01 * np.sqrt(2.0 / (width + 144))  # xavier-uniform, gain 0.01
    np.testing.assert_allclose(np.std(params["decpose"]["kernel"]), expected_std, rtol=0.1)
    np.testing.assert_array_equal(params["bn1"]["scale"], 1.0)
    np.testing.assert_array_equal(variables["batch_stats"]["bn1"]["var"], 1.0)
    kernel = params["layer3"]["0"]["conv2"]["kernel"]  # He-normal over fan-out
    np.testing.assert_allclose(np.std(kernel), np.sqrt(2.0 / (9 * kernel.shape[-1])), rtol=0.1)


def test_presets_cover_the_groups():
    assert set(PRESETS["all"]) == set(PRESETS["backbone"]) | set(PRESETS["head"])


def test_bundled_mean_params_are_an_upright_a_pose():
    mean = bundled_mean_params()
    expected = open_body_mean_params()
    for field in mean._fields:
        np.testing.assert_array_equal(getattr(mean, field), getattr(expected, field))
    assert load_mean_params(OPEN_BODY_MEAN_PARAMS_PATH).pose.dtype == np.float32
    rotmats = np.asarray(rot6d_to_rotmat(jnp.asarray(mean.pose).reshape(24, 6)))
    # Root: pi about x (SPIN's mean has the body upright in image coordinates, y down).
    np.testing.assert_allclose(rotmats[0], np.diag([1.0, -1.0, -1.0]), atol=1e-6)
    # Left shoulder (16) turns the left arm (+x) downwards (-y) in the body frame; right mirrors.
    assert (rotmats[16] @ [1.0, 0, 0])[1] < -0.5
    assert (rotmats[17] @ [-1.0, 0, 0])[1] < -0.5
    np.testing.assert_array_equal(mean.shape, 0.0)
    np.testing.assert_allclose(mean.cam, [0.9, 0.0, 0.0])
