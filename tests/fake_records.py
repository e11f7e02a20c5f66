"""Records as the project's readers and writers see them, for tests: a COCO keypoint annotation
and a fit as the fit log stores it. Deterministic by their arguments."""

from __future__ import annotations

import numpy as np


def coco_person(annot_id, image_id, x0, y0, size):
    """A standing figure's 17 COCO keypoints inside the box (x0, y0, size, size), all visible."""
    rng = np.random.default_rng(annot_id)
    points = np.stack(
        [x0 + rng.uniform(0.2, 0.8, 17) * size, y0 + np.linspace(0.1, 0.9, 17) * size], 1
    )
    keypoints = np.concatenate([points, np.full((17, 1), 2.0)], 1).ravel().tolist()
    return {
        "id": annot_id,
        "image_id": image_id,
        "keypoints": keypoints,
        "num_keypoints": 17,
        "bbox": [x0, y0, size, size],
        "iscrowd": 0,
        "category_id": 1,
        "area": size * size,
    }


def fake_fit(exemplar_id, seed=0, annot_id=0, image_name="img.jpg"):
    """A fit record as the fit log stores it: engine result + exemplar metadata."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(24, 3, 3)))
    rotmats = q * np.sign(np.linalg.det(q))[:, None, None]
    keypoints = np.zeros((49, 3), np.float32)
    keypoints[25:, :2] = rng.uniform(-0.9, 0.9, (24, 2))
    keypoints[25:37, 2] = 1
    keypoints[44:, 2] = 1
    return {
        "id": exemplar_id,
        "rotmats": rotmats.astype(np.float32),
        "pose": rng.normal(size=(24, 3)).astype(np.float32),
        "betas": rng.normal(size=10).astype(np.float32),
        "camera": np.array([0.9, 0.01, 0.1], np.float32),
        "iterations": np.int32(7),
        "loss_2d_before": np.float32(3.2e-3),
        "loss_2d_after": np.float32(9.5e-5),
        "stop_reason": "converged",
        "pred_keypoints_2d": rng.uniform(-1, 1, (49, 2)).astype(np.float32),
        "center": np.array([250.0, 240.5]),
        "scale": 1.62,
        "keypoints": keypoints,
        "annotId": annot_id,
        "imageName": image_name,
    }
