"""Training batches from random-access sources of training samples (`train/sources.py`).

The batch of step k is a pure function of (seed, k), so a run resumed at step k sees exactly the
batches the uninterrupted run would have seen:

- one source (`TrainBatches`): epoch e = k // steps_per_epoch visits the samples in the order of a
  permutation drawn from (seed, e), dropping the last partial batch;
- a mixture (`MixtureBatches`): each sample of step k picks its source with the configured
  weights, then a sample of it uniformly, both drawn from (seed, k) (SPIN's `MixedDataset` picks a
  source per sample with fixed probabilities in the same way);
- the colour noise of step k is drawn from (seed, k), and `extra(step, batch_size)` adds arrays
  that are themselves functions of the step (the adversarial prior's real samples).

Colour noise is SPIN's (--noise_factor 0.4): each channel of each image is multiplied by a factor
uniform in [1 - noise, 1 + noise], then clipped to 0..255, before ImageNet normalisation.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator, Sequence

import numpy as np

from eft_jax.geometry.crops import normalize_image

TARGET_KEYS = (
    "keypoints",
    "joints3d_spin49",
    "joints3d_confidence",
    "rotmats",
    "betas",
    "has_smpl",
    "has_pose_3d",
)


class TrainBatches:
    def __init__(
        self,
        source: Sequence[dict],
        batch_size: int,
        seed: int,
        color_noise: float = 0.4,
        extra=None,
    ):
        if len(source) < batch_size:
            raise ValueError(
                f"the training set has {len(source)} samples, fewer than one batch of {batch_size}"
            )
        self.source = source
        self.batch_size = batch_size
        self.seed = seed
        self.color_noise = color_noise
        self.extra = extra
        self.steps_per_epoch = len(source) // batch_size

    def indices(self, step: int) -> np.ndarray:
        epoch, position = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.source))
        return order[position * self.batch_size : (position + 1) * self.batch_size]

    def samples(self, step: int) -> dict:
        return read_samples(self.source, self.indices(step))

    def batch(self, step: int) -> dict:
        """{'images': (B, S, S, 3) float32 normalised, TARGET_KEYS as float32 arrays, and `extra`'s}."""
        samples = self.samples(step)
        images = samples["image"].astype(np.float32)
        if self.color_noise > 0:
            rng = np.random.default_rng([self.seed, step, 1])
            factors = rng.uniform(
                1 - self.color_noise, 1 + self.color_noise, (images.shape[0], 1, 1, 3)
            )
            images = np.clip(images * factors.astype(np.float32), 0.0, 255.0)
        batch = {key: samples[key].astype(np.float32) for key in TARGET_KEYS}
        batch["images"] = normalize_image(images)
        if self.extra is not None:
            batch.update(self.extra(step, self.batch_size))
        return batch

    def iterate(self, first_step: int, last_step: int, prefetch: int = 2) -> Iterator[dict]:
        """Batches of steps first_step .. last_step - 1, read `prefetch` steps ahead in a thread
        (numpy and the source release the GIL, so reading overlaps the device step)."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pending = [
                pool.submit(self.batch, s)
                for s in range(first_step, min(first_step + prefetch, last_step))
            ]
            for step in range(first_step, last_step):
                ahead = step + prefetch
                if ahead < last_step:
                    pending.append(pool.submit(self.batch, ahead))
                yield pending.pop(0).result()


class MixtureBatches(TrainBatches):
    """Batches drawn from several sources with the given weights (module docstring)."""

    def __init__(
        self,
        sources: Sequence[Sequence[dict]],
        weights: Sequence[float],
        batch_size: int,
        seed: int,
        color_noise: float = 0.4,
        extra=None,
    ):
        weights = np.asarray(weights, np.float64)
        if len(sources) != len(weights) or not len(sources):
            raise ValueError(
                f"a mixture needs one weight per source; got {len(sources)} sources, {len(weights)} weights"
            )
        if not (np.all(np.isfinite(weights)) and np.all(weights > 0)):
            raise ValueError(f"mixture weights must be positive; got {weights.tolist()}")
        empty = [i for i, source in enumerate(sources) if len(source) == 0]
        if empty:
            raise ValueError(f"mixture sources {empty} have no samples")
        self.sources = list(sources)
        self.probabilities = weights / weights.sum()
        self.batch_size = batch_size
        self.seed = seed
        self.color_noise = color_noise
        self.extra = extra

    def choices(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(source of each sample, its index in that source) for step `step`."""
        rng = np.random.default_rng([self.seed, step, 2])
        which = rng.choice(len(self.sources), size=self.batch_size, p=self.probabilities)
        sizes = np.asarray([len(source) for source in self.sources])
        return which, np.floor(rng.random(self.batch_size) * sizes[which]).astype(np.int64)

    def samples(self, step: int) -> dict:
        which, index = self.choices(step)
        parts = {s: read_samples(self.sources[s], index[which == s]) for s in np.unique(which)}
        order = np.argsort(
            which, kind="stable"
        )  # slot order after concatenating the parts by source
        stacked = {
            key: np.concatenate([parts[s][key] for s in sorted(parts)])
            for key in ("image", *TARGET_KEYS)
        }
        slots = np.empty_like(order)
        slots[order] = np.arange(len(order))
        return {key: value[slots] for key, value in stacked.items()}


def read_samples(source: Sequence[dict], indices) -> dict:
    """Samples `indices` of `source`, stacked: {feature: (len(indices), ...)}."""
    indices = [int(i) for i in indices]
    getitems = getattr(source, "__getitems__", None)
    records = getitems(indices) if getitems is not None else [source[i] for i in indices]
    return {key: np.stack([np.asarray(r[key]) for r in records]) for key in records[0]}
