"""eft-jax: Exemplar Fine-Tuning of SMPL-layout body models to 2D keypoints, in JAX."""

__version__ = "0.1.0"
