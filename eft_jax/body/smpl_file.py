"""Read official SMPL model files (.pkl, .npz) into plain numpy arrays.

The SMPL releases (v1.0.0 and v1.1.0, "for Python 2.7") are Python-2 pickles
written by the SMPL authors' own tooling. Some of their arrays are chumpy
``Ch`` objects and ``J_regressor`` is a ``scipy.sparse.csc_matrix``, so a plain
``pickle.load`` needs both libraries installed. chumpy no longer installs on
current Python / numpy, so this module never imports it: a custom unpickler
maps chumpy and scipy.sparse classes to small stand-ins that only record their
pickled state, and the state is turned into numpy arrays afterwards.

What the stand-ins rely on:

* A plain chumpy ``Ch`` pickles its ``__dict__`` (minus two weak-reference
  caches); the array value lives under the key ``'x'`` (``Ch.dterms = ['x']``).
* A scipy sparse matrix pickles its ``__dict__``: ``data``, ``indices``,
  ``indptr`` and the shape as ``_shape`` (``shape`` in very old scipy), for the
  csc and csr formats; ``row``/``col`` (or ``coords``) for coo.

The file is read with `eft_jax.safe_pickle`: only numpy's reconstruction
functions and a few builtins are resolved; every other class from outside
Python's standard library becomes an inert stand-in, and any other
standard-library name (``os.system``, ...) is refused, so reading a model file
never runs code named by the file.

``.npz`` files use the same key names (as smplx and many conversions write
them); there ``J_regressor`` is usually dense.
"""

from __future__ import annotations

import copyreg
import os
import re
import zipfile
from typing import Any

import numpy as np

from eft_jax import safe_pickle
from eft_jax.errors import InputError

NUM_JOINTS = 24
NUM_POSE_CORRECTIVES = 9 * (NUM_JOINTS - 1)  # 207: (R - I) of the 23 non-root joints

_REQUIRED_KEYS = (
    "v_template",
    "shapedirs",
    "posedirs",
    "J_regressor",
    "weights",
    "kintree_table",
    "f",
)
_PICKLE_MAGIC = b"\x80"
_ZIP_MAGIC = b"PK\x03\x04"


class SmplFileError(InputError, ValueError):
    """A file that cannot be read as a SMPL model; the message names the file and the problem."""


