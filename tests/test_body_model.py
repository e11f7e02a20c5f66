"""Forward pass properties on a small random SMPL-layout model (parity with smplx is elsewhere)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax import geometry as geo
from eft_jax.body import joint_sets
from eft_jax.body.model import BodyModel, forward, pose_to_rotmats

pytestmark = pytest.mark.fast_compiles

NUM_VERTICES = 60


def small_model(with_posedirs=True, with_extra=True, seed=0):
    rng = np.random.RandomState(seed)
    v = rng.normal(size=(NUM_VERTICES, 3)).astype(np.float32)
    weights = rng.uniform(size=(NUM_VERTICES, 24)) ** 4
    weights /= weights.sum(1, keepdims=True)
    regressor = rng.uniform(size=(24, NUM_VERTICES))
    regressor /= regressor.sum(1, keepdims=True)
    extra = rng.uniform(size=(9, NUM_VERTICES))
    extra /= extra.sum(1, keepdims=True)
    return BodyModel(
        v_template=jnp.asarray(v),
        shapedirs=jnp.asarray(rng.normal(scale=0.1, size=(NUM_VERTICES, 3, 10)), jnp.float32),
        posedirs=(
            jnp.asarray(rng.normal(scale=0.01, size=(NUM_VERTICES, 3, 207)), jnp.float32)
            if with_posedirs
            else None
        ),
        J_regressor=jnp.asarray(regressor, jnp.float32),
        weights=jnp.asarray(weights, jnp.float32),
        faces=jnp.asarray(rng.randint(0, NUM_VERTICES, size=(20, 3)), jnp.int32),
        vertex_keypoint_ids=jnp.arange(11, dtype=jnp.int32),
        J_regressor_extra=jnp.asarray(extra, jnp.float32) if with_extra else None,
    )


def random_pose(rng, batch=(), scale=0.5):
    return jnp.asarray(rng.normal(scale=scale, size=batch + (24, 3)), jnp.float32)


def test_zero_pose_gives_shaped_template_and_rest_joints():
    model = small_model()
    betas = jnp.asarray(np.random.RandomState(1).normal(size=10), jnp.float32)
    out = forward(model, jnp.zeros((24, 3)), betas)
    v_shaped = model.v_template + jnp.einsum("vcs,s->vc", model.shapedirs, betas)
    np.testing.assert_allclose(out.vertices, v_shaped, atol=1e-6)
    np.testing.assert_allclose(out.joints, model.J_regressor @ v_shaped, atol=1e-6)


def test_root_rotation_rotates_whole_body_about_root_joint():
    model = small_model(with_posedirs=False)
    rng = np.random.RandomState(2)
    pose = random_pose(rng)
    root = jnp.array([0.3, -1.1, 0.4])
    rest = forward(model, pose, jnp.zeros(10))
    turned = forward(model, pose.at[0].set(0.0), jnp.zeros(10))
    # Rotating the root on top of a pose whose root is identity rotates everything about joint 0.
    r = geo.axis_angle_to_rotmat(root)
    turned_root = forward(model, pose.at[0].set(root), jnp.zeros(10))
    j0 = turned.joints[0]
    np.testing.assert_allclose(turned_root.vertices, (turned.vertices - j0) @ r.T + j0, atol=1e-5)
    assert not np.allclose(rest.vertices, turned.vertices)


def test_single_joint_rotation_moves_only_its_descendants_rigidly():
    model = small_model(with_posedirs=False)
    # Hard skinning: each vertex follows one part, so rotating the left knee must move exactly
    # the vertices of the left knee, ankle and foot, rigidly about the knee's rest position.
    part = np.arange(NUM_VERTICES) % 24
    hard = jax.nn.one_hot(part, 24, dtype=jnp.float32)
    model = model.replace(weights=hard)
    knee = joint_sets.SMPL_JOINT_NAMES.index("left_knee")
    aa = jnp.zeros((24, 3)).at[knee].set(jnp.array([1.0, 0.2, 0.0]))
    rest = forward(model, jnp.zeros((24, 3)), jnp.zeros(10))
    bent = forward(model, aa, jnp.zeros(10))
    descendants = {knee, 7, 10}  # left knee, left ankle, left foot
    moving = np.isin(part, list(descendants))
    np.testing.assert_allclose(bent.vertices[~moving], rest.vertices[~moving], atol=1e-6)
    r = geo.axis_angle_to_rotmat(aa[knee])
    pivot = rest.joints[knee]
    np.testing.assert_allclose(
        bent.vertices[moving], (rest.vertices[moving] - pivot) @ r.T + pivot, atol=1e-5
    )


def test_rotmat_and_axis_angle_inputs_agree():
    model = small_model()
    rng = np.random.RandomState(3)
    pose = random_pose(rng, batch=(4,))
    betas = jnp.asarray(rng.normal(size=(4, 10)), jnp.float32)
    from_aa = forward(model, pose, betas)
    from_mats = forward(model, geo.axis_angle_to_rotmat(pose), betas)
    from_flat = forward(model, pose.reshape(4, 72), betas)
    np.testing.assert_allclose(from_aa.vertices, from_mats.vertices, atol=1e-6)
    np.testing.assert_allclose(from_aa.vertices, from_flat.vertices, atol=1e-6)


def test_posedirs_none_equals_zero_posedirs():
    with_zero = small_model().replace(posedirs=jnp.zeros((NUM_VERTICES, 3, 207)))
    without = small_model(with_posedirs=False)
    pose = random_pose(np.random.RandomState(4))
    np.testing.assert_allclose(
        forward(with_zero, pose, jnp.zeros(10)).vertices,
        forward(without, pose, jnp.zeros(10)).vertices,
        atol=1e-6,
    )


def test_jit_vmap_and_batch_agree():
    model = small_model()
    rng = np.random.RandomState(5)
    pose = random_pose(rng, batch=(3, 2))
    betas = jnp.asarray(rng.normal(size=(3, 2, 10)), jnp.float32)
    batched = forward(model, pose, betas)
    jitted = jax.jit(forward)(model, pose, betas)
    mapped = jax.vmap(jax.vmap(forward, in_axes=(None, 0, 0)), in_axes=(None, 0, 0))(
        model, pose, betas
    )
    single = forward(model, pose[1, 0], betas[1, 0])
    assert batched.vertices.shape == (3, 2, NUM_VERTICES, 3)
    assert batched.spin49.shape == (3, 2, 49, 3)
    np.testing.assert_allclose(jitted.vertices, batched.vertices, atol=1e-5)
    np.testing.assert_allclose(mapped.spin49, batched.spin49, atol=1e-5)
    np.testing.assert_allclose(single.vertices, batched.vertices[1, 0], atol=1e-5)


def test_gradients_finite_at_zero_pose_and_match_finite_differences():
    model = small_model()

    def loss(pose, betas):
        return jnp.sum(forward(model, pose, betas).spin49 ** 2)

    # jitted: one compile for both points instead of op-by-op dispatch
    gradient = jax.jit(jax.grad(loss, argnums=(0, 1)))
    g_pose, g_betas = gradient(jnp.zeros((24, 3)), jnp.zeros(10))
    assert np.all(np.isfinite(g_pose)) and np.all(np.isfinite(g_betas))
    assert np.abs(g_pose).max() > 0

    pose = random_pose(np.random.RandomState(6), scale=0.3)
    betas = jnp.asarray(np.random.RandomState(7).normal(size=10), jnp.float32)
    direction = jnp.asarray(np.random.RandomState(8).normal(size=(24, 3)), jnp.float32)
    analytic = jnp.sum(gradient(pose, betas)[0] * direction)
    # Central differences in float64, so their own error stays far below the tolerance.
    with jax.enable_x64(True):
        pose64, betas64, direction64 = (
            jnp.asarray(np.asarray(a), jnp.float64) for a in (pose, betas, direction)
        )
        model64 = jax.tree.map(
            lambda x: x.astype(jnp.float64) if x.dtype == jnp.float32 else x, model
        )

        @jax.jit
        def loss64(p):
            return jnp.sum(forward(model64, p, betas64).spin49 ** 2)

        eps = 1e-5
        numeric = float(
            (loss64(pose64 + eps * direction64) - loss64(pose64 - eps * direction64)) / (2 * eps)
        )
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4)


def test_joint_sets_without_extra_regressor():
    model = small_model(with_extra=False)
    out = forward(model, jnp.zeros((24, 3)), jnp.zeros(10))
    available = model.spin49_available
    assert available.sum() == 49 - 9
    assert out.lsp14 is None and out.h36m17 is None
    np.testing.assert_array_equal(out.spin49[~available], 0.0)
    # Slots that need no extra regressor are the right skeleton joints / vertices.
    names = joint_sets.SPIN49_NAMES
    np.testing.assert_allclose(out.spin49[names.index("OP RWrist")], out.joints[21])
    np.testing.assert_allclose(out.spin49[names.index("OP Nose")], out.vertices[0])
    # COCO hips fall back to SMPL's hip joints.
    np.testing.assert_allclose(out.coco17[joint_sets.COCO17_NAMES.index("left_hip")], out.joints[1])


def test_joint_sets_with_extra_regressor():
    model = small_model(with_extra=True)
    out = forward(model, random_pose(np.random.RandomState(9)), jnp.zeros(10))
    assert model.spin49_available.all()
    extra = model.J_regressor_extra @ out.vertices
    names = joint_sets.SPIN49_NAMES
    np.testing.assert_allclose(out.spin49[names.index("Top of Head (LSP)")], extra[3], atol=1e-6)
    np.testing.assert_allclose(out.lsp14, out.spin49[25:39])
    np.testing.assert_allclose(
        out.coco17[joint_sets.COCO17_NAMES.index("right_hip")], extra[0], atol=1e-6
    )


def test_bad_shapes_raise_clear_errors():
    model = small_model()
    with pytest.raises(ValueError, match="pose must have shape"):
        forward(model, jnp.zeros((23, 3)), jnp.zeros(10))
    with pytest.raises(ValueError, match="betas must have shape"):
        forward(model, jnp.zeros((24, 3)), jnp.zeros(8))
    with pytest.raises(ValueError, match="pose must have shape"):
        pose_to_rotmats(jnp.zeros((24, 4)))


def test_chunked_batches_equal_one_shot_and_broadcast_betas():
    model = small_model()
    rng = np.random.RandomState(10)
    pose = random_pose(rng, batch=(5, 7))  # 35 bodies: two full chunks of 16 and a remainder
    betas = jnp.asarray(rng.normal(size=(10,)), jnp.float32)
    # jitted, as the fits pose bodies: one compile each instead of op-by-op dispatch
    chunked = jax.jit(lambda p: forward(model, p, betas, chunk_size=16))(pose)
    one_shot = jax.jit(
        lambda p: forward(model, p, jnp.broadcast_to(betas, (5, 7, 10)), chunk_size=0)
    )(pose)
    assert chunked.vertices.shape == (5, 7, NUM_VERTICES, 3)
    np.testing.assert_allclose(chunked.vertices, one_shot.vertices, atol=1e-5)
    np.testing.assert_allclose(chunked.spin49, one_shot.spin49, atol=1e-5)

    def joints_gradient(chunk_size):
        def energy(p):
            return jnp.sum(forward(model, p, betas, chunk_size=chunk_size).joints ** 2)

        return jax.jit(jax.grad(energy))(pose)

    grad_chunked, grad_one_shot = joints_gradient(16), joints_gradient(0)
    np.testing.assert_allclose(grad_chunked, grad_one_shot, rtol=1e-4, atol=1e-4)
