"""Read PyTorch `torch.save` files with the standard library and numpy alone (no torch).

Two on-disk formats exist:

- zip (torch >= 1.6): `<name>/data.pkl` is a pickle whose tensors are calls to
  `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`, each storage a
  persistent id `('storage', torch.FloatStorage, key, location, numel)` whose bytes are the
  archive entry `<name>/data/<key>`; `<name>/byteorder` says the byte order (little if absent).
- legacy (older torch, or `_use_new_zipfile_serialization=False`): consecutive pickles of a magic
  number, protocol version 1001 and system info, then the object (persistent ids
  `('storage', type, key, location, numel, view)`), then the list of storage keys, then each
  storage as an int64 element count followed by its raw bytes, in that order.

Every pickle in the file - the legacy header (magic number, protocol, system info) and storage key
list included - is read with `eft_jax.safe_pickle`: the header may name no global at all; the
object resolves only a fixed list of harmless globals (tensor rebuilders, storage types,
OrderedDict, numpy arrays); other classes from outside Python's standard library (e.g. in an
optimizer's state) become inert stand-ins (`OpaqueObject`), and any other standard-library name
(`os.system`, ...) is refused, so untrusted files never import or run code. Tensors are read
lazily: only the entry asked for (e.g. `model`) is materialised as numpy arrays.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import io
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import ml_dtypes
import numpy as np

from eft_jax import safe_pickle
from eft_jax.errors import InputError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128,
    "UntypedStorage": np.uint8,
}

TORCH_DTYPES = {
    "float32": np.float32,
    "float": np.float32,
    "float64": np.float64,
    "double": np.float64,
    "float16": np.float16,
    "half": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    "int64": np.int64,
    "long": np.int64,
    "int32": np.int32,
    "int": np.int32,
    "int16": np.int16,
    "short": np.int16,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
    "complex64": np.complex64,
    "complex128": np.complex128,
}


class TorchCheckpointError(InputError, ValueError):
    """A file that is not a readable PyTorch checkpoint (corrupt, truncated, unsupported)."""


@dataclasses.dataclass(frozen=True)
class StorageType:
    """Stands for `torch.FloatStorage` etc. in the pickle."""

    name: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(STORAGE_DTYPES[self.name])


@dataclasses.dataclass
class Storage:
    key: str
    dtype: np.dtype
    numel: int
    read_bytes: collections.abc.Callable[[], bytes] | None = None

    def array(self, byteorder: str) -> np.ndarray:
        data = self.read_bytes()
        if len(data) < self.numel * self.dtype.itemsize:
            raise TorchCheckpointError(
                f"storage {self.key!r} holds {len(data)} bytes, expected {self.numel * self.dtype.itemsize}"
            )
        dtype = self.dtype.newbyteorder("<" if byteorder == "little" else ">")
        return np.frombuffer(data, dtype, count=self.numel).astype(self.dtype, copy=False)


@dataclasses.dataclass
class LazyTensor:
    """A tensor as the pickle describes it; `numpy()` reads its storage."""

    storage: Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: np.dtype

    def numpy(self, byteorder: str = "little") -> np.ndarray:
        flat = self.storage.array(byteorder)
        if self.dtype != flat.dtype:  # _rebuild_tensor_v3 over an untyped storage
            flat = flat.view(self.dtype)
        if 0 in self.shape:
            return np.zeros(self.shape, self.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride))
        if self.offset < 0 or last >= flat.size or min(self.stride, default=0) < 0:
            raise TorchCheckpointError(
                f"tensor of shape {self.shape} at offset {self.offset} overruns storage {self.storage.key!r} "
                f"of {flat.size} elements"
            )
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], self.shape, tuple(s * flat.itemsize for s in self.stride)
        )
        return np.array(view)


# An instance of a class this reader does not resolve; keeps what the pickle gave it.
OpaqueObject = safe_pickle.InertObject


def _rebuild_tensor_v2(
    storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None
):
    return LazyTensor(storage, int(offset), tuple(size), tuple(stride), storage.dtype)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    return LazyTensor(storage, int(offset), tuple(size), tuple(stride), np.dtype(dtype))


def _rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    return data


_TORCH_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch", "Size"): tuple,
}


_TORCH_GLOBALS.update(
    {
        (module, name): StorageType(name)
        for module in ("torch", "torch.cuda")
        for name in STORAGE_DTYPES
    }
)
_TORCH_GLOBALS.update({("torch", name): np.dtype(dtype) for name, dtype in TORCH_DTYPES.items()})


class _Unpickler(safe_pickle.RestrictedUnpickler):
    def __init__(self, file, storage_reader):
        super().__init__(file, resolve=_TORCH_GLOBALS, stand_ins=True)
        self._storage_reader = storage_reader
        self.storages: dict[str, Storage] = {}

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise TorchCheckpointError(f"unsupported persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1:5]
        if len(pid) > 5 and pid[5] is not None:
            raise TorchCheckpointError(
                "storage views (torch < 0.4 files) are not supported; re-save the file"
            )
        if not isinstance(storage_type, StorageType):
            raise TorchCheckpointError(f"unknown storage type {storage_type!r}")
        key = str(key)
        if key not in self.storages:
            self.storages[key] = Storage(
                key, storage_type.dtype, int(numel), self._storage_reader(key)
            )
        return self.storages[key]


def _materialise(obj, byteorder: str):
    if isinstance(obj, LazyTensor):
        return obj.numpy(byteorder)
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _materialise(v, byteorder)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _materialise(v, byteorder) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v, byteorder) for v in obj)
    return obj


@contextlib.contextmanager
def _errors_named(path: Path):
    """Low-level failures on a bad file become one TorchCheckpointError naming the file."""
    try:
        yield
    except TorchCheckpointError:
        raise
    except safe_pickle.UnsafePickleError as error:
        raise TorchCheckpointError(f"{path}: refused to read this file: {error}") from error
    except (
        zipfile.BadZipFile,
        pickle.UnpicklingError,
        EOFError,
        struct.error,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
        zlib.error,
    ) as error:
        raise TorchCheckpointError(
            f"{path}: cannot read as a PyTorch checkpoint ({type(error).__name__}: {error}); "
            "the file may be truncated or corrupt"
        ) from error


def _load_plain(f):
    """A pickle of plain values only (numbers, strings, lists, dicts): names no global at all."""
    return safe_pickle.load(f, numpy=False)


def _starts_like_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


class TorchCheckpoint:
    """An open `torch.save` file. `root` is the unpickled object with `LazyTensor` leaves;
    `materialise(obj)` turns a part of it into numpy arrays, reading only the storages it needs.

        with TorchCheckpoint("model_checkpoint.pt") as ckpt:
            state_dict = ckpt.materialise(ckpt.root["model"])
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {self.path}")
        self._stack = contextlib.ExitStack()
        try:
            with _errors_named(self.path):
                if zipfile.is_zipfile(self.path):
                    self.root, self.byteorder = self._open_zip()
                elif _starts_like_zip(self.path):
                    raise TorchCheckpointError(
                        f"{self.path}: truncated or corrupt zip archive (no central directory)"
                    )
                else:
                    self.root, self.byteorder = self._open_legacy()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> TorchCheckpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()

    def materialise(self, obj):
        with _errors_named(self.path):
            return _materialise(obj, self.byteorder)

    def _open_zip(self):
        archive = self._stack.enter_context(zipfile.ZipFile(self.path))
        names = set(archive.namelist())
        pickles = sorted(n for n in names if n.endswith("/data.pkl") and n.count("/") == 1)
        if not pickles:
            raise TorchCheckpointError(
                f"{self.path}: zip archive without <name>/data.pkl; not a torch.save file"
            )
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = archive.read(prefix + "byteorder").decode().strip()

        def reader(key):
            name = f"{prefix}data/{key}"
            if name not in names:
                raise TorchCheckpointError(
                    f"{self.path}: storage entry {name!r} is missing from the archive"
                )
            return lambda: archive.read(name)

        root = _Unpickler(io.BytesIO(archive.read(pickles[0])), reader).load()
        return root, byteorder

    def _open_legacy(self):
        f = self._stack.enter_context(open(self.path, "rb"))
        try:
            magic = _load_plain(f)
        except safe_pickle.UnsafePickleError:
            raise
        except Exception as error:  # any garbage fails here, in any of many ways
            raise TorchCheckpointError(
                f"{self.path}: not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save "
                f"file: {type(error).__name__}); the file may be corrupt"
            ) from error
        if magic != LEGACY_MAGIC:
            raise TorchCheckpointError(f"{self.path}: not a PyTorch checkpoint (bad magic number)")
        protocol = _load_plain(f)
        if protocol != LEGACY_PROTOCOL:
            raise TorchCheckpointError(
                f"{self.path}: unsupported legacy protocol version {protocol}; re-save the file with "
                "a recent torch (`torch.save(torch.load(path), path)`)"
            )
        sys_info = _load_plain(f)
        if not isinstance(sys_info, dict):
            raise TorchCheckpointError(
                f"{self.path}: legacy header holds {type(sys_info).__name__}, not system info"
            )
        byteorder = "little" if sys_info.get("little_endian", True) else "big"
        offsets: dict[str, int] = {}

        def reader(key):
            def read():
                storage = unpickler.storages[key]
                f.seek(offsets[key])
                return f.read(storage.numel * storage.dtype.itemsize)

            return read

        unpickler = _Unpickler(f, reader)
        root = unpickler.load()
        # The storages follow, in the order of the pickled key list, each after its element count.
        size_format = "<q" if byteorder == "little" else ">q"
        for key in map(str, _load_plain(f)):
            (numel,) = struct.unpack(size_format, f.read(8))
            storage = unpickler.storages[key]
            if numel != storage.numel:
                raise TorchCheckpointError(
                    f"{self.path}: storage {key!r} records {numel} elements, expected {storage.numel}"
                )
            offsets[key] = f.tell()
            f.seek(numel * storage.dtype.itemsize, io.SEEK_CUR)
        if f.tell() > self.path.stat().st_size:
            raise TorchCheckpointError(
                f"{self.path}: file is truncated (storages end past the end of the file)"
            )
        return root, byteorder


def read_torch_checkpoint(path: str | Path):
    """The object `torch.load(path)` would return, with tensors as numpy arrays.

    Raises TorchCheckpointError for corrupt, truncated or unsupported files.
    """
    with TorchCheckpoint(path) as checkpoint:
        return checkpoint.materialise(checkpoint.root)
