"""The per-exemplar outcome of EFT."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable

import numpy as np

CONVERGED = "converged"
MAX_ITERS = "max_iters"


@dataclasses.dataclass
class FitResult:
    """One exemplar's fit, or its skip.

    rotmats (24, 3, 3), pose_axis_angle (24, 3), betas (10,), camera (3,) [s, tx, ty] in EFT's
    weak-perspective convention (x_2d = s X + t), keypoints_2d (49, 2) the fitted body's SPIN-49
    keypoints projected into the crop ([-1, 1]).

    The kept fit is the prediction of the last forward pass, before the update that follows it,
    as EFT records it (eftFitter.py:255, 348, 362: the output of `run_eft_step` is computed
    before `optimizer.step()`, and the loop at 1543-1589 keeps the last one). `iterations` counts
    those forward/backward passes (EFT's `numOfIteration` + 1), so the kept prediction has seen
    `iterations - 1` Adam updates.

    keypoint_loss_*: EFT's 2D keypoint loss (its stopping criterion) at the first and at the kept
    prediction; keypoint_error_px_*: the confidence-weighted mean distance in pixels of the 224
    crop over the keypoints the loss uses.

    stop_reason: 'converged' (keypoint loss under the threshold), 'max_iters', or
    'skipped: <reason>' (then every array field is None).

    With the full-frame camera (camera=full_frame, docs/camera.md) also: translation (3,) the
    body's translation in the camera frame of the full image (metres, x right, y down, z away
    from the camera), focal_length (2,) and principal_point (2,) the intrinsics the fit used, in
    pixels of the full image; `camera` is then the crop camera this translation tends to in the
    weak-perspective limit (for EFT, the regressor's output it came from). None with the crop
    camera.
    """

    id: Hashable
    stop_reason: str
    iterations: int = 0
    rotmats: np.ndarray | None = None
    pose_axis_angle: np.ndarray | None = None
    betas: np.ndarray | None = None
    camera: np.ndarray | None = None
    keypoints_2d: np.ndarray | None = None
    keypoint_loss_before: float | None = None
    keypoint_loss_after: float | None = None
    keypoint_error_px_before: float | None = None
    keypoint_error_px_after: float | None = None
    translation: np.ndarray | None = None
    focal_length: np.ndarray | None = None
    principal_point: np.ndarray | None = None

    @property
    def skipped(self) -> bool:
        return self.stop_reason.startswith("skipped")

    @classmethod
    def skip(cls, id: Hashable, reason: str, iterations: int = 0) -> FitResult:
        return cls(id=id, stop_reason=f"skipped: {reason}", iterations=iterations)
