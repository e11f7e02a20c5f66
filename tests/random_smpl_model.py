"""A random model in SMPL's format, and writers for the file layouts SMPL ships in.

Used by the tests and by ``make_smpl_goldens.py``: both regenerate the same model from a
frozen random stream (``np.random.RandomState``, whose stream numpy keeps stable), so the
golden fixture stores only smplx's outputs, never a model.

The model has SMPL's array shapes (6890 vertices, 13776 triangles, 24 joints with SMPL's
kinematic tree, 207 pose correctives, 10 or 300 shape components) and is body-like enough
for skinning to mean something: template vertices lie along the bones of a T-posed
skeleton, each skinned to its bone and that bone's neighbours, and each joint is regressed
from a few dozen vertices next to it. It does not look like a person.

Writers:

* ``write_official_pkl`` emulates the official Python-2 pickles: protocol 2, byte strings
  as Python-2 ``str``, numpy arrays as numpy 1.x pickles them, chumpy ``Ch`` objects and a
  ``scipy.sparse.csc_matrix`` ``J_regressor``, all emitted as GLOBAL references with the
  state layout the real libraries pickle - without chumpy or scipy being imported.
* ``write_npz`` writes the same keys as plain arrays (``J_regressor`` dense).
"""

from __future__ import annotations

import io
import os
import pickle

import numpy as np

NUM_VERTS = 6890
NUM_FACES = 13776
NUM_JOINTS = 24
NUM_POSEDIRS = 207
# SMPL's kinematic tree (kintree_table row 0); the root's parent is stored as 2**32 - 1.
SMPL_PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
)
ROOT_PARENT_UINT32 = 2**32 - 1

# Rough T-pose joint positions in metres (x: body's left, y: up, z: forward), pelvis at 0.
_REST_JOINTS = np.array(
    [
        [0.00, 0.00, 0.00],  # 0 pelvis
        [0.06, -0.09, 0.00],  # 1 left hip
        [-0.06, -0.09, 0.00],  # 2 right hip
        [0.00, 0.11, -0.02],  # 3 spine1
        [0.10, -0.47, 0.00],  # 4 left knee
        [-0.10, -0.47, 0.00],  # 5 right knee
        [0.00, 0.25, 0.00],  # 6 spine2
        [0.09, -0.87, -0.04],  # 7 left ankle
        [-0.09, -0.87, -0.04],  # 8 right ankle
        [0.00, 0.30, 0.02],  # 9 spine3
        [0.11, -0.93, 0.08],  # 10 left foot
        [-0.11, -0.93, 0.08],  # 11 right foot
        [0.00, 0.52, 0.00],  # 12 neck
        [0.08, 0.42, 0.00],  # 13 left collar
        [-0.08, 0.42, 0.00],  # 14 right collar
        [0.00, 0.60, 0.05],  # 15 head
        [0.18, 0.45, -0.01],  # 16 left shoulder
        [-0.18, 0.45, -0.01],  # 17 right shoulder
        [0.44, 0.45, -0.03],  # 18 left elbow
        [-0.44, 0.45, -0.03],  # 19 right elbow
        [0.70, 0.45, -0.02],  # 20 left wrist
        [-0.70, 0.45, -0.02],  # 21 right wrist
        [0.78, 0.44, -0.02],  # 22 left hand
        [-0.78, 0.44, -0.02],  # 23 right hand
    ]
)

REGRESSOR_VERTS_PER_JOINT = 30


