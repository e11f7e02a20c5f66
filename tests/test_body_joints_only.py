"""The joints-only body path (`joints_model` + `forward_joints`) equals the full forward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax import body
from eft_jax.body.model import BodyModel

pytestmark = pytest.mark.fast_compiles

NUM_VERTICES = 80


def sparse_model(with_posedirs=True, with_h36m=True, seed=0):
    """Extra and H36M regressors that read a few vertices each, so the view keeps a subset."""
    rng = np.random.RandomState(seed)
    weights = rng.uniform(size=(NUM_VERTICES, 24)) ** 4
    weights /= weights.sum(1, keepdims=True)
    regressor = rng.uniform(size=(24, NUM_VERTICES))
    regressor /= regressor.sum(1, keepdims=True)

    def sparse_regressor(rows):
        r = np.zeros((rows, NUM_VERTICES))
        for j in range(rows):
            r[j, rng.choice(NUM_VERTICES, 3, replace=False)] = 1 / 3
        return jnp.asarray(r, jnp.float32)

    return BodyModel(
        v_template=jnp.asarray(rng.normal(size=(NUM_VERTICES, 3)), jnp.float32),
        shapedirs=jnp.asarray(rng.normal(scale=0.1, size=(NUM_VERTICES, 3, 10)), jnp.float32),
        posedirs=jnp.asarray(rng.normal(scale=0.01, size=(NUM_VERTICES, 3, 207)), jnp.float32)
        if with_posedirs
        else None,
        J_regressor=jnp.asarray(regressor, jnp.float32),
        weights=jnp.asarray(weights, jnp.float32),
        faces=jnp.zeros((1, 3), jnp.int32),
        vertex_keypoint_ids=jnp.asarray(rng.choice(NUM_VERTICES, 11, replace=False), jnp.int32),
        J_regressor_extra=sparse_regressor(9),
        J_regressor_h36m=sparse_regressor(17) if with_h36m else None,
    )


def assert_same_joints(full, joints_only, tolerance):
    """Equal up to `tolerance` x the largest coordinate (float32 sums in another order)."""
    assert joints_only.vertices is None
    for name in ("joints", "spin49", "coco17", "lsp14", "h36m17"):
        a, b = getattr(full, name), getattr(joints_only, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=0, atol=tolerance * np.abs(a).max(), err_msg=name)


def test_forward_joints_equals_forward_on_a_subset():
    model = sparse_model()
    view = body.joints_model(model)
    assert view.v_template.shape[0] < NUM_VERTICES  # it really skins fewer vertices
    rng = np.random.RandomState(1)
    pose = jnp.asarray(rng.normal(scale=0.5, size=(3, 24, 3)), jnp.float32)
    betas = jnp.asarray(rng.normal(size=(3, 10)), jnp.float32)
    # A concrete BodyModel (closed over) is converted at trace time; the view travels as an argument.
    joints_only = jax.jit(lambda p, b: body.forward_joints(model, p, b))
    assert_same_joints(jax.jit(body.forward)(model, pose, betas), joints_only(pose, betas), 1e-6)
    loss_full = jax.jit(jax.grad(lambda m, p: jnp.sum(body.forward(m, p, betas[0]).spin49 ** 2), 1))
    loss_view = jax.jit(
        jax.grad(lambda v, p: jnp.sum(body.forward_joints(v, p, betas[0]).spin49 ** 2), 1)
    )
    expected = loss_full(model, pose)
    np.testing.assert_allclose(
        loss_view(view, pose), expected, rtol=0, atol=1e-5 * np.abs(expected).max()
    )


def test_h36m_can_be_left_out_and_traced_models_are_refused():
    model = sparse_model()
    small = body.joints_model(model, include_h36m=False)
    assert small.J_regressor_h36m is None
    assert small.v_template.shape[0] <= body.joints_model(model).v_template.shape[0]
    with pytest.raises(ValueError, match="concrete arrays"):
        jax.jit(lambda m: body.forward_joints(m, jnp.zeros((24, 3)), jnp.zeros(10)).spin49)(model)


def test_bundled_model_joints_only_equals_full_forward():
    model = body.load()
    view = body.joints_model(model)
    assert view.v_template.shape[0] < model.num_vertices // 10
    rng = np.random.RandomState(2)
    pose = jnp.asarray(rng.normal(scale=0.4, size=(2, 24, 3)), jnp.float32)
    betas = jnp.asarray(rng.normal(size=(2, 10)), jnp.float32)
    assert_same_joints(
        body.forward(model, pose, betas), body.forward_joints(view, pose, betas), 1e-6
    )


def test_the_stages_are_the_forward_pass_and_a_view_has_no_mesh():
    model = sparse_model()
    view = body.joints_model(model)
    rng = np.random.RandomState(3)
    pose = jnp.asarray(rng.normal(scale=0.4, size=(2, 24, 3)), jnp.float32)
    betas = jnp.asarray(rng.normal(size=(2, 10)), jnp.float32)

    posed = model.with_shape(betas).with_pose(pose)
    assert posed.joint_rotations.shape == (2, 24, 3, 3) and posed.joints.shape == (2, 24, 3)
    skinned = posed.skin()
    full = body.forward(model, pose, betas, chunk_size=0)
    np.testing.assert_array_equal(skinned.vertices, full.vertices)
    for name in ("vertices", "joints", "spin49", "coco17", "lsp14", "h36m17"):
        np.testing.assert_array_equal(getattr(skinned.joint_sets(), name), getattr(full, name))
    assert posed.joint_sets().vertices is None
    np.testing.assert_array_equal(posed.joint_sets().spin49, full.spin49)

    view_posed = view.with_shape(betas).with_pose(pose)
    np.testing.assert_array_equal(
        view_posed.joint_sets().spin49, body.forward_joints(view, pose, betas).spin49
    )
    with pytest.raises(TypeError, match="no mesh"):
        view_posed.skin()
