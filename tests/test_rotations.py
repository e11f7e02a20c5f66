"""Rotation conversions: round trips, special angles, SPIN's 6D layout and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax import geometry as geo

pytestmark = pytest.mark.fast_compiles

jax.config.update("jax_enable_x64", False)


def reference_rotmat(axis_angle):
    """Rodrigues in float64 numpy, straight from the definition."""
    axis_angle = np.asarray(axis_angle, np.float64)
    angle = np.linalg.norm(axis_angle)
    if angle == 0:
        return np.eye(3)
    k = axis_angle / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def random_axis_angles(n, seed=0, max_angle=np.pi):
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = rng.uniform(0, max_angle, size=(n, 1))
    return (axes * angles).astype(np.float32)


def test_axis_angle_to_rotmat_matches_definition():
    aa = random_axis_angles(200)
    expected = np.stack([reference_rotmat(a) for a in aa])
    np.testing.assert_allclose(geo.axis_angle_to_rotmat(jnp.asarray(aa)), expected, atol=2e-6)


def test_known_rotation_quarter_turn_about_z():
    r = np.asarray(geo.axis_angle_to_rotmat(jnp.array([0.0, 0.0, np.pi / 2])))
    np.testing.assert_allclose(r @ np.array([1.0, 0, 0]), [0, 1, 0], atol=1e-6)


@pytest.mark.parametrize("scale", [0.0, 1e-8, 1e-5, 1e-3, 0.5])
def test_small_angles_are_exact_and_orthonormal(scale):
    aa = random_axis_angles(50, seed=1) / np.pi * scale
    r = np.asarray(geo.axis_angle_to_rotmat(jnp.asarray(aa)), np.float64)
    expected = np.stack([reference_rotmat(a) for a in aa.astype(np.float64)])
    np.testing.assert_allclose(r, expected, atol=1e-7)
    np.testing.assert_allclose(
        r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=1e-6
    )


def test_rotmat_to_axis_angle_round_trip_generic():
    aa = random_axis_angles(500, seed=2, max_angle=3.0)
    back = geo.rotmat_to_axis_angle(geo.axis_angle_to_rotmat(jnp.asarray(aa)))
    np.testing.assert_allclose(back, aa, atol=2e-5)


@pytest.mark.parametrize("angle", [np.pi - 1e-2, np.pi - 1e-4, np.pi])
def test_rotmat_to_axis_angle_near_pi(angle):
    # Near pi the axis is only defined up to sign; compare the rotations they produce and the angle.
    rng = np.random.default_rng(3)
    axes = rng.normal(size=(100, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    rotmats = np.stack([reference_rotmat(a * angle) for a in axes]).astype(np.float32)
    back = np.asarray(geo.rotmat_to_axis_angle(jnp.asarray(rotmats)))
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), angle, atol=1e-4)
    np.testing.assert_allclose(geo.axis_angle_to_rotmat(jnp.asarray(back)), rotmats, atol=1e-5)
    # The axis matches up to sign.
    cos = np.abs(np.sum(back / np.linalg.norm(back, axis=1, keepdims=True) * axes, axis=1))
    np.testing.assert_allclose(cos, 1.0, atol=1e-5)


def test_rotmat_to_axis_angle_identity_is_zero():
    np.testing.assert_array_equal(geo.rotmat_to_axis_angle(jnp.eye(3)), np.zeros(3))


def test_quaternion_round_trip_and_sign():
    aa = random_axis_angles(300, seed=4)
    q = geo.axis_angle_to_quaternion(jnp.asarray(aa))
    np.testing.assert_allclose(jnp.linalg.norm(q, axis=-1), 1.0, atol=1e-6)
    q_from_r = geo.rotmat_to_quaternion(geo.axis_angle_to_rotmat(jnp.asarray(aa)))
    assert np.all(np.asarray(q_from_r)[:, 0] >= 0)
    np.testing.assert_allclose(q_from_r, q, atol=3e-6)
    np.testing.assert_allclose(geo.quaternion_to_axis_angle(q), aa, atol=3e-6)


def test_rot6d_layout_is_spins():
    # SPIN reads the 6 numbers as a (3, 2) matrix whose columns are the first two columns of R.
    r = np.asarray(geo.axis_angle_to_rotmat(jnp.array([0.3, -1.2, 0.7])))
    six = np.asarray(geo.rotmat_to_rot6d(jnp.asarray(r)))
    np.testing.assert_allclose(six, [r[0, 0], r[0, 1], r[1, 0], r[1, 1], r[2, 0], r[2, 1]])
    np.testing.assert_allclose(geo.rot6d_to_rotmat(jnp.asarray(six)), r, atol=1e-6)


def test_rot6d_gram_schmidt_of_unnormalised_input():
    rng = np.random.default_rng(5)
    six = rng.normal(size=(64, 6)).astype(np.float32)
    r = np.asarray(geo.rot6d_to_rotmat(jnp.asarray(six)), np.float64)
    np.testing.assert_allclose(
        r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=1e-5
    )
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-5)
    a1 = six.reshape(-1, 3, 2)[:, :, 0]
    np.testing.assert_allclose(
        r[:, :, 0], a1 / np.linalg.norm(a1, axis=1, keepdims=True), atol=1e-6
    )
    # And the same rotation comes back through the round trip.
    np.testing.assert_allclose(
        geo.rot6d_to_rotmat(geo.rotmat_to_rot6d(jnp.asarray(r, jnp.float32))), r, atol=1e-6
    )


def test_gradients_are_finite_and_correct_at_identity():
    # d/dw (R(w) @ x) at w = 0 is -[x]_x (since R x ~ x + w x x).
    x = jnp.array([0.3, -0.5, 0.8])
    # Jitted: one compile per transform instead of op-by-op dispatch.
    jac = jax.jit(jax.jacfwd(lambda w: geo.axis_angle_to_rotmat(w) @ x))(jnp.zeros(3))
    np.testing.assert_allclose(jac, -np.asarray(geo.skew(x)), atol=1e-6)
    jac_rev = jax.jit(jax.jacrev(lambda w: geo.axis_angle_to_rotmat(w) @ x))(jnp.zeros(3))
    np.testing.assert_allclose(jac_rev, jac, atol=1e-6)

    # Inverse map: the gradient of the axis-angle of exp(w) w.r.t. w is the identity at zero.
    inv_jac = jax.jit(jax.jacrev(lambda w: geo.rotmat_to_axis_angle(geo.axis_angle_to_rotmat(w))))(
        jnp.zeros(3)
    )
    np.testing.assert_allclose(inv_jac, np.eye(3), atol=1e-5)

    six_grad = jax.jit(jax.grad(lambda s: jnp.sum(geo.rot6d_to_rotmat(s) ** 3)))(
        geo.rotmat_to_rot6d(jnp.eye(3))
    )
    assert np.all(np.isfinite(six_grad))


def test_gradient_matches_finite_differences_generic():
    w0 = jnp.array([0.4, -0.9, 1.3], jnp.float32)
    x = jnp.array([1.0, 2.0, -0.5])

    def f(w):
        return jnp.sum(jnp.sin(geo.axis_angle_to_rotmat(w) @ x))

    grad = np.asarray(jax.grad(f)(w0))
    w64 = np.asarray(w0, np.float64)
    eps = 1e-6
    numeric = [
        (
            np.sum(np.sin(reference_rotmat(w64 + eps * e) @ np.asarray(x, np.float64)))
            - np.sum(np.sin(reference_rotmat(w64 - eps * e) @ np.asarray(x, np.float64)))
        )
        / (2 * eps)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(grad, numeric, atol=1e-4)


def test_batched_shapes_and_vmap():
    aa = jnp.asarray(random_axis_angles(24, seed=6)).reshape(2, 4, 3, 3)
    r = geo.axis_angle_to_rotmat(aa)
    assert r.shape == (2, 4, 3, 3, 3)
    np.testing.assert_allclose(jax.vmap(geo.axis_angle_to_rotmat)(aa), r, atol=1e-7)
    np.testing.assert_allclose(jax.jit(geo.rotmat_to_axis_angle)(r), aa, atol=2e-5)
