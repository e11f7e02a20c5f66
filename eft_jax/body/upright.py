"""The upright turn: a pi rotation about x that stands a y-up body upright in a y-down image.

SMPL's frame is y up; an image's is y down. SPIN's and EFT's fits, and every posed body eft-jax
fits or trains on, carry this turn in their root rotation, so the body's head is at negative y,
up in the image. The turn is its own inverse: applied to the points of an image-upright body it
gives them back y up (for meshes written to files).
"""

from __future__ import annotations

import numpy as np

# Rx(pi) as an axis-angle (a root rotation of a pose in axis-angle) and as an exact matrix.
UPRIGHT_AXIS_ANGLE = np.array([np.pi, 0.0, 0.0])
UPRIGHT_TURN = np.diag(np.array([1.0, -1.0, -1.0], np.float32))


def turn_upright(root_rotmats):
    """UPRIGHT_TURN @ root rotation(s): (..., 3, 3) -> (..., 3, 3)."""
    return UPRIGHT_TURN @ root_rotmats


def turn_points(points):
    """(..., 3) points turned by pi about x: image-upright to y up, and back."""
    return points * np.diagonal(UPRIGHT_TURN)
