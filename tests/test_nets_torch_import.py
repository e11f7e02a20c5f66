"""Reading torch.save files without torch, and converting SPIN checkpoints: what is read, and
every way a bad file is reported.

Bad checkpoints are made from the committed fixture: its state dict is read, edited and written
back by `write_torch_zip` below, a minimal writer of torch's zip format (the layout torch 2.13
writes for a dict of float tensors; see eft_jax/nets/torch_checkpoint.py). One test checks that
a re-written fixture converts to exactly what the torch-written file converts to.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest

from eft_jax.nets import (
    SpinImportError,
    TorchCheckpoint,
    TorchCheckpointError,
    convert_spin_checkpoint,
    read_torch_checkpoint,
    restore_regressor,
)
from eft_jax.nets.mean_params import MeanParams, save_mean_params
from eft_jax.nets.torch_checkpoint import LazyTensor

pytestmark = pytest.mark.fast_compiles

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ZIP_FIXTURE = FIXTURES / "regressor_spin_r50_w8.pt"
LEGACY_FIXTURE = FIXTURES / "regressor_spin_r18_w16.pt"


class _TorchPickle:
    """Pickle protocol 2 opcodes, as torch.save emits them for dicts of tensors and numbers."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        self.storages: list[np.ndarray] = []

    def text(self, s: str):
        data = s.encode()
        self.out += b"X" + struct.pack("<I", len(data)) + data

    def emit(self, obj):
        if isinstance(obj, np.ndarray):
            self.tensor(obj)
        elif isinstance(obj, dict):
            self.out += b"}"
            if obj:
                self.out += b"("
                for key, value in obj.items():
                    self.emit(key)
                    self.emit(value)
                self.out += b"u"
        elif isinstance(obj, str):
            self.text(obj)
        elif isinstance(obj, bool):
            self.out += b"\x88" if obj else b"\x89"
        elif isinstance(obj, int):
            self.out += b"J" + struct.pack("<i", obj)
        elif isinstance(obj, tuple):
            self.out += b"("
            for item in obj:
                self.emit(item)
            self.out += b"t"
        else:
            raise TypeError(type(obj))

    def tensor(self, array: np.ndarray):
        array = np.ascontiguousarray(array, np.float32)
        key = str(len(self.storages))
        self.storages.append(array)
        self.out += b"ctorch._utils\n_rebuild_tensor_v2\n("
        self.out += b"("
        self.text("storage")
        self.out += b"ctorch\nFloatStorage\n"
        self.text(key)
        self.text("cpu")
        self.emit(array.size)
        self.out += b"tQ"  # persistent id -> storage
        self.emit(0)
        self.emit(tuple(array.shape))
        self.emit(tuple(s // array.itemsize for s in array.strides))
        self.out += b"\x89N"  # requires_grad=False, backward_hooks
        self.out += b"tR"


def write_torch_zip(path: Path, obj: dict, name: str = "checkpoint") -> Path:
    pickled = _TorchPickle()
    pickled.emit(obj)
    pickled.out += b"."
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{name}/data.pkl", bytes(pickled.out))
        archive.writestr(f"{name}/byteorder", "little")
        for key, array in enumerate(pickled.storages):
            archive.writestr(f"{name}/data/{key}", array.tobytes())
        archive.writestr(f"{name}/version", "3\n")
    return path


@pytest.fixture(scope="module")
def state():
    """The legacy fixture's state dict (ResNet-18 / 16: quick to convert)."""
    return read_torch_checkpoint(LEGACY_FIXTURE)["model"]


def spin_file(tmp_path: Path, state: dict, **extra) -> Path:
    return write_torch_zip(
        tmp_path / "model_checkpoint.pt", {"model": dict(state), "epoch": 1, **extra}
    )


# Reading.


@pytest.mark.parametrize("path", [ZIP_FIXTURE, LEGACY_FIXTURE])
def test_reads_what_torch_saved(path):
    checkpoint = read_torch_checkpoint(path)
    assert {
        "model",
        "optimizer",
        "epoch",
        "batch_idx",
        "batch_size",
        "dataset_perm",
        "total_step_count",
    } <= set(checkpoint)
    assert checkpoint["epoch"] == 3 and checkpoint["total_step_count"] == 12345
    assert sorted(checkpoint["dataset_perm"].tolist()) == list(range(8))
    assert checkpoint["dataset_perm"].dtype == np.int64
    model = checkpoint["model"]
    assert model["conv1.weight"].dtype == np.float32 and model["conv1.weight"].shape[1:] == (
        3,
        7,
        7,
    )
    assert model["init_pose"].shape == (1, 144)
    assert model["bn1.num_batches_tracked"].dtype == np.int64
    assert np.all(model["bn1.running_var"] > 0) and not np.allclose(model["bn1.running_mean"], 0)
    assert checkpoint["optimizer"]["param_groups"][0]["lr"] == 5e-5


def test_tensors_are_read_lazily():
    with TorchCheckpoint(ZIP_FIXTURE) as checkpoint:
        weight = checkpoint.root["model"]["fc1.weight"]
        assert isinstance(weight, LazyTensor)
        assert weight.shape == (128, 256 + 157)
        assert checkpoint.materialise(weight).shape == (128, 413)


def test_rewritten_fixture_converts_identically(tmp_path, state):
    convert_spin_checkpoint(LEGACY_FIXTURE, tmp_path / "from_torch")
    convert_spin_checkpoint(spin_file(tmp_path, state), tmp_path / "rewritten")
    a = restore_regressor(tmp_path / "from_torch").variables
    b = restore_regressor(tmp_path / "rewritten").variables
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(x, y)


# Converter errors.


def test_missing_keys_are_named(tmp_path, state):
    edited = {
        k: v for k, v in state.items() if k not in ("layer2.1.bn2.running_var", "deccam.bias")
    }
    with pytest.raises(SpinImportError) as info:
        convert_spin_checkpoint(spin_file(tmp_path, edited), tmp_path / "out")
    assert set(info.value.missing) == {"layer2.1.bn2.running_var", "deccam.bias"}
    assert "missing key layer2.1.bn2.running_var" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_wrong_shapes_are_named(tmp_path, state):
    edited = dict(state)
    edited["layer3.0.conv2.weight"] = state["layer3.0.conv2.weight"][:, :, :2, :]
    edited["decshape.weight"] = np.zeros((11, 64), np.float32)
    with pytest.raises(SpinImportError) as info:
        convert_spin_checkpoint(spin_file(tmp_path, edited), tmp_path / "out")
    assert set(info.value.mismatched) == {
        ("layer3.0.conv2.weight", (16, 16, 3, 3), (16, 16, 2, 3)),
        ("decshape.weight", (10, 64), (11, 64)),
    }
    assert "wrong shape decshape.weight: expected (10, 64), found (11, 64)" in str(info.value)


def test_unknown_keys_are_reported_and_ignored(tmp_path, state):
    edited = {
        **state,
        "fc.weight": np.zeros((1000, 32), np.float32),
        "extra_head.bias": np.zeros(3, np.float32),
    }
    report = convert_spin_checkpoint(spin_file(tmp_path, edited), tmp_path / "out")
    assert report.unknown_keys == ["fc.weight", "extra_head.bias"]
    assert "ignored 2 unknown key(s): fc.weight, extra_head.bias" in report.summary()
    assert restore_regressor(tmp_path / "out").regressor.arch.backbone.depth == 18


def test_nonstandard_depth_is_an_error(tmp_path, state):
    edited = {k: v for k, v in state.items() if not k.startswith("layer4.1.")}
    with pytest.raises(
        SpinImportError, match=r"no standard ResNet has basic blocks \[2, 2, 2, 1\]"
    ):
        convert_spin_checkpoint(spin_file(tmp_path, edited), tmp_path / "out")


def test_mean_params_from_buffers_or_file(tmp_path, state):
    without = {k: v for k, v in state.items() if not k.startswith("init_")}
    with pytest.raises(SpinImportError, match="smpl_mean_params.npz"):
        convert_spin_checkpoint(spin_file(tmp_path, without), tmp_path / "out")
    mean = MeanParams.from_arrays(np.full(144, 0.5), np.ones(10), [1.0, 0.0, 0.0])
    save_mean_params(tmp_path / "smpl_mean_params.npz", mean)
    report = convert_spin_checkpoint(
        spin_file(tmp_path, without), tmp_path / "out", tmp_path / "smpl_mean_params.npz"
    )
    assert report.mean_params_source.endswith("smpl_mean_params.npz")
    np.testing.assert_array_equal(
        restore_regressor(tmp_path / "out").regressor.mean_params.pose, 0.5
    )


def test_data_parallel_prefix_and_bare_state_dict(tmp_path, state):
    bare = write_torch_zip(tmp_path / "bare.pt", {f"module.{k}": v for k, v in state.items()})
    report = convert_spin_checkpoint(bare, tmp_path / "out")
    assert report.unknown_keys == [] and report.arch.backbone.depth == 18


# Corrupt files.


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"this is not a checkpoint" * 100)
    with pytest.raises(TorchCheckpointError, match="not a PyTorch checkpoint"):
        convert_spin_checkpoint(path, tmp_path / "out")


@pytest.mark.parametrize("fixture", [ZIP_FIXTURE, LEGACY_FIXTURE])
def test_truncated_file(tmp_path, fixture):
    path = tmp_path / "truncated.pt"
    path.write_bytes(fixture.read_bytes()[: fixture.stat().st_size // 2])
    with pytest.raises(TorchCheckpointError, match="truncated"):
        convert_spin_checkpoint(path, tmp_path / "out")


def test_corrupted_storage_bytes(tmp_path):
    data = bytearray(ZIP_FIXTURE.read_bytes())
    with zipfile.ZipFile(ZIP_FIXTURE) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("/data/0"))
    # Past the entry's local header (30 bytes + name + extra field), flip one byte of the tensor.
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    data[info.header_offset + 30 + name_len + extra_len + 5] ^= 0xFF
    path = tmp_path / "flipped.pt"
    path.write_bytes(bytes(data))
    with pytest.raises(TorchCheckpointError, match="CRC"):
        convert_spin_checkpoint(path, tmp_path / "out")


def test_missing_storage_entry(tmp_path, state):
    path = spin_file(tmp_path, state)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp_path / "holes.pt", "w") as target:
        for info in source.infolist():
            if not info.filename.endswith("/data/3"):
                target.writestr(info, source.read(info))
    with pytest.raises(TorchCheckpointError, match="storage entry 'checkpoint/data/3' is missing"):
        convert_spin_checkpoint(tmp_path / "holes.pt", tmp_path / "out")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        convert_spin_checkpoint(tmp_path / "nope.pt", tmp_path / "out")


def test_model_entry_must_be_a_state_dict(tmp_path, state):
    path = write_torch_zip(tmp_path / "odd.pt", {"model": {**state, "note": "not a tensor"}})
    with pytest.raises(SpinImportError, match="entries that are not tensors: note"):
        convert_spin_checkpoint(path, tmp_path / "out")
