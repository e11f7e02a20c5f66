"""Parity with smplx: an official-layout .pkl of the random model, loaded with body.load and
posed with body.forward, gives smplx's vertices and 24 joints.

The goldens (tests/fixtures/smpl_parity.npz) were written by tests/make_smpl_goldens.py with
smplx and torch; the model is regenerated here from the same frozen seed.

Tolerance: 1e-5 absolute, in metres. The body spans about 2 m and every coordinate is of
order 0.1-1, so an absolute bound is also a relative one of ~1e-5, and unlike a relative
bound it does not blow up for coordinates near 0. smplx's own float32 result differs from its
float64 result by ~5e-7 (recorded in the fixture), so 1e-5 leaves ~20x room for float32
rounding in a different operation order, while any real difference (a wrong sign, a
transposed rotation, a missed pose corrective, a wrong parent) moves points by millimetres or
more.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from random_smpl_model import make_random_smpl, model_fingerprint, write_official_pkl

import eft_jax.body as body

pytestmark = pytest.mark.fast_compiles

GOLDEN_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "fixtures", "smpl_parity.npz"
)
ATOL = 1e-5


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN_PATH) as g:
        return {k: g[k] for k in g.files}


@pytest.fixture(scope="module")
def arrays(golden):
    arrays = make_random_smpl(int(golden["model_seed"]), num_betas=int(golden["num_betas"]))
    # If this fails, the random model changed (e.g. numpy's random stream): rerun
    # make_smpl_goldens.py rather than loosening the parity tolerance.
    np.testing.assert_allclose(model_fingerprint(arrays), golden["model_fingerprint"], rtol=1e-12)
    return arrays


@pytest.fixture(scope="module")
def model(arrays, tmp_path_factory):
    path = tmp_path_factory.mktemp("smpl") / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    write_official_pkl(arrays, path, version="1.0.0")
    return body.load(path)


def rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3), in float64 numpy."""
    aa = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1)[..., None, None]
    safe = np.where(angle > 0, angle, 1.0)
    x, y, z = np.moveaxis(aa / safe[..., 0], -1, 0)
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    eye = np.eye(3)
    return eye + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def assert_matches(out, golden, index=slice(None)):
    vertices = np.asarray(out.vertices)
    joints = np.asarray(out.joints)
    np.testing.assert_allclose(vertices, golden["vertices"][index], rtol=0, atol=ATOL)
    np.testing.assert_allclose(joints, golden["joints"][index], rtol=0, atol=ATOL)


def test_golden_fixture_is_what_the_script_writes(golden):
    n = golden["pose_axis_angle"].shape[0]
    assert golden["vertices"].shape == (n, 6890, 3) and golden["vertices"].dtype == np.float32
    assert golden["joints"].shape == (n, 24, 3)
    assert golden["betas"].shape == (n, 10)
    assert str(golden["smplx_version"])
    # the goldens pose the body: not all poses give the rest mesh
    assert np.abs(golden["vertices"][1:] - golden["vertices"][:1]).max() > 0.1


def test_loaded_model_is_the_random_model(model, arrays):
    assert model.kind == "smpl" and model.gender == "neutral"
    assert model.num_betas == 10
    np.testing.assert_array_equal(
        np.asarray(model.v_template), arrays["v_template"].astype(np.float32)
    )
    np.testing.assert_array_equal(
        np.asarray(model.J_regressor), arrays["J_regressor"].astype(np.float32)
    )


def test_axis_angle_batch_under_jit(model, golden):
    out = jax.jit(body.forward)(
        model, jnp.asarray(golden["pose_axis_angle"]), jnp.asarray(golden["betas"])
    )
    assert out.vertices.shape == golden["vertices"].shape
    assert_matches(out, golden)


def test_rotation_matrices_under_jit(model, golden):
    rotmats = rodrigues(golden["pose_axis_angle"]).astype(np.float32)
    out = jax.jit(body.forward)(model, jnp.asarray(rotmats), jnp.asarray(golden["betas"]))
    assert_matches(out, golden)


def test_flat_72_axis_angle(model, golden):
    pose = golden["pose_axis_angle"].reshape(-1, 72)
    out = jax.jit(body.forward)(model, jnp.asarray(pose), jnp.asarray(golden["betas"]))
    assert_matches(out, golden)


def test_vmap_over_single_examples(model, golden):
    single = jax.jit(jax.vmap(body.forward, in_axes=(None, 0, 0)))
    out = single(model, jnp.asarray(golden["pose_axis_angle"]), jnp.asarray(golden["betas"]))
    assert_matches(out, golden)


@pytest.mark.parametrize("i", range(5))
def test_each_example_unbatched(model, golden, i):
    if i >= golden["pose_axis_angle"].shape[0]:
        pytest.skip("fixture has fewer examples")
    out = jax.jit(body.forward)(
        model, jnp.asarray(golden["pose_axis_angle"][i]), jnp.asarray(golden["betas"][i])
    )
    assert out.vertices.shape == (6890, 3)
    assert_matches(out, golden, i)


def test_v110_file_with_300_components_truncated_to_10(golden, arrays, tmp_path):
    """A v1.1.0 file (300 shape components, fewer chumpy objects) gives the same body with the
    default num_betas=10: its first 10 components are the 10-component model's."""
    arrays300 = make_random_smpl(int(golden["model_seed"]), num_betas=300)
    path = tmp_path / "basicmodel_f_lbs_10_207_0_v1.1.0.pkl"
    write_official_pkl(arrays300, path, version="1.1.0")
    model = body.load(path)
    assert model.num_betas == 10 and model.gender == "female"
    out = jax.jit(body.forward)(
        model, jnp.asarray(golden["pose_axis_angle"]), jnp.asarray(golden["betas"])
    )
    assert_matches(out, golden)
