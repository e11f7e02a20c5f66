"""SMPLify's Gaussian-mixture pose prior over the 69 body-pose numbers (axis-angle of joints 1..23).

SPIN's SMPLify uses SMPLify-X's `MaxMixturePrior` (SPIN smplify/smplify.py:9-11, 31-34;
vchoutas/smplify-x smplifyx/prior.py, `MaxMixturePrior.merged_log_likelihood`): instead of the
mixture's negative log-likelihood it takes, per pose x, the smallest over components m of

    E_m(x) = 0.5 (x - mu_m)^T Sigma_m^-1 (x - mu_m) - log w_m + (69/2) log(2 pi)
             + 0.5 (log det Sigma_m - min_k log det Sigma_k)

i.e. -log(w_m N(x; mu_m, Sigma_m)) up to the constant 0.5 min_k log det Sigma_k (SMPLify-X divides
the determinants by the smallest one so the constant stays moderate). `max_mixture_nll` is that
value; `mixture_nll` is the mixture's true negative log-likelihood, for diagnostics.

Where the mixture comes from:
- `gmm_08.pkl` of SMPLify (`means` (8, 69), `covars` (8, 69, 69), `weights` (8,)), when the user has
  it: `load_pose_prior("models/gmm_08.pkl")`. It is read with the project's restricted unpickler
  (no code in the file is run; only numpy arrays are rebuilt);
- otherwise the bundled `assets/pose_gmm_08.npz`: 8 components fitted by
  `python tools/build_pose_gmm.py` to the bundled motion-capture poses (allowed training
  clips only) and their mirror images; see `assets/POSE_GMM_NOTICE.md`.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from eft_jax.errors import InputError
from eft_jax.safe_pickle import PickleFileError, load_data_pickle

BUNDLED_POSE_GMM_PATH = Path(__file__).resolve().parent / "assets" / "pose_gmm_08.npz"
BODY_POSE_DIM = 69  # joints 1..23, axis-angle


class PosePriorFileError(InputError, ValueError):
    """A pose-prior file that cannot be read as a Gaussian mixture over 69 body-pose numbers."""


@flax.struct.dataclass
class PosePrior:
    """A Gaussian mixture over body poses, ready for `max_mixture_nll` (arrays are pytree leaves)."""

    means: jax.Array  # (K, 69)
    precisions: jax.Array  # (K, 69, 69)
    component_constants: jax.Array  # (K,) -log w + (69/2) log 2 pi + 0.5 (log det - min log det)
    log_det_min: jax.Array  # () min_k log det Sigma_k
    source: str = flax.struct.field(pytree_node=False, default="")

    @property
    def num_components(self) -> int:
        return self.means.shape[0]


def prior_from_arrays(means, covars, weights, source: str = "arrays") -> PosePrior:
    """Check shapes and values, invert the covariances (in float64) and build the prior."""
    means = np.asarray(means, np.float64)
    covars = np.asarray(covars, np.float64)
    weights = np.asarray(weights, np.float64).reshape(-1)
    count = weights.shape[0]
    if means.shape != (count, BODY_POSE_DIM) or covars.shape != (
        count,
        BODY_POSE_DIM,
        BODY_POSE_DIM,
    ):
        raise PosePriorFileError(
            f"{source}: expected means (K, 69), covars (K, 69, 69), weights (K,); got "
            f"{means.shape}, {covars.shape}, {weights.shape}"
        )
    if not all(np.all(np.isfinite(a)) for a in (means, covars, weights)) or np.any(weights <= 0):
        raise PosePriorFileError(f"{source}: non-finite values or non-positive weights")
    sign, log_dets = np.linalg.slogdet(covars)
    if np.any(sign <= 0):
        raise PosePriorFileError(f"{source}: a covariance matrix is not positive definite")
    precisions = np.linalg.inv(covars)
    precisions = 0.5 * (precisions + np.swapaxes(precisions, 1, 2))
    constants = (
        -np.log(weights)
        + 0.5 * BODY_POSE_DIM * np.log(2 * np.pi)
        + 0.5 * (log_dets - log_dets.min())
    )
    return PosePrior(
        means=jnp.asarray(means, jnp.float32),
        precisions=jnp.asarray(precisions, jnp.float32),
        component_constants=jnp.asarray(constants, jnp.float32),
        log_det_min=jnp.asarray(log_dets.min(), jnp.float32),
        source=source,
    )


def read_gmm_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """{'means', 'covars', 'weights'} of SMPLify's `gmm_08.pkl` or of an .npz with those keys."""
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pose prior file not found: {path}")
    with open(path, "rb") as handle:
        head = handle.read(2)
    try:
        if head == b"PK":
            with np.load(path, allow_pickle=False) as data:
                raw = {key: data[key] for key in data.files}
        else:
            raw = _read_pickled_gmm(path)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise PosePriorFileError(
            f"{path}: not a readable GMM file ({type(error).__name__}: {error})"
        ) from error
    missing = [key for key in ("means", "covars", "weights") if key not in raw]
    if missing:
        raise PosePriorFileError(f"{path}: missing {missing}; expected means, covars, weights")
    return {key: np.asarray(raw[key]) for key in ("means", "covars", "weights")}


def _read_pickled_gmm(path: str) -> dict:
    # The project's one restricted unpickler: numpy arrays and plain containers only; nothing the
    # file names is imported or called.
    try:
        data = load_data_pickle(path)
    except PickleFileError as error:
        raise PosePriorFileError(str(error)) from error
    if not isinstance(data, dict):
        raise PosePriorFileError(
            f"{path}: holds a pickled {type(data).__name__}, expected a dict of arrays"
        )
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in data.items()}


def load_pose_prior(path: str | os.PathLike | None = None) -> PosePrior:
    """SMPLify's `gmm_08.pkl` (or an .npz with the same keys) at `path`, else the bundled GMM."""
    source = BUNDLED_POSE_GMM_PATH if path is None else Path(path)
    arrays = read_gmm_file(source)
    label = "bundled (eft_jax/fitting/assets/pose_gmm_08.npz)" if path is None else str(path)
    return prior_from_arrays(arrays["means"], arrays["covars"], arrays["weights"], source=label)


def _component_energies(prior: PosePrior, body_pose) -> jax.Array:
    """(..., K): E_m(x) of the module docstring for (..., 69) body poses."""
    diff = body_pose[..., None, :] - prior.means
    quadratic = jnp.einsum("...mi,mij,...mj->...m", diff, prior.precisions, diff)
    return 0.5 * quadratic + prior.component_constants


def max_mixture_nll(prior: PosePrior, body_pose) -> jax.Array:
    """SMPLify(-X)'s pose prior: min over components of E_m, for (..., 69) poses -> (...)."""
    return jnp.min(_component_energies(prior, body_pose), axis=-1)


def mixture_nll(prior: PosePrior, body_pose) -> jax.Array:
    """The mixture's negative log-likelihood -log sum_m w_m N(x; mu_m, Sigma_m), (..., 69) -> (...)."""
    return (
        -jax.scipy.special.logsumexp(-_component_energies(prior, body_pose), axis=-1)
        + 0.5 * prior.log_det_min
    )
