"""Build `eft_jax/fitting/assets/pose_gmm_08.npz`: an 8-component Gaussian mixture over body poses for SMPLify's
pose prior, fitted to the bundled motion-capture poses, for users without SMPLify's `gmm_08.pkl`.

    python tools/build_pose_gmm.py        # build time only; the runtime never imports this

Data: the body poses (joints 1..23, 69 axis-angle numbers) of every pose in
`eft_jax/datasets/assets/mocap_poses.npz` (the allowed training clips; the reserved evaluation
clips are not in that asset) and of their left/right mirror images (`mirror_pose`), as SMPLify's
own GMM was fitted to CMU poses.

Fit: expectation-maximisation with full covariances in float64, started from k-means++ centres
(seeded, so the asset is reproducible), `ITERATIONS` rounds. Two additions to plain EM, because
the retargeted clips leave some degrees of freedom still (collars, wrists, hands, toes and head
never move, knees and elbows bend about one axis, the three spine joints share the chest's
rotation): every covariance gets `REG_COVAR` on its diagonal (a rotation std of at least 0.1 rad
off the data's subspace), and the dimensions that never move in the data get `STILL_VARIANCE`
instead (std ~0.32 rad), so the prior does not pin those joints harder than a pose prior learned
from people would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eft_jax.body.mirror import mirror_pose
from eft_jax.datasets.mocap_poses import load_mocap_poses, mocap_clips
from eft_jax.fitting.pose_prior import BODY_POSE_DIM, BUNDLED_POSE_GMM_PATH

NUM_COMPONENTS = 8  # SMPLify's gmm_08 (SPIN smplify/smplify.py:32-34, num_gaussians=8)
SEED = 0
ITERATIONS = 300
REG_COVAR = 1e-2  # rad^2 added to every covariance diagonal
STILL_VARIANCE = 0.1  # rad^2 on dimensions whose pooled std in the data is under STILL_STD
STILL_STD = 1e-4


def training_poses() -> np.ndarray:
    """(N, 69) float64 body poses of the bundled clips and their mirror images."""
    poses, _ = load_mocap_poses()
    both = np.concatenate([poses, mirror_pose(poses)])
    return both[:, 1:].reshape(len(both), BODY_POSE_DIM).astype(np.float64)


def _kmeans_plus_plus(data: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    centres = [data[rng.integers(len(data))]]
    for _ in range(count - 1):
        distance = np.min([np.sum((data - c) ** 2, axis=1) for c in centres], axis=0)
        centres.append(data[rng.choice(len(data), p=distance / distance.sum())])
    return np.stack(centres)


def _log_gaussians(data, means, covars) -> np.ndarray:
    """(N, K) log N(x_n; mu_k, Sigma_k)."""
    out = np.empty((len(data), len(means)))
    for k, (mean, covar) in enumerate(zip(means, covars)):
        chol = np.linalg.cholesky(covar)
        solved = np.linalg.solve(chol, (data - mean).T)
        log_det = 2 * np.sum(np.log(np.diag(chol)))
        out[:, k] = -0.5 * (np.sum(solved**2, axis=0) + log_det + data.shape[1] * np.log(2 * np.pi))
    return out


def fit_gmm(data: np.ndarray, count: int, *, seed: int, iterations: int, floor: np.ndarray):
    """(means, covars, weights, mean log-likelihood) of EM on `data` (N, D); `floor` (D,) is added
    to every covariance diagonal."""
    rng = np.random.default_rng(seed)
    means = _kmeans_plus_plus(data, count, rng)
    labels = np.argmin(((data[:, None] - means[None]) ** 2).sum(-1), axis=1)
    responsibilities = np.eye(count)[labels]
    log_likelihood = -np.inf
    for _ in range(iterations):
        # M step
        totals = responsibilities.sum(0) + 1e-10
        weights = totals / totals.sum()
        means = (responsibilities.T @ data) / totals[:, None]
        covars = np.empty((count, data.shape[1], data.shape[1]))
        for k in range(count):
            centred = data - means[k]
            covars[k] = (responsibilities[:, k, None] * centred).T @ centred / totals[k] + np.diag(
                floor
            )
        # E step
        weighted = _log_gaussians(data, means, covars) + np.log(weights)
        top = weighted.max(1, keepdims=True)
        per_point = top[:, 0] + np.log(np.exp(weighted - top).sum(1))
        responsibilities = np.exp(weighted - per_point[:, None])
        previous, log_likelihood = log_likelihood, per_point.mean()
        if abs(log_likelihood - previous) < 1e-8:
            break
    return means, covars, weights, log_likelihood


def build(path: Path = BUNDLED_POSE_GMM_PATH) -> dict:
    data = training_poses()
    floor = np.where(data.std(0) < STILL_STD, STILL_VARIANCE, REG_COVAR)
    means, covars, weights, log_likelihood = fit_gmm(
        data, NUM_COMPONENTS, seed=SEED, iterations=ITERATIONS, floor=floor
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        means=means.astype(np.float32),
        covars=covars.astype(np.float32),
        weights=weights.astype(np.float32),
        clips=np.asarray(mocap_clips()),
        num_poses=np.int32(len(data)),
        mean_log_likelihood=np.float64(log_likelihood),
    )
    return {
        "path": path,
        "poses": len(data),
        "mean_log_likelihood": log_likelihood,
        "weights": weights,
    }


if __name__ == "__main__":
    summary = build()
    print(
        f"wrote {summary['path']}: {NUM_COMPONENTS} components from {summary['poses']} poses, "
        f"mean log-likelihood {summary['mean_log_likelihood']:.2f}, weights {np.round(summary['weights'], 3)}"
    )
