"""Training batches from a random-access source (a TFDS data source, or any sequence of dicts).

The batch of step k is a pure function of (seed, k): epoch e = k // steps_per_epoch visits the
samples in the order of a permutation drawn from (seed, e), dropping the last partial batch, and
the colour noise of step k is drawn from (seed, k). So a run resumed at step k sees exactly the
batches the uninterrupted run would have seen.

Colour noise is SPIN's (--noise_factor 0.4): each channel of each image is multiplied by a factor
uniform in [1 - noise, 1 + noise], then clipped to 0..255, before ImageNet normalisation.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator, Sequence

import numpy as np

from eft_jax.geometry.crops import normalize_image

TARGET_KEYS = ("keypoints", "joints3d_spin49", "rotmats", "betas")


class TrainBatches:
    def __init__(self, source: Sequence[dict], batch_size: int, seed: int, color_noise: float = 0.4):
        if len(source) < batch_size:
            raise ValueError(f"the training set has {len(source)} samples, fewer than one batch of {batch_size}")
        self.source = source
        self.batch_size = batch_size
        self.seed = seed
        self.color_noise = color_noise
        self.steps_per_epoch = len(source) // batch_size

    def indices(self, step: int) -> np.ndarray:
        epoch, position = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.source))
        return order[position * self.batch_size : (position + 1) * self.batch_size]

    def batch(self, step: int) -> dict:
        """{'images': (B, S, S, 3) float32 normalised, and TARGET_KEYS as float32 arrays}."""
        samples = read_samples(self.source, self.indices(step))
        images = samples["image"].astype(np.float32)
        if self.color_noise > 0:
            rng = np.random.default_rng([self.seed, step, 1])
            factors = rng.uniform(1 - self.color_noise, 1 + self.color_noise, (images.shape[0], 1, 1, 3))
            images = np.clip(images * factors.astype(np.float32), 0.0, 255.0)
        batch = {key: samples[key].astype(np.float32) for key in TARGET_KEYS}
        batch["images"] = normalize_image(images)
        return batch

    def iterate(self, first_step: int, last_step: int, prefetch: int = 2) -> Iterator[dict]:
        """Batches of steps first_step .. last_step - 1, read `prefetch` steps ahead in a thread
        (numpy and the source release the GIL, so reading overlaps the device step)."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pending = [pool.submit(self.batch, s) for s in range(first_step, min(first_step + prefetch, last_step))]
            for step in range(first_step, last_step):
                ahead = step + prefetch
                if ahead < last_step:
                    pending.append(pool.submit(self.batch, ahead))
                yield pending.pop(0).result()


def read_samples(source: Sequence[dict], indices) -> dict:
    """Samples `indices` of `source`, stacked: {feature: (len(indices), ...)}."""
    indices = [int(i) for i in indices]
    getitems = getattr(source, "__getitems__", None)
    records = getitems(indices) if getitems is not None else [source[i] for i in indices]
    return {key: np.stack([np.asarray(r[key]) for r in records]) for key in records[0]}
