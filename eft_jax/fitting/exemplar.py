"""What EFT fits (`Exemplar`, one person crop and its SPIN-49 keypoints: the record every reader
yields, defined in `eft_jax.formats.exemplar`), the checks that decide whether it can be fitted
at all (a bad exemplar is skipped with its reason, never fitted into NaNs), and the camera a
full-frame fit sees it through (`full_frame_of`)."""

from __future__ import annotations

import numpy as np

from eft_jax.body.joint_sets import NUM_SPIN49
from eft_jax.config import ConfigError
from eft_jax.formats.exemplar import Exemplar, exemplar_problem
from eft_jax.geometry import FullFrame
from eft_jax.geometry.crops import SCALE_UNIT

__all__ = ["CAMERAS", "Exemplar", "check_camera", "checked_inputs", "full_frame_of"]

# The camera models a fit can use (config field `camera`; docs/camera.md): EFT's weak-perspective
# crop camera, or a pinhole camera over the whole image (CLIFF's).
CAMERAS = ("crop", "full_frame")


def check_camera(camera: str) -> str:
    """`camera` when it names a camera model of `CAMERAS`; ConfigError otherwise."""
    if camera not in CAMERAS:
        raise ConfigError(f"camera must be one of {CAMERAS}; got {camera!r}")
    return camera


def full_frame_of(exemplar: Exemplar, focal_px: float | None = None):
    """(FullFrame of float32 numpy arrays, None), or (None, reason) when the exemplar's source
    image is unknown: its box in the image and the intrinsics `Exemplar.intrinsics(focal_px)`
    resolves (the input's, else `focal_px`, else the image's diagonal and centre)."""
    intrinsics = exemplar.intrinsics(focal_px)
    if isinstance(intrinsics, str):
        return None, intrinsics
    center, scale = exemplar.box()
    focal, principal = intrinsics
    frame = FullFrame(
        box_center=np.asarray(center, np.float32),
        box_size=np.float32(SCALE_UNIT * scale),
        focal=np.asarray(focal, np.float32),
        principal_point=np.asarray(principal, np.float32),
    )
    return frame, None


def checked_inputs(exemplar: Exemplar, crop_size: int, keypoint_weights: np.ndarray):
    """(image, keypoints) as float32 ready for fitting, or (None, reason) when the exemplar
    cannot be fitted: the data checks (`exemplar_problem`, run here once for every reader), the
    engine's crop size, a non-blank image and a keypoint that EFT's slot weights use.
    Coordinates of zero-confidence slots are set to 0, so a missing joint marked with NaN
    coordinates is harmless."""
    image = np.asarray(exemplar.image, np.float32)
    keypoints = np.array(exemplar.keypoints, np.float32)
    if image.shape != (crop_size, crop_size, 3):
        return None, f"image has shape {image.shape}, expected ({crop_size}, {crop_size}, 3)"
    if keypoints.shape != (NUM_SPIN49, 3):
        return (
            None,
            f"keypoints have shape {keypoints.shape}, expected ({NUM_SPIN49}, 3) SPIN-49 keypoints",
        )
    if image.max() == image.min():
        return None, "blank image (every pixel has the same value)"
    confidence = keypoints[:, 2]
    if not (confidence * keypoint_weights > 0).any():
        return (
            None,
            "no keypoint has weight in the loss (all confidences zero where EFT's slot weights are not)",
        )
    problem = exemplar_problem(image, keypoints)
    if problem is not None:
        return None, problem
    keypoints[confidence == 0, :2] = 0.0
    return (image, keypoints), None
