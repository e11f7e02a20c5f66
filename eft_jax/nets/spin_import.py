"""SPIN / EFT PyTorch checkpoints -> eft-jax regressor checkpoints, without torch.

    report = convert_spin_checkpoint("model_checkpoint.pt", "spin_regressor/")
    regressor, variables, record = restore_regressor("spin_regressor/")

SPIN saves `{'model': state_dict, 'optimizer': ..., 'epoch', ...}`; EFT's model-zoo files are the
same. The state dict's keys are the flax tree paths of `hmr.HMR` joined by dots (see `resnet`),
with torch's leaf names; weights change layout (OIHW -> HWIO for convolutions, (out, in) ->
(in, out) for linear layers) and nothing else. The architecture (depth, widths) is read from the
tensor shapes; the mean parameters from the `init_pose/init_shape/init_cam` buffers, unless a
`smpl_mean_params.npz` is given.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

from eft_jax.errors import InputError
from eft_jax.nets.checkpoint import save_regressor
from eft_jax.nets.hmr import Regressor, RegressorArch
from eft_jax.nets.mean_params import MeanParams, load_mean_params
from eft_jax.nets.resnet import DEPTHS, ResNetArch
from eft_jax.nets.torch_checkpoint import TorchCheckpoint, TorchCheckpointError

MEAN_BUFFERS = ("init_pose", "init_shape", "init_cam")
# BatchNorm's step counter: in every torch state dict, meaningless for inference.
IGNORED_SUFFIXES = (".num_batches_tracked",)
TRAINING_STATE_KEYS = ("epoch", "batch_idx", "batch_size", "total_step_count")


class SpinImportError(InputError, ValueError):
    """A state dict that does not fit the SPIN regressor; lists every offending key."""

    def __init__(self, message: str, missing=(), mismatched=()):
        self.missing = list(missing)
        self.mismatched = list(mismatched)
        details = [f"missing key {k}" for k in self.missing]
        details += [f"wrong shape {k}: expected {e}, found {f}" for k, e, f in self.mismatched]
        super().__init__(message + "".join(f"\n  {d}" for d in details))


@dataclasses.dataclass
class ConversionReport:
    out_dir: Path
    arch: RegressorArch
    mean_params_source: str
    unknown_keys: list[str]  # present in the file, not part of the regressor; ignored
    training_state: dict  # epoch, step count etc. as the file recorded them

    def summary(self) -> str:
        lines = [
            f"wrote {self.out_dir}",
            f"architecture: {self.arch.to_record()}",
            f"mean parameters: {self.mean_params_source}",
        ]
        if self.training_state:
            lines.append(
                "training state: " + ", ".join(f"{k}={v}" for k, v in self.training_state.items())
            )
        if self.unknown_keys:
            lines.append(
                f"ignored {len(self.unknown_keys)} unknown key(s): " + ", ".join(self.unknown_keys)
            )
        return "\n".join(lines)


def _torch_leaf(collection: str, leaf: str) -> str:
    if collection == "batch_stats":
        return {"mean": "running_mean", "var": "running_var"}[leaf]
    return {"kernel": "weight", "scale": "weight", "bias": "bias"}[leaf]


def _to_torch_layout(array_shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(array_shape) == 4:  # HWIO -> OIHW
        h, w, i, o = array_shape
        return (o, i, h, w)
    if len(array_shape) == 2:  # (in, out) -> (out, in)
        return array_shape[::-1]
    return array_shape


def _from_torch_layout(array: np.ndarray) -> np.ndarray:
    if array.ndim == 4:
        return np.ascontiguousarray(array.transpose(2, 3, 1, 0))
    if array.ndim == 2:
        return np.ascontiguousarray(array.T)
    return array


def torch_key_layout(regressor: Regressor) -> dict[str, tuple[str, tuple, tuple]]:
    """torch key -> (flax collection, flax path, expected torch shape) for every variable."""
    layout = {}
    abstract = regressor.abstract_variables()
    for collection in ("params", "batch_stats"):
        for path, leaf in jax.tree_util.tree_flatten_with_path(abstract[collection])[0]:
            names = tuple(p.key for p in path)
            key = ".".join(names[:-1] + (_torch_leaf(collection, names[-1]),))
            layout[key] = (collection, names, _to_torch_layout(tuple(leaf.shape)))
    return layout


def infer_arch(state: dict[str, np.ndarray]) -> RegressorArch:
    """Depth and widths from a SPIN state dict's shapes (standard 3 iterations, dropout 0.5)."""
    required = ["conv1.weight", "fc1.weight"] + [f"layer{i}.0.conv1.weight" for i in range(1, 5)]
    missing = [k for k in required if k not in state]
    if missing:
        raise SpinImportError(
            "cannot infer the architecture: the state dict lacks keys", missing=missing
        )
    block = "bottleneck" if "layer1.0.conv3.weight" in state else "basic"
    counts = []
    for stage in range(1, 5):
        count = 0
        while f"layer{stage}.{count}.conv1.weight" in state:
            count += 1
        counts.append(count)
    depths = [d for d, (b, c) in DEPTHS.items() if b == block and tuple(counts) == c]
    if not depths:
        raise SpinImportError(f"no standard ResNet has {block} blocks {counts} per stage")
    backbone = ResNetArch(
        depth=depths[0],
        stem_width=state["conv1.weight"].shape[0],
        stage_widths=tuple(state[f"layer{i}.0.conv1.weight"].shape[0] for i in range(1, 5)),
    )
    return RegressorArch(backbone, head_width=state["fc1.weight"].shape[0])


