"""Detector-like keypoint noise (eft_jax/eval/keypoint_noise.py): seeded, only on visible
keypoints, drops some, swaps a limb pair in some people."""

import numpy as np
import pytest

from eft_jax.body.joint_sets import SPIN49_NAMES
from eft_jax.eval.keypoint_noise import detector_noise, with_noise

pytestmark = pytest.mark.fast_compiles


def _keypoints(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    keypoints = np.zeros((49, 3), np.float32)
    keypoints[:, :2] = rng.uniform(-0.8, 0.8, (49, 2))
    keypoints[:, 2] = rng.random(49) < 0.8
    return keypoints


def test_noise_is_seeded_and_leaves_invisible_keypoints_alone():
    clean = _keypoints(0)
    noisy = detector_noise(clean, 5)
    assert np.array_equal(noisy, detector_noise(clean, 5))
    assert not np.array_equal(noisy, detector_noise(clean, 6))
    invisible = clean[:, 2] == 0
    assert np.array_equal(noisy[invisible], clean[invisible])
    moved = np.abs(noisy[:, :2] - clean[:, :2]).max(axis=1)
    kept = (noisy[:, 2] > 0) & (clean[:, 2] > 0)
    # 2 px of a 224 px crop is 0.018 in crop units; nothing kept moves as far as 0.15 unless swapped
    assert 0.003 < np.median(moved[kept]) < 0.05


def test_noise_drops_about_a_tenth_and_swaps_limbs_in_about_a_tenth_of_people():
    dropped, visible, swapped = 0, 0, 0
    right, left = SPIN49_NAMES.index("Right Knee"), SPIN49_NAMES.index("Left Knee")
    right_elbow, left_elbow = SPIN49_NAMES.index("Right Elbow"), SPIN49_NAMES.index("Left Elbow")
    for seed in range(400):
        clean = _keypoints(seed)
        clean[[right, left, right_elbow, left_elbow], 2] = 1.0
        noisy = detector_noise(clean, seed)
        visible += int((clean[:, 2] > 0).sum())
        dropped += int(((clean[:, 2] > 0) & (noisy[:, 2] == 0)).sum())
        for r, lft in ((right, left), (right_elbow, left_elbow)):
            if noisy[r, 2] and noisy[lft, 2]:
                if (
                    np.abs(noisy[r, :2] - clean[lft, :2]).max()
                    < 0.1
                    < np.abs(noisy[r, :2] - clean[r, :2]).max()
                ):
                    swapped += 1
                    break
    assert 0.07 < dropped / visible < 0.13
    assert 20 <= swapped <= 60  # ~10 % of 400, fewer where a swapped keypoint was also dropped


def test_with_noise_none_is_identity_and_unknown_noise_is_refused():
    keypoints = np.stack([_keypoints(s) for s in range(3)])
    assert with_noise(keypoints, [0, 1, 2], "none") is keypoints
    noisy = with_noise(keypoints, [0, 1, 2], "detector")
    assert np.array_equal(noisy[1], detector_noise(keypoints[1], 1))
    with pytest.raises(ValueError, match="keypoint noise"):
        with_noise(keypoints, [0, 1, 2], "gaussian")
