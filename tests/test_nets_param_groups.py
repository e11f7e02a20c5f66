"""Parameter groups: presets, partition into trainable/frozen, and merge back."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from eft_jax.nets import (
    GROUPS,
    PRESETS,
    Regressor,
    RegressorArch,
    merge,
    partition,
    resolve_groups,
    select_params,
)

pytestmark = pytest.mark.fast_compiles


@pytest.fixture(scope="module")
def params():
    abstract = Regressor(RegressorArch.reduced(depth=50, width_divisor=16)).abstract_variables(32)[
        "params"
    ]
    rng = np.random.default_rng(0)
    return jax.tree_util.tree_map(
        lambda s: rng.standard_normal(s.shape).astype(np.float32), abstract
    )


def _paths(tree) -> set[str]:
    return {jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]}


def test_groups_are_the_top_level_modules(params):
    assert {m for modules in GROUPS.values() for m in modules} == set(params)


@pytest.mark.parametrize(
    "selection, modules",
    [
        (
            "all",
            {
                "conv1",
                "bn1",
                "layer1",
                "layer2",
                "layer3",
                "layer4",
                "fc1",
                "fc2",
                "decpose",
                "decshape",
                "deccam",
            },
        ),
        ("backbone", {"conv1", "bn1", "layer1", "layer2", "layer3", "layer4"}),
        ("layer3+", {"layer3", "layer4", "fc1", "fc2", "decpose", "decshape", "deccam"}),
        ("layer4+head", {"layer4", "fc1", "fc2", "decpose", "decshape", "deccam"}),
        ("head", {"fc1", "fc2", "decpose", "decshape", "deccam"}),
        ("decoders", {"decpose", "decshape", "deccam"}),
        (["stem", "deccam"], {"conv1", "bn1", "deccam"}),
        (["decoders", "fc2"], {"fc2", "decpose", "decshape", "deccam"}),
    ],
)
def test_partition_by_preset(params, selection, modules):
    trainable, frozen = partition(params, selection)
    assert set(trainable) == modules
    assert set(frozen) == set(params) - modules
    assert _paths(trainable).isdisjoint(_paths(frozen))
    assert _paths(trainable) | _paths(frozen) == _paths(params)
    assert _paths(select_params(params, selection)) == _paths(trainable)


def test_merge_inverts_partition(params):
    trainable, frozen = partition(params, "layer4+head", include_batchnorm=False)
    merged = merge(trainable, frozen)
    assert jax.tree_util.tree_structure(merged) == jax.tree_util.tree_structure(params)
    for a, b in zip(jax.tree_util.tree_leaves(merged), jax.tree_util.tree_leaves(params)):
        assert a is b


def test_batchnorm_affine_can_stay_frozen(params):
    trainable, frozen = partition(params, "all", include_batchnorm=False)
    trainable_paths = _paths(trainable)
    assert not any(
        "scale" in p or "['bn" in p or "['downsample']['1']" in p for p in trainable_paths
    )
    assert "['layer2']['0']['downsample']['0']['kernel']" in trainable_paths
    assert "['layer2']['0']['downsample']['1']['scale']" in _paths(frozen)
    assert "['bn1']['bias']" in _paths(frozen)
    assert "['fc1']['bias']" in trainable_paths


def test_merge_rejects_overlap(params):
    trainable, frozen = partition(params, "head")
    with pytest.raises(ValueError, match="parameter /fc1/(kernel|bias) is in both"):
        merge(trainable, {**frozen, "fc1": trainable["fc1"]})


def test_unknown_names_are_errors(params):
    with pytest.raises(ValueError, match="unknown parameter group 'layer5'"):
        resolve_groups(["layer4", "layer5"])
    with pytest.raises(ValueError, match="belong to no group"):
        partition({**params, "extra": {"kernel": np.zeros(2)}}, "all")


def test_presets_name_only_groups():
    for preset, groups in PRESETS.items():
        assert set(groups) <= set(GROUPS), preset
