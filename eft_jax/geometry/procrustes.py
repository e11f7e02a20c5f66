"""Similarity Procrustes: the scale, rotation and translation that best map one point set onto
another in the least-squares sense (Umeyama 1991), as PA-MPJPE uses it."""

from __future__ import annotations

import jax.numpy as jnp


def similarity_align(source, target):
    """`source` (..., N, 3) moved by the similarity transform that best fits it to `target`
    (..., N, 3): argmin over s, R (a rotation, det +1), t of sum |s R x + t - y|^2."""
    source = jnp.asarray(source)
    target = jnp.asarray(target)
    mu_x = source.mean(axis=-2, keepdims=True)
    mu_y = target.mean(axis=-2, keepdims=True)
    x, y = source - mu_x, target - mu_y
    covariance = jnp.swapaxes(y, -1, -2) @ x  # (..., 3, 3): sum of y_i x_i^T
    u, singular, vt = jnp.linalg.svd(covariance)
    # Flip the last axis when the best orthogonal map is a reflection.
    sign = jnp.sign(jnp.linalg.det(u @ vt))
    correction = jnp.concatenate(
        [jnp.ones_like(sign)[..., None].repeat(2, -1), sign[..., None]], axis=-1
    )
    rotation = u @ (correction[..., :, None] * vt)
    variance = jnp.sum(x**2, axis=(-1, -2))
    scale = jnp.sum(singular * correction, axis=-1) / variance
    aligned = scale[..., None, None] * (x @ jnp.swapaxes(rotation, -1, -2))
    return aligned + mu_y
