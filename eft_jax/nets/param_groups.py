"""Named groups of regressor parameters, for fine-tuning a subset (EFT) while the rest is frozen.

    trainable, frozen = partition(variables["params"], "layer4+head")
    grads = jax.grad(lambda t: loss(merge(t, frozen)))(trainable)   # frozen leaves get no gradient

Groups are the regressor's top-level modules, with SPIN's names: "stem" (conv1, bn1), "layer1" ..
"layer4", "fc1", "fc2", "decpose", "decshape", "deccam". Presets name common unions; a selection
is a preset name, a group name, or a list of them.

`trainable` and `frozen` are nested dicts with the structure of `params` where each holds only
its own leaves (an empty sub-dict disappears), so `merge` is a plain nested union.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

GROUPS: dict[str, tuple[str, ...]] = {
    "stem": ("conv1", "bn1"),
    "layer1": ("layer1",),
    "layer2": ("layer2",),
    "layer3": ("layer3",),
    "layer4": ("layer4",),
    "fc1": ("fc1",),
    "fc2": ("fc2",),
    "decpose": ("decpose",),
    "decshape": ("decshape",),
    "deccam": ("deccam",),
}

_DECODERS = ("decpose", "decshape", "deccam")
_HEAD = ("fc1", "fc2") + _DECODERS
_BACKBONE = ("stem", "layer1", "layer2", "layer3", "layer4")

PRESETS: dict[str, tuple[str, ...]] = {
    "all": _BACKBONE + _HEAD,
    "backbone": _BACKBONE,
    "layer3+": ("layer3", "layer4") + _HEAD,
    "layer4+head": ("layer4",) + _HEAD,
    "head": _HEAD,
    "decoders": _DECODERS,
}


# Where each group's computation starts (nets.resnet.ENTRY_POINTS): everything before the first
# trainable group's entry point is a frozen prefix that EFT can compute once per exemplar.
GROUP_ENTRY = {
    "stem": "image",
    "layer1": "layer1",
    "layer2": "layer2",
    "layer3": "layer3",
    "layer4": "layer4",
}


def entry_point(selection: str | Iterable[str]) -> str:
    """Where the network must start for the groups of `selection` to get gradients: "image" when
    the stem is trainable, "layerK" when layerK is the first trainable stage, "features" when
    only head groups are (the head's feedback loop reads the pooled features)."""
    groups = resolve_groups(selection)
    for group, entry in GROUP_ENTRY.items():
        if group in groups:
            return entry
    return "features"


def resolve_groups(selection: str | Iterable[str]) -> tuple[str, ...]:
    """Group names of a preset, a group, or a list of presets and groups (sorted as GROUPS)."""
    names = [selection] if isinstance(selection, str) else list(selection)
    chosen = set()
    for name in names:
        if name in PRESETS:
            chosen.update(PRESETS[name])
        elif name in GROUPS:
            chosen.add(name)
        else:
            raise ValueError(
                f"unknown parameter group {name!r}; groups: {', '.join(GROUPS)}; presets: {', '.join(PRESETS)}"
            )
    return tuple(g for g in GROUPS if g in chosen)


def _is_batchnorm(node) -> bool:
    # flax BatchNorm is the only module here with a `scale` parameter.
    return isinstance(node, Mapping) and "scale" in node


def _split(node, trainable: bool, include_batchnorm: bool):
    """(trainable part, frozen part) of a subtree whose group membership is `trainable`."""
    if not isinstance(node, Mapping):
        return (node, None) if trainable else (None, node)
    if trainable and not include_batchnorm and _is_batchnorm(node):
        return None, dict(node)
    parts = {key: _split(child, trainable, include_batchnorm) for key, child in node.items()}
    train = {k: t for k, (t, _) in parts.items() if t is not None}
    frozen = {k: f for k, (_, f) in parts.items() if f is not None}
    return train or None, frozen or None


def partition(params: Mapping, selection: str | Iterable[str], include_batchnorm: bool = True):
    """Split `params` into (trainable, frozen) by group selection.

    include_batchnorm=False keeps the BatchNorm scale and bias of the selected groups frozen too
    (the EFT recipe fixes them).
    """
    modules = {m for g in resolve_groups(selection) for m in GROUPS[g]}
    unknown = set(params) - {m for ms in GROUPS.values() for m in ms}
    if unknown:
        raise ValueError(
            f"parameters {sorted(unknown)} belong to no group; is this a regressor's params?"
        )
    trainable, frozen = {}, {}
    for key, child in params.items():
        train_part, frozen_part = _split(child, key in modules, include_batchnorm)
        if train_part is not None:
            trainable[key] = train_part
        if frozen_part is not None:
            frozen[key] = frozen_part
    return trainable, frozen


def select_params(
    params: Mapping, selection: str | Iterable[str], include_batchnorm: bool = True
) -> dict:
    return partition(params, selection, include_batchnorm)[0]


def merge(trainable: Mapping, frozen: Mapping, _path: str = "") -> dict:
    """Inverse of `partition`; a leaf present in both is an error."""
    merged = dict(frozen)
    for key, value in trainable.items():
        path = f"{_path}/{key}"
        if key not in merged:
            merged[key] = value
        elif isinstance(value, Mapping) and isinstance(merged[key], Mapping):
            merged[key] = merge(value, merged[key], path)
        else:
            raise ValueError(f"parameter {path} is in both the trainable and the frozen part")
    return merged
