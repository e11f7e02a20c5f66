"""Rotation representations: axis-angle, rotation matrices, unit quaternions and SPIN's 6D.

All functions take arrays with arbitrary leading batch dimensions and are safe under `jit`,
`vmap` and `grad`, including at the identity rotation, where a naive Rodrigues formula divides
by zero (value) or produces NaN gradients (through `sqrt` of zero).

Conventions:
- axis-angle: (..., 3), the axis scaled by the angle in radians (SMPL's pose parameters).
- rotation matrices: (..., 3, 3) acting on column vectors, x' = R @ x.
- quaternions: (..., 4) as (w, x, y, z).
- 6D (Zhou et al. 2019, as SPIN uses it): the first two columns of R, laid out as a (3, 2)
  matrix flattened row by row, i.e. (R00, R01, R10, R11, R20, R21).
"""

from __future__ import annotations

import jax.numpy as jnp

# Below this squared angle the Taylor series replaces sin(t)/t and (1 - cos t)/t^2; their
# fourth-order truncation error is then far below float32 resolution.
_SMALL_ANGLE_SQ = 1e-6


def skew(v):
    """Cross-product matrix [v]_x such that skew(v) @ u == cross(v, u)."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    zero = jnp.zeros_like(x)
    return jnp.stack(
        [
            jnp.stack([zero, -z, y], axis=-1),
            jnp.stack([z, zero, -x], axis=-1),
            jnp.stack([-y, x, zero], axis=-1),
        ],
        axis=-2,
    )


def axis_angle_to_rotmat(axis_angle):
    """Rodrigues' formula R = I + A(t) K + B(t) K^2, with K = [axis_angle]_x.

    A(t) = sin(t)/t and B(t) = (1 - cos t)/t^2 are evaluated by their Taylor series near zero,
    so the result is exact at the identity and its gradient there is the true derivative.
    """
    theta_sq = jnp.sum(axis_angle**2, axis=-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    # Substitute a harmless value where the angle is small so no branch sees 0/0.
    safe_theta_sq = jnp.where(small, 1.0, theta_sq)
    safe_theta = jnp.sqrt(safe_theta_sq)
    a_exact = jnp.sin(safe_theta) / safe_theta
    b_exact = (1.0 - jnp.cos(safe_theta)) / safe_theta_sq
    a_taylor = 1.0 - theta_sq / 6.0 + theta_sq**2 / 120.0
    b_taylor = 0.5 - theta_sq / 24.0 + theta_sq**2 / 720.0
    a = jnp.where(small, a_taylor, a_exact)[..., None, None]
    b = jnp.where(small, b_taylor, b_exact)[..., None, None]
    k = skew(axis_angle)
    eye = jnp.eye(3, dtype=axis_angle.dtype)
    return eye + a * k + b * (k @ k)


def rotmat_to_quaternion(rotmat):
    """Unit quaternion (w, x, y, z) with w >= 0, by Shepperd's method.

    Of the four algebraically equivalent formulas the one with the largest pivot is used, which
    keeps the result accurate for every rotation, including angles near pi where the trace
    formula alone breaks down.
    """
    m = rotmat
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4 * (squared component) for w, x, y, z.
    pivots = jnp.stack(
        [
            1.0 + m00 + m11 + m22,
            1.0 + m00 - m11 - m22,
            1.0 - m00 + m11 - m22,
            1.0 - m00 - m11 + m22,
        ],
        axis=-1,
    )
    # Clamping keeps sqrt's gradient finite for the candidates that are not selected.
    twice = jnp.sqrt(jnp.maximum(pivots, 1e-12))  # 2 * |component|
    candidates = jnp.stack(
        [
            jnp.stack([twice[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], axis=-1),
            jnp.stack([m21 - m12, twice[..., 1] ** 2, m10 + m01, m02 + m20], axis=-1),
            jnp.stack([m02 - m20, m10 + m01, twice[..., 2] ** 2, m21 + m12], axis=-1),
            jnp.stack([m10 - m01, m20 + m02, m21 + m12, twice[..., 3] ** 2], axis=-1),
        ],
        axis=-2,
    ) / (2.0 * twice[..., :, None])
    best = jnp.argmax(pivots, axis=-1)
    quat = jnp.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    quat = quat / jnp.linalg.norm(quat, axis=-1, keepdims=True)
    return jnp.where(quat[..., :1] < 0, -quat, quat)


def quaternion_to_axis_angle(quat):
    """Axis-angle with angle in [0, pi] from a unit quaternion (w, x, y, z)."""
    quat = jnp.where(quat[..., :1] < 0, -quat, quat)
    w, v = quat[..., 0], quat[..., 1:]
    sin_half_sq = jnp.sum(v**2, axis=-1)
    small = sin_half_sq < _SMALL_ANGLE_SQ
    safe_sin_half = jnp.sqrt(jnp.where(small, 1.0, sin_half_sq))
    # angle / sin(angle/2) = 2 atan2(s, w) / s; near s = 0 use its series 2/w (1 - s^2/(3 w^2)).
    scale_exact = 2.0 * jnp.arctan2(safe_sin_half, w) / safe_sin_half
    safe_w = jnp.where(small, w, 1.0)
    scale_taylor = 2.0 / safe_w * (1.0 - sin_half_sq / (3.0 * safe_w**2))
    scale = jnp.where(small, scale_taylor, scale_exact)
    return v * scale[..., None]


def axis_angle_to_quaternion(axis_angle):
    """Unit quaternion (w, x, y, z) of an axis-angle rotation; exact and smooth at zero."""
    theta_sq = jnp.sum(axis_angle**2, axis=-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    safe_theta = jnp.sqrt(jnp.where(small, 1.0, theta_sq))
    half_sinc = jnp.where(
        small,
        0.5 - theta_sq / 48.0,
        jnp.sin(0.5 * safe_theta) / safe_theta,
    )
    w = jnp.where(small, 1.0 - theta_sq / 8.0, jnp.cos(0.5 * safe_theta))
    return jnp.concatenate([w[..., None], axis_angle * half_sinc[..., None]], axis=-1)


def rotmat_to_axis_angle(rotmat):
    """Axis-angle (angle in [0, pi]) of a rotation matrix, accurate near 0 and near pi."""
    return quaternion_to_axis_angle(rotmat_to_quaternion(rotmat))


def rot6d_to_rotmat(rot6d):
    """SPIN's 6D representation (..., 6) to rotation matrices (..., 3, 3) by Gram-Schmidt.

    The 6 numbers are read as a (3, 2) matrix whose columns a1, a2 become the first two columns of
    R after orthonormalisation; the third column is their cross product (as SPIN does, so SPIN's
    regressor weights mean the same rotations here).
    """
    pairs = rot6d.reshape(rot6d.shape[:-1] + (3, 2))
    a1, a2 = pairs[..., 0], pairs[..., 1]
    b1 = a1 / jnp.maximum(jnp.linalg.norm(a1, axis=-1, keepdims=True), 1e-12)
    a2_orth = a2 - jnp.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = a2_orth / jnp.maximum(jnp.linalg.norm(a2_orth, axis=-1, keepdims=True), 1e-12)
    b3 = jnp.cross(b1, b2)
    return jnp.stack([b1, b2, b3], axis=-1)


def rotmat_to_rot6d(rotmat):
    """Rotation matrices (..., 3, 3) to SPIN's 6D representation (..., 6)."""
    return rotmat[..., :, :2].reshape(rotmat.shape[:-2] + (6,))