def state_dict_to_variables(state: dict[str, np.ndarray], regressor: Regressor):
    """({'params', 'batch_stats'} as float32 numpy, unknown keys). Missing or mis-shaped keys
    raise SpinImportError naming all of them."""
    layout = torch_key_layout(regressor)
    missing = [k for k in layout if k not in state]
    mismatched = [
        (k, layout[k][2], tuple(state[k].shape))
        for k in layout
        if k in state and tuple(state[k].shape) != layout[k][2]
    ]
    if missing or mismatched:
        raise SpinImportError(
            f"state dict does not fit the {regressor.arch.backbone.depth}-layer regressor inferred from it",
            missing,
            mismatched,
        )
    variables: dict = {"params": {}, "batch_stats": {}}
    for key, (collection, names, _) in layout.items():
        node = variables[collection]
        for name in names[:-1]:
            node = node.setdefault(name, {})
        node[names[-1]] = _from_torch_layout(np.asarray(state[key], np.float32))
    known = set(layout) | set(MEAN_BUFFERS)
    unknown = [k for k in state if k not in known and not k.endswith(IGNORED_SUFFIXES)]
    return variables, unknown


def read_spin_state_dict(pt_path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """(model state dict, training state) of a SPIN/EFT checkpoint; a bare state dict is accepted."""
    with TorchCheckpoint(pt_path) as checkpoint:
        root = checkpoint.root
        if not isinstance(root, dict):
            raise TorchCheckpointError(
                f"{pt_path}: holds a {type(root).__name__}, not a checkpoint dict"
            )
        model = root.get("model", root)
        if not isinstance(model, dict):
            raise SpinImportError(
                f"{pt_path}: 'model' holds a {type(model).__name__}, not a state dict"
            )
        training = {
            k: root[k] for k in TRAINING_STATE_KEYS if isinstance(root.get(k), (int, float))
        }
        state = checkpoint.materialise(dict(model))
    not_arrays = [str(k) for k, v in state.items() if not isinstance(v, np.ndarray)]
    if not_arrays:
        where = "'model'" if "model" in root else "the top level"
        raise SpinImportError(
            f"{pt_path}: {where} is not a state dict; entries that are not tensors: "
            + ", ".join(not_arrays[:10])
        )
    if state and all(k.startswith("module.") for k in state):  # saved from nn.DataParallel
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state, training


def convert_spin_checkpoint(
    pt_path: str | Path,
    out_dir: str | Path,
    mean_params: str | Path | MeanParams | None = None,
    overwrite: bool = False,
) -> ConversionReport:
    """Convert a SPIN / EFT `.pt` checkpoint into an eft-jax regressor checkpoint at `out_dir`.

    `mean_params`: a `smpl_mean_params.npz` path or MeanParams, overriding the checkpoint's
    `init_*` buffers (needed only when the checkpoint lacks them).
    """
    state, training = read_spin_state_dict(pt_path)
    arch = infer_arch(state)
    if mean_params is None:
        absent = [k for k in MEAN_BUFFERS if k not in state]
        if absent:
            raise SpinImportError(
                f"{pt_path} has no mean-parameter buffers; pass mean_params (SPIN's smpl_mean_params.npz)",
                missing=absent,
            )
        mean = MeanParams.from_arrays(
            *(state[k] for k in MEAN_BUFFERS), source=f"{pt_path} buffers"
        )
        source = "checkpoint buffers init_pose/init_shape/init_cam"
    elif isinstance(mean_params, MeanParams):
        mean, source = mean_params, "given MeanParams"
    else:
        mean, source = load_mean_params(mean_params), str(mean_params)
    regressor = Regressor(arch, mean)
    variables, unknown = state_dict_to_variables(state, regressor)
    record = regressor.config_record()
    record["source"] = {"file": Path(pt_path).name, "format": "spin", **training}
    record["body_model_kind"] = "smpl"  # SPIN and EFT regress SMPL's parameters
    out_dir = save_regressor(out_dir, variables, record, overwrite=overwrite)
    return ConversionReport(out_dir, arch, source, unknown, training)