def make_random_smpl(seed: int = 0, num_betas: int = 10) -> dict:
    """Arrays of a random SMPL-format model, as an official file holds them (float64, with
    ``J_regressor`` as a dense (24, 6890) array that the pkl writer stores sparse)."""
    rng = np.random.RandomState(seed)
    parents = SMPL_PARENTS
    first_child = np.full(NUM_JOINTS, -1)
    for j in range(NUM_JOINTS - 1, 0, -1):
        first_child[parents[j]] = j

    rest_joints = _REST_JOINTS + 0.005 * rng.randn(NUM_JOINTS, 3)

    # Each vertex belongs to one bone: from its joint towards the joint's first child (leaf
    # joints extend their parent's direction), scattered a few centimetres around it.
    home = rng.permutation(np.arange(NUM_VERTS) % NUM_JOINTS)
    end_points = np.empty((NUM_JOINTS, 3))
    for j in range(NUM_JOINTS):
        if first_child[j] >= 0:
            end_points[j] = rest_joints[first_child[j]]
        else:
            end_points[j] = rest_joints[j] + 0.5 * (rest_joints[j] - rest_joints[parents[j]])
    t = rng.rand(NUM_VERTS)
    v_template = (
        rest_joints[home]
        + t[:, None] * (end_points[home] - rest_joints[home])
        + 0.03 * rng.randn(NUM_VERTS, 3)
    )

    # Skinning: the home joint dominates; the parent and the first child share the rest.
    weights = np.zeros((NUM_VERTS, NUM_JOINTS))
    rows = np.arange(NUM_VERTS)
    np.add.at(weights, (rows, home), 2.0 + rng.rand(NUM_VERTS))
    parent_of_home = np.where(parents[home] >= 0, parents[home], home)
    np.add.at(weights, (rows, parent_of_home), (1.0 - t) * rng.rand(NUM_VERTS))
    child_of_home = np.where(first_child[home] >= 0, first_child[home], home)
    np.add.at(weights, (rows, child_of_home), t * rng.rand(NUM_VERTS))
    weights /= weights.sum(axis=1, keepdims=True)

    # Joint regressor: a few dozen vertices of each joint's own bone, nearest the joint.
    j_regressor = np.zeros((NUM_JOINTS, NUM_VERTS))
    for j in range(NUM_JOINTS):
        candidates = np.flatnonzero(home == j)
        dist = np.linalg.norm(v_template[candidates] - rest_joints[j], axis=1)
        chosen = candidates[np.argsort(dist, kind="stable")[:REGRESSOR_VERTS_PER_JOINT]]
        w = 0.5 + rng.rand(chosen.size)
        j_regressor[j, chosen] = w / w.sum()

    posedirs = 0.004 * rng.randn(NUM_VERTS, 3, NUM_POSEDIRS)

    # Triangles: three distinct vertex indices each.
    a = rng.randint(0, NUM_VERTS, NUM_FACES)
    d1 = rng.randint(1, NUM_VERTS, NUM_FACES)
    d2 = rng.randint(1, NUM_VERTS - 1, NUM_FACES)
    d2 = d2 + (d2 >= d1)
    faces = np.stack([a, (a + d1) % NUM_VERTS, (a + d2) % NUM_VERTS], axis=1).astype(np.uint32)

    # Stands in for SMPL's left/right vertex pairing; any permutation will do here.
    vert_sym_idxs = rng.permutation(NUM_VERTS).astype(np.int64)

    # Shape space: smooth deformations (random linear maps of the body about the pelvis,
    # decaying with the component index) plus a little per-vertex noise. Drawn last, so a
    # 300-component model starts with the same 10 components as a 10-component one.
    shapedirs = np.empty((NUM_VERTS, 3, num_betas))
    for k in range(num_betas):
        linear = rng.randn(3, 3) * (0.05 / np.sqrt(k + 1.0))
        shapedirs[:, :, k] = v_template @ linear.T + 0.002 * rng.randn(NUM_VERTS, 3)

    kintree_table = np.stack([parents, np.arange(NUM_JOINTS)]).astype(np.int64)
    kintree_table[0, 0] = ROOT_PARENT_UINT32

    return {
        "v_template": v_template,
        "shapedirs": shapedirs,
        "posedirs": posedirs,
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": kintree_table,
        "f": faces,
        "J": j_regressor @ v_template,
        "vert_sym_idxs": vert_sym_idxs,
    }


# ---------------------------------------------------------------------------------------
# Official .pkl layout

# Keys stored as chumpy Ch objects in each emulated layout. What exactly the official files
# wrap is not documented: the SMPL authors' save_model() stores shapedirs as the model's
# chumpy object and np.asarray()s the rest, while other accounts have v_template, posedirs,
# weights and J as Ch objects too. The two layouts cover both ends; the reader accepts
# any key as either.
CHUMPY_KEYS = {
    "1.0.0": ("v_template", "shapedirs", "posedirs", "weights", "J"),
    "1.1.0": ("shapedirs",),
}
NUM_BETAS = {"1.0.0": 10, "1.1.0": 300}


