"""The exemplar record: what every reader yields, what the engine fits and what the writers keep.

One type flows from the readers (`eft_jax.datasets`, `exemplar_npz`) to the engine
(`eft_jax.fitting.fit_stream`) and, without its image, into the fit log and the EFT JSON:

    Exemplar(id, image, keypoints, center=None, scale=None, annot_id=0, image_name="",
             image_size=None, focal_length=None, principal_point=None)

    id          str (or any hashable): unique within a run; results and resumes are keyed by it
    image       (S, S, 3) float32 crop, RGB, ImageNet-normalised (geometry/crops.py)
    keypoints   (49, 3) SPIN-49 keypoints: x, y in [-1, 1] of the crop, confidence (0 = missing)
    center      (2,) image pixels of the crop box's centre; None: the crop is its own image
    scale       box side / 200 px; None with center None
    annot_id    COCO annotation id (0 when there is none, as EFT writes it)
    image_name  the source image, relative to its images folder ('' when unknown)
    image_size  (width, height) of the source image in pixels; None: unknown (a crop without a
                box is its own image)
    focal_length     (f_x, f_y) pixels of the camera that took the image, when the input says
    principal_point  (p_x, p_y) pixels, when the input says (both None: unknown)

The last three serve the full-frame camera (`camera=full_frame`, docs/camera.md):
`intrinsics(focal_px)` resolves them, in order, from the input, a given focal length, or the
image's diagonal and centre.

An input person that cannot become an exemplar is a *skip record*, with why:

    Skip(id, reason, annot_id=0, image_name="")

stored in the fit log and in the EFT JSON's "skipped" list as `Skip.record()`:

    {'id': str, 'skip_reason': str, 'annotId': int, 'imageName': str}

Readers yield one or the other for every input person, in input order, so nothing is silently
lost. The data checks on an exemplar (`exemplar_problem`) run once, where the engine takes it in
(`eft_jax.fitting.exemplar.checked_inputs`); readers check only what they alone can see (the box,
the keypoints in image pixels, the image file).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable

import numpy as np

from eft_jax.body.joint_sets import NUM_SPIN49
from eft_jax.geometry.crops import SCALE_UNIT


@dataclasses.dataclass
class Exemplar:
    """One person crop and its SPIN-49 keypoints (see the module docstring for the fields)."""

    id: Hashable
    image: np.ndarray
    keypoints: np.ndarray
    center: np.ndarray | None = None
    scale: float | None = None
    annot_id: int = 0
    image_name: str = ""
    image_size: tuple[int, int] | None = None
    focal_length: np.ndarray | None = None
    principal_point: np.ndarray | None = None

    def box(self) -> tuple[np.ndarray, float]:
        """(center, scale) of the crop in its source image; a crop without one is its own image:
        center ((S - 1) / 2, (S - 1) / 2), scale S / 200."""
        if self.center is None:
            size = int(np.shape(self.image)[0])
            return np.full(2, (size - 1) / 2.0), size / SCALE_UNIT
        return np.asarray(self.center, np.float64).reshape(2), float(self.scale)

    def full_image_size(self) -> tuple[int, int] | None:
        """(width, height) of the source image: `image_size`, the crop's own size when the crop is
        its own image, else None."""
        if self.image_size is not None:
            width, height = self.image_size
            return int(width), int(height)
        if self.center is None:
            size = int(np.shape(self.image)[0])
            return size, size
        return None

    def intrinsics(self, focal_px: float | None = None) -> tuple[np.ndarray, np.ndarray] | str:
        """((f_x, f_y), (p_x, p_y)) in pixels of the camera that took the source image, or why
        there is none. The focal length is the input's, else `focal_px`, else the image's
        diagonal (CLIFF's default); the principal point the input's, else the image's centre
        ((W - 1) / 2, (H - 1) / 2 in `geometry.crops`' pixel-index convention)."""
        size = self.full_image_size()
        if size is None and (
            self.principal_point is None or self.focal_length is None and not focal_px
        ):
            return "the full-frame camera needs the source image's size (the input gives none)"
        if self.focal_length is not None:
            focal = np.broadcast_to(np.asarray(self.focal_length, np.float64), (2,)).copy()
        elif focal_px:
            focal = np.full(2, float(focal_px))
        else:
            focal = np.full(2, float(np.hypot(*size)))
        if self.principal_point is not None:
            principal = np.asarray(self.principal_point, np.float64).reshape(2)
        else:
            principal = (np.asarray(size, np.float64) - 1.0) / 2.0
        if not (
            np.all(np.isfinite(focal)) and np.all(focal > 0) and np.all(np.isfinite(principal))
        ):
            return f"camera intrinsics not usable: focal {focal.tolist()}, principal point {principal.tolist()}"
        return focal, principal

    def log_fields(self) -> dict:
        """What the fit log keeps of the exemplar (everything but the image)."""
        center, scale = self.box()
        return {
            "id": str(self.id),
            "center": center,
            "scale": scale,
            "keypoints": np.asarray(self.keypoints),
            "annotId": int(self.annot_id),
            "imageName": str(self.image_name),
        }


@dataclasses.dataclass
class Skip:
    """An input person that was not fitted, with why (see the module docstring for the fields)."""

    id: str
    reason: str
    annot_id: int = 0
    image_name: str = ""

    def __post_init__(self):
        self.id, self.reason = str(self.id), str(self.reason)
        self.annot_id, self.image_name = int(self.annot_id), str(self.image_name)

    def record(self) -> dict:
        """The skip as the fit log and the EFT JSON's "skipped" list store it."""
        return {
            "id": self.id,
            "skip_reason": self.reason,
            "annotId": self.annot_id,
            "imageName": self.image_name,
        }

    @classmethod
    def from_record(cls, record: dict) -> Skip:
        """The skip of a stored record (`record()`'s layout)."""
        return cls(
            record["id"],
            record["skip_reason"],
            record.get("annotId", 0),
            record.get("imageName", ""),
        )


def exemplar_problem(image, keypoints) -> str | None:
    """Why an exemplar cannot be fitted, or None when it can.

    Checks: image shape (H, W, 3) and finite values; keypoints (49, 3); finite coordinates on
    every joint with confidence; finite, non-negative confidences; at least one joint with
    confidence > 0.
    """
    image = np.asarray(image)
    keypoints = np.asarray(keypoints)
    if image.ndim != 3 or image.shape[2] != 3:
        return f"image has shape {image.shape}, expected (H, W, 3)"
    if np.issubdtype(image.dtype, np.floating) and not np.all(np.isfinite(image)):
        return "image has NaN or infinite values"
    if keypoints.shape != (NUM_SPIN49, 3):
        return f"keypoints have shape {keypoints.shape}, expected ({NUM_SPIN49}, 3)"
    confidence = keypoints[:, 2]
    if not np.all(np.isfinite(confidence)):
        return "keypoint confidences have NaN or infinite values"
    if np.any(confidence < 0):
        return "keypoint confidences are negative"
    used = confidence > 0
    if not np.any(used):
        return "no keypoint has confidence > 0"
    if not np.all(np.isfinite(keypoints[used, :2])):
        bad = np.flatnonzero(used & ~np.all(np.isfinite(keypoints[:, :2]), axis=1))
        return (
            f"keypoints with confidence have NaN or infinite coordinates (keypoints {bad.tolist()})"
        )
    return None
