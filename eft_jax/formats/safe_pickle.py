"""Pickled data files read without running code: numpy arrays, dtypes, scalars and plain
containers only.

    data = load_data_pickle(path)     # e.g. a 3DPW sequence file

`pickle.load` calls whatever a file names (`os.system` included), so the project never uses it on
files. This unpickler resolves only the names in `ALLOWED` (numpy's array reconstruction, under
numpy 1's and numpy 2's module names); any other global is refused with `UnsafePickleError`
naming it, before anything is called. Python 2 pickles (3DPW's) are read with latin-1 strings,
as numpy documents for them.
"""

from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path

# (module in the file, name) -> (module to import it from, name)
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy.core.multiarray", "scalar"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    # protocol-2 pickles written by Python 3 spell bytes as _codecs.encode(text, "latin1")
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle that names something other than numpy arrays and plain containers."""


class PickleFileError(ValueError):
    """A pickled data file that cannot be read (missing, truncated, refused)."""


def _resolve(module: str, name: str):
    import warnings

    with warnings.catch_warnings():  # numpy 2 warns on `numpy.core`; the objects are the same
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(importlib.import_module(module), name)


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        target = ALLOWED.get((module, name))
        if target is None:
            raise UnsafePickleError(
                f"refused to load {module}.{name}: only numpy arrays and plain containers are read"
            )
        return _resolve(*target)


def loads_data_pickle(data: bytes):
    """Unpickle bytes with the allowlist (UnsafePickleError for anything else)."""
    return _DataUnpickler(io.BytesIO(data), encoding="latin1").load()


def load_data_pickle(path: str | Path):
    """Read a pickled data file with the allowlist; PickleFileError names the file and problem."""
    path = Path(path)
    if not path.is_file():
        raise PickleFileError(f"{path}: no such pickle file")
    try:
        return loads_data_pickle(path.read_bytes())
    except UnsafePickleError as error:
        raise PickleFileError(f"{path}: {error}") from error
    except Exception as error:  # truncated or damaged files raise several kinds
        raise PickleFileError(f"{path}: not a readable pickle ({type(error).__name__}: {error})") from error