def write_official_pkl(
    arrays: dict,
    path: str | os.PathLike,
    version: str = "1.0.0",
    *,
    python2: bool = True,
    sparse_format: str = "csc",
) -> None:
    """Write ``arrays`` (from ``make_random_smpl``) in the official SMPL .pkl layout.

    ``version`` picks which keys are chumpy objects (see ``CHUMPY_KEYS``) and checks the
    number of shape components (10 for v1.0.0, 300 for v1.1.0). ``python2=False`` writes a
    Python-3 re-save instead (protocol 4, unicode strings, numpy's current pickling, scipy's
    private ``scipy.sparse._csc`` module path), as people's converted SMPL_NEUTRAL.pkl files
    are. ``sparse_format`` ('csc' or 'csr') is for testing the reader.
    """
    if version not in CHUMPY_KEYS:
        raise ValueError(f"version must be one of {sorted(CHUMPY_KEYS)}, got {version!r}")
    num_betas = arrays["shapedirs"].shape[-1]
    if num_betas != NUM_BETAS[version]:
        raise ValueError(
            f"SMPL v{version} files have {NUM_BETAS[version]} shape components, got {num_betas}"
        )

    fresh_ch = version == "1.1.0"  # a Ch whose value was never read back keeps 'x' dirty
    regressor = _Sparse(arrays["J_regressor"], sparse_format, python2)
    content = {}
    for key, value in arrays.items():
        if key == "J_regressor":
            content[key] = regressor
        elif key in CHUMPY_KEYS[version]:
            content[key] = _Ch(value, fresh=fresh_ch)
        else:
            content[key] = value
    content["weights_prior"] = arrays["weights"]
    content["J_regressor_prior"] = regressor
    # The real files hold a dict here whose contents are not documented; a placeholder.
    content["pose_training_info"] = {"note": "placeholder for the undocumented training info"}
    content["bs_style"] = "lbs"
    content["bs_type"] = "lrotmin"

    buffer = io.BytesIO()
    _OfficialPickler(buffer, python2=python2).dump(content)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())


def write_npz(arrays: dict, path: str | os.PathLike) -> None:
    """Write ``arrays`` as an .npz with the same key names (J_regressor dense)."""
    np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})


