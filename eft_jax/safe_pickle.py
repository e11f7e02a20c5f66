"""The one unpickler eft-jax reads pickles with: it never imports or calls what a file names.

A pickle is a small program: its GLOBAL opcodes name any importable callable (``os.system``) and
its REDUCE opcodes call it, so ``pickle.load`` on a file from elsewhere runs whatever the file
says. Every pickle the project reads (legacy and zip PyTorch ``.pt`` files in
`eft_jax.nets.torch_checkpoint`, SMPL ``.pkl`` files in `eft_jax.body.smpl_file`, pickled dataset
files) goes through `RestrictedUnpickler`, which resolves a global in exactly three ways:

1. ``_codecs.encode`` restricted to latin-1 (how Python 3 pickles bytes at protocol 2), names the
   caller lists in ``resolve`` (e.g. ``torch._utils._rebuild_tensor_v2`` -> a local
   function building a lazy tensor), and numpy's own array/dtype/scalar rebuilders
   (`NUMPY_GLOBALS`) when ``numpy=True``;
2. any other name from outside Python's standard library becomes an inert stand-in class
   (`InertObject`) that records its constructor arguments and pickled state and does nothing
   else - when the caller asks for stand-ins (``stand_ins=True``). Classes of other libraries
   (an optimizer's state, chumpy arrays, scipy sparse matrices) are read this way, never imported;
3. everything else - any standard-library name not listed (``os.system``, ``builtins.eval``,
   ``subprocess.Popen``, Python 2's ``__builtin__`` and ``commands``), and any name at all when
   stand-ins are off - is refused with `UnsafePickleError`, before anything is called.

Importing a module can run code, so no module named by a file is ever imported: resolved names
are looked up in tables built here from modules eft-jax imports anyway.

Lives at the bottom of the package's dependency order (it imports only numpy), so every layer
may use it; see docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import _compat_pickle
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names a global that eft-jax refuses to resolve (it could run code)."""


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as protocol-2 pickles of bytes call it; other codecs are refused (a codec
    name is looked up, and may be imported, by name)."""
    if encoding.replace("-", "_").lower() not in ("latin1", "latin_1", "iso_8859_1"):
        raise UnsafePickleError(
            f"the pickle encodes bytes with codec {encoding!r}; only latin-1 is read"
        )
    return text.encode("latin1")


BYTES_GLOBALS: Mapping[tuple[str, str], Any] = {("_codecs", "encode"): _latin1_encode}


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """numpy's rebuilders under the module names numpy 1 and numpy 2 pickle them with."""
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]  # multiarray._reconstruct
    scalar = np.float64(1.0).__reduce__()[0]  # multiarray.scalar
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]  # numeric._frombuffer (protocol 5)
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for core in ("numpy.core", "numpy._core"):
        table[core + ".multiarray", "_reconstruct"] = reconstruct
        table[core + ".multiarray", "scalar"] = scalar
        table[core + ".numeric", "_frombuffer"] = frombuffer
    # numpy 2 pickles dtypes by their class, e.g. numpy.dtypes.Float64DType.
    for dtype_class in {type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDGSUV"}:
        table["numpy.dtypes", dtype_class.__name__] = dtype_class
    return table


NUMPY_GLOBALS: Mapping[tuple[str, str], Any] = _numpy_globals()


def is_standard_library(module: str) -> bool:
    """True for modules of Python's standard library, under their Python 3 or Python 2 names."""
    top = module.split(".")[0]
    return (
        top in sys.stdlib_module_names
        or top in sys.builtin_module_names
        or module in _compat_pickle.IMPORT_MAPPING
        or top in _compat_pickle.IMPORT_MAPPING
    )


class InertObject:
    """Stand-in for a class named in a pickle: keeps what the pickle gave it, runs nothing.

    ``args`` are the constructor arguments (REDUCE / NEWOBJ), ``state`` the BUILD state (None when
    the pickle carries none), ``items`` what was appended or set item by item. ``pickled_module``
    and ``pickled_name`` say which class it stands for.
    """

    pickled_module = ""
    pickled_name = ""
    args: tuple = ()  # (copyreg._reconstructor builds one with object.__new__, without args)
    state: Any = None

    def __new__(cls, *args: Any, **kwargs: Any):
        obj = super().__new__(cls)
        obj.args = args
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    @property
    def items(self) -> list:
        return self.__dict__.setdefault("_items", [])

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def append(self, value: Any) -> None:
        self.items.append(value)

    def extend(self, values: Any) -> None:
        self.items.extend(values)

    @property
    def qualname(self) -> str:
        return f"{self.pickled_module}.{self.pickled_name}"

    def __repr__(self) -> str:
        return f"<stand-in for {self.qualname}>"


_STAND_INS: dict[tuple[type, str, str], type] = {}


def inert_class(module: str, name: str, base: type = InertObject) -> type:
    """The stand-in class for ``module.name`` (one class per name and base, so isinstance works)."""
    key = (base, module, name)
    if key not in _STAND_INS:
        _STAND_INS[key] = type(name, (base,), {"pickled_module": module, "pickled_name": name})
    return _STAND_INS[key]


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` that resolves only what it is told to (see the module docstring).

    resolve: (module, name) -> the object to use for that global.
    numpy: resolve numpy's array, dtype and scalar rebuilders (`NUMPY_GLOBALS`).
    stand_ins: unlisted names from outside the standard library become `InertObject` classes;
      a callable (module, name) -> base class picks the stand-in's base (e.g. one for chumpy).
      When False, every unlisted name is refused.
    Persistent ids are refused unless a subclass defines `persistent_load`.
    """

    def __init__(
        self,
        file: BinaryIO,
        *,
        resolve: Mapping[tuple[str, str], Any] | None = None,
        numpy: bool = True,
        stand_ins: bool | Any = False,
        encoding: str = "ASCII",
    ) -> None:
        super().__init__(file, encoding=encoding)
        self._resolve = dict(BYTES_GLOBALS)
        self._resolve.update(NUMPY_GLOBALS if numpy else {})
        self._resolve.update(resolve or {})
        self._stand_ins = stand_ins

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._resolve:
            return self._resolve[module, name]
        if self._stand_ins and not is_standard_library(module):
            base = self._stand_ins(module, name) if callable(self._stand_ins) else InertObject
            return inert_class(module, name, base)
        where = "Python's standard library" if is_standard_library(module) else "a module"
        raise UnsafePickleError(
            f"the pickle names {module}.{name} (from {where}), which eft-jax never loads: calling it "
            "could run code, so the file was not read further and nothing it names was run"
        )


def load(file: BinaryIO, **options: Any) -> Any:
    """One object from ``file`` through `RestrictedUnpickler` (options as its constructor's)."""
    return RestrictedUnpickler(file, **options).load()


class PickleFileError(ValueError):
    """A pickled data file that cannot be read (missing, truncated, or naming what is refused)."""


def load_data_pickle(path: str | Path) -> Any:
    """A pickled data file (a 3DPW sequence file, say) that holds numpy arrays and plain containers
    only, read through `RestrictedUnpickler` with Python 2's strings as latin-1 (as numpy documents
    for Python 2 pickles). PickleFileError names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise PickleFileError(f"{path}: no such pickle file")
    try:
        with open(path, "rb") as file:
            return load(file, encoding="latin1")
    except UnsafePickleError as error:
        raise PickleFileError(f"{path}: {error}") from error
    except Exception as error:  # truncated or damaged files raise several kinds
        raise PickleFileError(
            f"{path}: not a readable pickle ({type(error).__name__}: {error})"
        ) from error
