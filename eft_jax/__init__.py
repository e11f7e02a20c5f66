"""eft-jax: Exemplar Fine-Tuning of SMPL-layout body models to 2D keypoints, in JAX.

The map of the code - data flow, the packages and what each may import, the engine's slot
design, the conventions (crops, SPIN-49, cameras, units) and where each constant lives - is
docs/ARCHITECTURE.md in the repository.
"""

__version__ = "0.1.0"