class _Ref:
    """A class named in the pickle by module and name; never imported."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name


class _Ch:
    """Stands for a plain chumpy.ch.Ch holding an array."""

    def __init__(self, x: np.ndarray, fresh: bool) -> None:
        self.x = np.asarray(x, dtype=np.float64)  # Ch(x) stores float64
        self.fresh = fresh

    def state(self) -> dict:
        # Ch.__getstate__: the instance __dict__ without '_parents' and '_cache'.
        state = {
            "_dirty_vars": {"x"} if self.fresh else set(),
            "_itr": None,
            "_make_dense": False,
            "_make_sparse": False,
            "_depends_on_deps": {},
            "x": self.x,
        }
        if not self.fresh:
            state["_status"] = "new"  # set on the instance once .r has been read
        return state


class _Sparse:
    """Stands for a scipy.sparse csc_matrix / csr_matrix built from a dense array."""

    def __init__(self, dense: np.ndarray, fmt: str, python2: bool) -> None:
        if fmt not in ("csc", "csr"):
            raise ValueError(f"sparse_format must be 'csc' or 'csr', got {fmt!r}")
        dense = np.asarray(dense, dtype=np.float64)
        major = dense.T if fmt == "csc" else dense
        nz_major, nz_minor = np.nonzero(major)  # row-major order: sorted by major, then minor
        self.fmt = fmt
        self.module = f"scipy.sparse.{fmt}" if python2 else f"scipy.sparse._{fmt}"
        self.python2 = python2
        self.shape = dense.shape
        self.data = major[nz_major, nz_minor]
        self.indices = nz_minor.astype(np.int32)
        self.indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(nz_major, minlength=major.shape[0]))]
        ).astype(np.int32)

    def state(self) -> dict:
        state = {
            "_shape": tuple(int(s) for s in self.shape),
            "maxprint": 50,
            "indices": self.indices,
            "indptr": self.indptr,
            "data": self.data,
        }
        if self.python2:
            state["format"] = self.fmt  # an instance attribute in the scipy of 2015
        return state


class _OfficialPickler(pickle._Pickler):
    """Pure-Python pickler that emits chumpy / scipy globals by name and, for the Python-2
    layout, writes strings and numpy arrays the way Python 2 with numpy 1.x did."""

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, python2: bool) -> None:
        super().__init__(file, protocol=2 if python2 else 4, fix_imports=True)
        self.python2 = python2

    # -- objects of libraries that are never imported -------------------------------------

    def save_ref(self, ref: _Ref) -> None:
        self.write(pickle.GLOBAL + f"{ref.module}\n{ref.name}\n".encode("ascii"))
        self.memoize(ref)

    def _save_newobj(self, cls_ref: _Ref, state: dict, obj: object) -> None:
        # What protocol 2 writes for a new-style instance: cls, (), NEWOBJ, state, BUILD.
        self.save(cls_ref)
        self.write(pickle.EMPTY_TUPLE + pickle.NEWOBJ)
        self.memoize(obj)
        self.save(state)
        self.write(pickle.BUILD)

    def save_ch(self, ch: _Ch) -> None:
        self._save_newobj(_Ref("chumpy.ch", "Ch"), ch.state(), ch)

    def save_sparse(self, sp: _Sparse) -> None:
        self._save_newobj(_Ref(sp.module, f"{sp.fmt}_matrix"), sp.state(), sp)

    dispatch[_Ref] = save_ref
    dispatch[_Ch] = save_ch
    dispatch[_Sparse] = save_sparse

    # -- Python 2 flavour ------------------------------------------------------------------

    def save_py2_str(self, obj: str) -> None:
        if not self.python2 or not obj.isascii():
            return pickle._Pickler.save_str(self, obj)
        self._write_binstring(obj.encode("ascii"))
        self.memoize(obj)

    def save_py2_bytes(self, obj: bytes) -> None:
        if not self.python2:
            return pickle._Pickler.save_bytes(self, obj)
        self._write_binstring(obj)
        self.memoize(obj)

    def _write_binstring(self, data: bytes) -> None:
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + len(data).to_bytes(4, "little") + data)

    def save_py2_ndarray(self, arr: np.ndarray) -> None:
        if not self.python2:
            return self.save_reduce(*arr.__reduce__(), obj=arr)
        # numpy 1.x: _reconstruct(ndarray, (0,), 'b') then
        # __setstate__((1, shape, dtype, is_fortran, raw bytes as a Python-2 str)).
        if arr.dtype.hasobject:
            raise ValueError("object arrays are not emulated")
        self.save(_Ref("numpy.core.multiarray", "_reconstruct"))
        self.save((_Ref("numpy", "ndarray"), (0,), b"b"))
        self.write(pickle.REDUCE)
        self.memoize(arr)
        contiguous = np.ascontiguousarray(arr)
        self.save((1, tuple(int(s) for s in arr.shape), arr.dtype, False, contiguous.tobytes()))
        self.write(pickle.BUILD)

    def save_py2_dtype(self, dtype: np.dtype) -> None:
        if not self.python2:
            return self.save_reduce(*dtype.__reduce__(), obj=dtype)
        # numpy 1.x: dtype('f8', 0, 1) then __setstate__((3, '<', None, None, None, -1, -1, 0)).
        self.save(_Ref("numpy", "dtype"))
        self.save((dtype.str[1:], 0, 1))
        self.write(pickle.REDUCE)
        self.memoize(dtype)
        self.save((3, dtype.str[0], None, None, None, -1, -1, 0))
        self.write(pickle.BUILD)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_bytes
    dispatch[np.ndarray] = save_py2_ndarray

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, np.dtype):  # dtype instances have per-dtype classes
            x = self.memo.get(id(obj))
            if x is not None:
                self.write(self.get(x[0]))
                return
            return self.save_py2_dtype(obj)
        return super().save(obj, save_persistent_id)


def model_fingerprint(arrays: dict) -> np.ndarray:
    """A few float64 sums of the model arrays; the tests compare them to catch a changed model."""
    keys = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights")
    sums = []
    for key in keys:
        a = np.asarray(arrays[key], np.float64)
        ramp = np.linspace(1.0, 2.0, a.size).reshape(a.shape)  # position-sensitive
        sums.append(np.sum(a * ramp))
    sums.append(float(np.sum(np.asarray(arrays["f"], np.int64))))
    return np.array(sums, dtype=np.float64)
