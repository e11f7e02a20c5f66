"""formats/json_numbers.py: the JSON text of rounded float arrays is json.dumps's, byte for byte,
over the whole range it accepts, and values it cannot write are left to json.dumps."""

import json

import numpy as np
import pytest

from eft_jax.formats.json_numbers import array_texts, formattable, rounded_keys

pytestmark = pytest.mark.fast_compiles


def _dumps(values: np.ndarray, decimals: int) -> list[str]:
    return [json.dumps((np.round(row, decimals) + 0.0).tolist()) for row in values]


@pytest.mark.parametrize("decimals", [7, 4, 1])
def test_texts_equal_json_dumps_over_every_magnitude(decimals):
    rng = np.random.default_rng(decimals)
    # magnitudes 1e-4 .. 1e8 (log-uniform), both signs, float32 values as the engine gives them
    magnitude = 10 ** rng.uniform(-4, 8, (1000, 200))
    values = (magnitude * rng.choice([-1.0, 1.0], magnitude.shape)).astype(np.float32)
    values = values.astype(np.float64)
    values[:, :5] = [0.0, -0.0, 1e-4, -1e-4, 1.0]  # zeros (-0.0 -> 0.0), the limits, integers
    values[:, 5] = -(10.0 ** -(decimals + 1))  # rounds to -0.0, written 0.0
    keys = rounded_keys(values, decimals)
    ok = formattable(keys, decimals)
    assert ok.mean() > 0.5
    assert array_texts([keys[ok]], decimals) == [[text] for text in _dumps(values[ok], decimals)]


def test_every_key_near_the_limits_and_every_digit_pattern():
    """Every k in [1000, 200,000) and around 10**7 (every 1-5 digit integer and decimal pattern),
    the largest, both signs: the text is json.dumps's of k / 10**7."""
    edges = [10**7 + 1, 10**11, 10**15 - 1, 123_456_789_012_345]
    keys = [np.arange(1000, 200_000), np.arange(10**7 - 10**5, 10**7 + 10**5), np.asarray(edges)]
    keys = np.concatenate([*keys, -np.concatenate(keys)]).astype(np.float64)
    rows = np.concatenate([keys, np.zeros(-len(keys) % 1000)]).reshape(-1, 1000)
    assert formattable(rows, 7).all()
    expected = [[json.dumps((row / 1e7 + 0.0).tolist())] for row in rows]
    assert array_texts([rows], 7) == expected


def test_nested_shapes_and_several_arrays_per_row():
    rng = np.random.default_rng(0)
    arrays = [
        rng.normal(0, 1, (30, 24, 3, 3)),
        rng.uniform(-900, 4000, (30, 49, 3)),
        rng.normal(size=(30, 10)),
    ]
    keys = [rounded_keys(a, 7) for a in arrays]
    ok = formattable(np.concatenate([k.reshape(30, -1) for k in keys], axis=1), 7)
    texts = array_texts([k[ok] for k in keys], 7)
    expected = [
        [json.dumps((np.round(a[n], 7) + 0.0).tolist()) for a in arrays] for n in np.flatnonzero(ok)
    ]
    assert texts == expected


def test_values_repr_writes_with_an_exponent_or_not_finite_are_not_formattable():
    keys = rounded_keys(np.asarray([[0.5, 5e-5], [0.5, 0.25], [np.nan, 1.0], [1e9, 1.0]]), 7)
    assert formattable(keys, 7).tolist() == [False, True, False, False]
    assert not formattable(keys, 9).any()  # past 7 decimals doubles are too far apart
