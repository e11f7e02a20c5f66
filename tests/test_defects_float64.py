"""Float64 runs stay float64: under `jax_enable_x64`, with float64 weights, body model, crop and
keypoints, no value of the EFT loss's computation (every activation of the regressor, the body
model, the loss) is float32, and the gradient EFT follows matches central finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax import body
from eft_jax.fitting import LossSettings
from eft_jax.fitting.objective import exemplar_loss, split_for_fitting
from eft_jax.nets import Regressor, RegressorArch
from tests.tiny_eft import eft_config

IMAGE_SIZE = 16


def _dtypes(jaxpr) -> set:
    """The dtypes of every value a jaxpr (and the jaxprs inside it) computes."""
    found = set()
    for eqn in jaxpr.eqns:
        found.update(str(v.aval.dtype) for v in eqn.outvars)
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                if isinstance(sub, jax.extend.core.ClosedJaxpr):
                    found |= _dtypes(sub.jaxpr)
                elif isinstance(sub, jax.extend.core.Jaxpr):
                    found |= _dtypes(sub)
    return found


@pytest.mark.fast_compiles
def test_float64_eft_loss_is_float64_throughout_and_its_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        regressor = Regressor(RegressorArch.reduced(18, 16))
        variables = jax.tree.map(
            lambda a: a.astype(jnp.float64), regressor.init(jax.random.key(0), IMAGE_SIZE)
        )
        model = body.load(dtype=jnp.float64)
        base, frozen, _ = split_for_fitting(variables, model, eft_config())
        rng = np.random.default_rng(0)
        image = jnp.asarray(rng.normal(size=(IMAGE_SIZE, IMAGE_SIZE, 3)), jnp.float64)
        keypoints = np.concatenate([rng.uniform(-0.5, 0.5, (49, 2)), np.ones((49, 1))], axis=-1)
        keypoints = jnp.asarray(keypoints, jnp.float64)

        def loss(trainable):
            return exemplar_loss(
                trainable,
                frozen,
                image,
                keypoints,
                regressor=regressor,
                settings=LossSettings(),
            )[0]

        dtypes = _dtypes(jax.make_jaxpr(loss)(base).jaxpr)
        assert "float32" not in dtypes and "float64" in dtypes, dtypes
        value, grad = jax.jit(jax.value_and_grad(loss))(base)
        assert value.dtype == jnp.float64

        # Central differences along a random direction over every trainable weight.
        leaves, treedef = jax.tree.flatten(base)
        direction = jax.tree.unflatten(
            treedef, [jnp.asarray(rng.normal(size=leaf.shape), jnp.float64) for leaf in leaves]
        )
        step = 1e-6
        at = jax.jit(lambda t: loss(jax.tree.map(lambda w, d: w + t * d, base, direction)))
        numeric = (at(step) - at(-step)) / (2 * step)
        analytic = sum(
            jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grad), jax.tree.leaves(direction))
        )
        np.testing.assert_allclose(float(analytic), float(numeric), rtol=1e-6)