def read_smpl_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a SMPL model file (.pkl in the official layouts, or .npz) into numpy arrays.

    Returns a dict with ``v_template`` (V,3) float32, ``shapedirs`` (V,3,S) float32 with
    every shape component in the file, ``posedirs`` (V,3,207) float32, ``J_regressor``
    (24,V) float32 (dense), ``weights`` (V,24) float32, ``parents`` (24,) int32 with -1
    for the root, ``faces`` (F,3) int32 and ``gender`` ('neutral', 'male', 'female' or
    'unknown', read from the file name).

    Raises SmplFileError for a missing, unreadable or non-SMPL file.
    """
    path = os.fspath(path)
    raw = _read_raw(path)
    arrays = _extract_arrays(raw, path)
    arrays["gender"] = gender_from_filename(path)
    return arrays


def gender_from_filename(path: str | os.PathLike) -> str:
    """'neutral' / 'male' / 'female' from names such as basicmodel_m_lbs_10_207_0_v1.1.0.pkl,
    basicModel_neutral_lbs_10_207_0_v1.0.0.pkl or SMPL_FEMALE.npz; else 'unknown'."""
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0].lower()
    tokens = set(re.split(r"[^a-z0-9]+", stem))
    found = set()
    if "neutral" in tokens:
        found.add("neutral")
    if tokens & {"female", "f"}:
        found.add("female")
    if tokens & {"male", "m"}:
        found.add("male")
    return found.pop() if len(found) == 1 else "unknown"


# --------------------------------------------------------------------------------------
# Reading the container (pickle or npz) into a dict of raw values


def _read_raw(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        raise SmplFileError(f"SMPL model file not found: {path!r}")
    if os.path.isdir(path):
        raise SmplFileError(f"expected a SMPL model file (.pkl or .npz), got a directory: {path!r}")
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(_ZIP_MAGIC):
        return _read_npz(path)
    if head.startswith(_PICKLE_MAGIC):
        return _read_pkl(path)
    if not head:
        raise SmplFileError(
            f"{path!r} is empty; expected a SMPL model (.pkl pickle or .npz archive)"
        )
    raise SmplFileError(
        f"{path!r} is neither a pickle nor an .npz archive (starts with {head!r}); "
        "expected a SMPL model file such as basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl or SMPL_NEUTRAL.npz"
    )


def _read_pkl(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = _SmplUnpickler(f).load()
    except safe_pickle.UnsafePickleError as e:
        raise SmplFileError(f"refused to read SMPL model file {path!r}: {e}") from e
    except Exception as e:  # truncated or corrupt pickles raise many different types
        raise SmplFileError(
            f"could not unpickle SMPL model file {path!r} (truncated or corrupt?): {type(e).__name__}: {e}"
        ) from e
    if not isinstance(data, dict):
        raise SmplFileError(
            f"{path!r} holds a pickled {_type_name(data)}, expected the dict of a SMPL model "
            f"(keys {', '.join(_REQUIRED_KEYS)})"
        )
    return data


def _read_npz(path: str) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as e:
        raise SmplFileError(
            f"{path!r}: an entry of the .npz holds pickled Python objects, which are not read "
            f"(store plain arrays; J_regressor dense): {e}"
        ) from e
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise SmplFileError(
            f"could not read .npz SMPL model file {path!r} (truncated or corrupt?): {e}"
        ) from e


_PickledObject = safe_pickle.InertObject  # stand-in for a class named in a pickle


class _ChumpyObject(_PickledObject):
    """Stand-in for a chumpy class (e.g. chumpy.ch.Ch)."""


class _SparseObject(_PickledObject):
    """Stand-in for a scipy.sparse matrix / array class."""


# Globals that are resolved, besides numpy's rebuilders: a few builtin containers. Module names
# are as written by Python 2 (__builtin__, copy_reg) and Python 3.
_ALLOWED_GLOBALS = {
    (module, obj.__name__): obj
    for module in ("builtins", "__builtin__")
    for obj in (set, frozenset, object, complex, slice, bytearray)
}
_ALLOWED_GLOBALS.update(
    {
        ("copy_reg", "_reconstructor"): copyreg._reconstructor,
        ("copyreg", "_reconstructor"): copyreg._reconstructor,
    }
)


def _stand_in_base(module: str, name: str) -> type:
    if module == "chumpy" or module.startswith("chumpy."):
        return _ChumpyObject
    if module.startswith("scipy.sparse"):
        return _SparseObject
    return _PickledObject


class _SmplUnpickler(safe_pickle.RestrictedUnpickler):
    """Unpickler for Python-2 SMPL pickles that needs neither chumpy nor scipy."""

    def __init__(self, file: Any) -> None:
        super().__init__(
            file, resolve=_ALLOWED_GLOBALS, stand_ins=_stand_in_base, encoding="latin1"
        )


# --------------------------------------------------------------------------------------
# Turning raw values into validated numpy arrays


def _extract_arrays(raw: dict[str, Any], path: str) -> dict[str, Any]:
    missing = [k for k in _REQUIRED_KEYS if k not in raw]
    if missing:
        present = ", ".join(sorted(map(str, raw))) or "none"
        raise SmplFileError(
            f"{path!r} is not a SMPL model: missing key(s) {', '.join(missing)} (keys present: {present})"
        )
    a = {key: _as_numpy(raw[key], key, path) for key in _REQUIRED_KEYS}

    v_template = _float_array(a["v_template"], "v_template", path)
    _expect(
        v_template.ndim == 2 and v_template.shape[1] == 3, path, "v_template", "(V, 3)", v_template
    )
    num_verts = v_template.shape[0]
    _expect(num_verts > 0, path, "v_template", "(V, 3) with V > 0", v_template)

    shapedirs = _float_array(a["shapedirs"], "shapedirs", path)
    _expect(
        shapedirs.ndim == 3 and shapedirs.shape[:2] == (num_verts, 3) and shapedirs.shape[2] > 0,
        path,
        "shapedirs",
        f"({num_verts}, 3, S) with S >= 1",
        shapedirs,
    )

    posedirs = _float_array(a["posedirs"], "posedirs", path)
    _expect(
        posedirs.shape == (num_verts, 3, NUM_POSE_CORRECTIVES),
        path,
        "posedirs",
        f"({num_verts}, 3, {NUM_POSE_CORRECTIVES})",
        posedirs,
    )

    j_regressor = _float_array(a["J_regressor"], "J_regressor", path)
    _expect(
        j_regressor.shape == (NUM_JOINTS, num_verts),
        path,
        "J_regressor",
        f"({NUM_JOINTS}, {num_verts})",
        j_regressor,
    )

    weights = _float_array(a["weights"], "weights", path)
    _expect(
        weights.shape == (num_verts, NUM_JOINTS),
        path,
        "weights",
        f"({num_verts}, {NUM_JOINTS})",
        weights,
    )

    parents = _parents_from_kintree(a["kintree_table"], path)
    faces = _faces(a["f"], num_verts, path)

    return {
        "v_template": v_template,
        "shapedirs": shapedirs,
        "posedirs": posedirs,
        "J_regressor": j_regressor,
        "weights": weights,
        "parents": parents,
        "faces": faces,
    }


def _as_numpy(value: Any, key: str, path: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, _ChumpyObject):
        return _chumpy_value(value, key, path)
    if isinstance(value, _SparseObject):
        return _sparse_to_dense(value, key, path)
    if isinstance(value, _PickledObject):
        raise SmplFileError(
            f"{path!r}: {key!r} is a pickled {value.pickled_module}.{value.pickled_name}, "
            "expected an array (numpy, chumpy Ch or scipy sparse matrix)"
        )
    try:
        return np.asarray(value)
    except Exception as e:
        raise SmplFileError(
            f"{path!r}: {key!r} cannot be read as an array ({_type_name(value)})"
        ) from e


def _chumpy_value(obj: _ChumpyObject, key: str, path: str) -> np.ndarray:
    state = obj.state
    value = state.get("x") if isinstance(state, dict) else None
    if isinstance(value, _ChumpyObject):  # a Ch wrapping another Ch
        return _chumpy_value(value, key, path)
    if value is None:
        raise SmplFileError(
            f"{path!r}: {key!r} is a chumpy {obj.pickled_name} with no stored value ('x'); only "
            "plain chumpy arrays (chumpy.ch.Ch) can be read without chumpy - re-save the model "
            "with numpy arrays"
        )
    return np.asarray(value)


def _sparse_to_dense(obj: _SparseObject, key: str, path: str) -> np.ndarray:
    state = obj.state if isinstance(obj.state, dict) else {}
    fmt = str(state.get("format") or obj.pickled_name)[:3]
    shape = state.get("_shape", state.get("shape"))
    try:
        n_rows, n_cols = (int(s) for s in shape)
        data = np.asarray(state["data"], dtype=np.float64).ravel()
        dense = np.zeros((n_rows, n_cols), dtype=np.float64)
        if fmt in ("csc", "csr"):
            indices = np.asarray(state["indices"], dtype=np.int64).ravel()
            indptr = np.asarray(state["indptr"], dtype=np.int64).ravel()
            n_major = n_cols if fmt == "csc" else n_rows
            if (
                indptr.shape != (n_major + 1,)
                or indptr[-1] != data.size
                or indices.size != data.size
            ):
                raise ValueError("inconsistent data/indices/indptr lengths")
            major = np.repeat(np.arange(n_major), np.diff(indptr))
            rows, cols = (indices, major) if fmt == "csc" else (major, indices)
        elif fmt == "coo":
            coords = state.get("coords")
            rows, cols = coords if coords is not None else (state["row"], state["col"])
            rows = np.asarray(rows, dtype=np.int64).ravel()
            cols = np.asarray(cols, dtype=np.int64).ravel()
        else:
            raise ValueError(f"unsupported sparse format {fmt!r} (csc, csr and coo are read)")
        np.add.at(dense, (rows, cols), data)  # duplicate entries add up, as in scipy
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise SmplFileError(
            f"{path!r}: {key!r} is a pickled {obj.pickled_module}.{obj.pickled_name} that could not be "
            f"rebuilt as a dense matrix: {type(e).__name__}: {e}"
        ) from e
    return dense


def _float_array(value: np.ndarray, key: str, path: str) -> np.ndarray:
    if value.dtype.kind not in "fiub":
        raise SmplFileError(f"{path!r}: {key!r} has dtype {value.dtype}, expected a numeric array")
    out = np.ascontiguousarray(value, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise SmplFileError(f"{path!r}: {key!r} contains NaN or infinite values")
    return out


def _expect(ok: bool, path: str, key: str, expected: str, value: np.ndarray) -> None:
    if not ok:
        raise SmplFileError(
            f"{path!r} is not a SMPL model: {key!r} has shape {tuple(value.shape)}, expected {expected}"
        )


def _parents_from_kintree(kintree: np.ndarray, path: str) -> np.ndarray:
    """Row 0 of kintree_table holds each joint's parent; the root's entry is -1 or, in
    the official pickles, 2**32 - 1 (a uint32 -1). Row 1 holds the joint ids 0..23."""
    _expect(
        kintree.ndim == 2 and kintree.shape == (2, NUM_JOINTS),
        path,
        "kintree_table",
        f"(2, {NUM_JOINTS})",
        kintree,
    )
    if kintree.dtype.kind not in "iu":
        raise SmplFileError(
            f"{path!r}: 'kintree_table' has dtype {kintree.dtype}, expected integers"
        )
    table = kintree.astype(np.int64)
    if not np.array_equal(table[1], np.arange(NUM_JOINTS)):
        raise SmplFileError(
            f"{path!r}: 'kintree_table' row 1 is {table[1].tolist()}, "
            f"expected the joint ids 0..{NUM_JOINTS - 1}"
        )
    parents = table[0].copy()
    if parents[0] not in (-1, 2**32 - 1):  # a uint64 -1 became -1 in astype
        raise SmplFileError(
            f"{path!r}: 'kintree_table' gives the root joint the parent {parents[0]}, expected none "
            "(-1 or 4294967295)"
        )
    parents[0] = -1
    children = np.arange(1, NUM_JOINTS)
    if np.any(parents[1:] < 0) or np.any(parents[1:] >= children):
        raise SmplFileError(
            f"{path!r}: 'kintree_table' parents {parents.tolist()} are not a tree in SMPL's order "
            "(every non-root joint's parent must come before it)"
        )
    return parents.astype(np.int32)


def _faces(f: np.ndarray, num_verts: int, path: str) -> np.ndarray:
    _expect(f.ndim == 2 and f.shape[1] == 3, path, "f", "(F, 3) vertex indices", f)
    if f.dtype.kind not in "iu":
        if f.dtype.kind == "f" and np.array_equal(f, np.round(f)):
            f = f.astype(np.int64)
        else:
            raise SmplFileError(
                f"{path!r}: 'f' has dtype {f.dtype}, expected integer vertex indices"
            )
    faces = f.astype(np.int64)
    if faces.size and (faces.min() < 0 or faces.max() >= num_verts):
        raise SmplFileError(
            f"{path!r}: 'f' holds vertex indices in [{faces.min()}, {faces.max()}], "
            f"expected [0, {num_verts - 1}]"
        )
    return faces.astype(np.int32)


def _type_name(value: Any) -> str:
    if isinstance(value, _PickledObject):
        return f"{value.pickled_module}.{value.pickled_name}"
    return f"{type(value).__module__}.{type(value).__qualname__}"
