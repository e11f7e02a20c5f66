"""A stand-in for the synthetic humans' TFDS split, for the training tests: random records whose
betas number them (record i of `SyntheticRecords(n, offset)` has betas offset + i)."""

from __future__ import annotations

import numpy as np


class SyntheticRecords:
    def __init__(self, count: int, offset: int = 0, size: int = 4):
        rng = np.random.default_rng(offset)
        self.records = [
            {
                "image": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
                "keypoints": rng.normal(size=(49, 3)).astype(np.float32),
                "joints3d_spin49": rng.normal(size=(49, 3)).astype(np.float32),
                "rotmats": rng.normal(size=(24, 3, 3)).astype(np.float32),
                "betas": np.full(10, offset + i, np.float32),
                "pose": np.zeros(
                    (24, 3), np.float32
                ),  # a field of the split the trainer does not use
            }
            for i in range(count)
        ]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        return self.records[i]
