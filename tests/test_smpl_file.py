"""read_smpl_file: official .pkl layouts and .npz, without chumpy or scipy; clear errors."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import types
import warnings

import numpy as np
import pytest
from random_smpl_model import SMPL_PARENTS, make_random_smpl, write_npz, write_official_pkl

from eft_jax.body.smpl_file import SmplFileError, gender_from_filename, read_smpl_file

pytestmark = pytest.mark.fast_compiles

FLOAT_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights")


@pytest.fixture(scope="module")
def model10():
    return make_random_smpl(seed=0, num_betas=10)


@pytest.fixture(scope="module")
def model300():
    return make_random_smpl(seed=0, num_betas=300)


@pytest.fixture(scope="module")
def pkl_v100(model10, tmp_path_factory):
    path = tmp_path_factory.mktemp("smpl") / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    write_official_pkl(model10, path, version="1.0.0")
    return path


def assert_round_trip(loaded: dict, arrays: dict) -> None:
    for key in FLOAT_KEYS:
        expected = np.asarray(arrays[key], dtype=np.float32)
        assert loaded[key].dtype == np.float32, key
        assert loaded[key].shape == expected.shape, key
        np.testing.assert_array_equal(loaded[key], expected, err_msg=key)
    assert loaded["parents"].dtype == np.int32
    np.testing.assert_array_equal(loaded["parents"], SMPL_PARENTS)
    assert loaded["faces"].dtype == np.int32
    np.testing.assert_array_equal(loaded["faces"], arrays["f"].astype(np.int64))


# --------------------------------------------------------------------------------------
# Round trips


def test_pkl_v100_round_trip(pkl_v100, model10):
    loaded = read_smpl_file(pkl_v100)
    assert_round_trip(loaded, model10)
    assert loaded["shapedirs"].shape == (6890, 3, 10)
    assert loaded["posedirs"].shape == (6890, 3, 207)
    assert loaded["J_regressor"].shape == (24, 6890)
    assert loaded["gender"] == "neutral"


def test_pkl_v110_keeps_all_300_components(model300, tmp_path):
    path = tmp_path / "basicmodel_m_lbs_10_207_0_v1.1.0.pkl"
    write_official_pkl(model300, path, version="1.1.0")
    loaded = read_smpl_file(path)
    assert_round_trip(loaded, model300)
    assert loaded["shapedirs"].shape == (6890, 3, 300)
    assert loaded["gender"] == "male"


def test_pkl_python3_resave_round_trip(model10, tmp_path):
    # e.g. a SMPL_FEMALE.pkl re-saved under Python 3 with chumpy and a recent scipy
    path = tmp_path / "SMPL_FEMALE.pkl"
    write_official_pkl(model10, path, version="1.0.0", python2=False)
    assert b"scipy.sparse._csc" in path.read_bytes()
    loaded = read_smpl_file(path)
    assert_round_trip(loaded, model10)
    assert loaded["gender"] == "female"


def test_pkl_csr_regressor_round_trip(model10, tmp_path):
    path = tmp_path / "model.pkl"
    write_official_pkl(model10, path, version="1.0.0", sparse_format="csr")
    assert b"scipy.sparse.csr\ncsr_matrix" in path.read_bytes()
    loaded = read_smpl_file(path)
    assert_round_trip(loaded, model10)
    assert loaded["gender"] == "unknown"


def test_npz_round_trip(model10, tmp_path):
    path = tmp_path / "SMPL_NEUTRAL.npz"
    write_npz(model10, path)
    loaded = read_smpl_file(path)
    assert_round_trip(loaded, model10)
    assert loaded["gender"] == "neutral"


def test_npz_with_uint32_kintree_and_minus_one_root(model10, tmp_path):
    for root_parent, dtype in ((2**32 - 1, np.uint32), (-1, np.int32)):
        arrays = dict(model10)
        kintree = model10["kintree_table"].copy()
        kintree[0, 0] = root_parent
        arrays["kintree_table"] = kintree.astype(dtype)
        path = tmp_path / f"model_{dtype.__name__}.npz"
        write_npz(arrays, path)
        np.testing.assert_array_equal(read_smpl_file(path)["parents"], SMPL_PARENTS)


def test_sparse_regressor_rebuilt_like_scipy():
    """Duplicate (row, col) entries add up, as in scipy; csc and csr index differently."""
    from eft_jax.body.smpl_file import _sparse_to_dense, _SparseObject
    from eft_jax.safe_pickle import inert_class

    state = {"_shape": (2, 3), "data": np.array([1.0, 2.0, 5.0]), "indices": np.array([1, 1, 0])}
    for fmt, indptr, expected in (
        ("csc", [0, 2, 3, 3], [[0.0, 5.0, 0.0], [3.0, 0.0, 0.0]]),
        ("csr", [0, 2, 3], [[0.0, 3.0, 0.0], [5.0, 0.0, 0.0]]),
    ):
        cls = inert_class(f"scipy.sparse._{fmt}", f"{fmt}_matrix", _SparseObject)
        obj = cls()
        obj.__setstate__(dict(state, indptr=np.array(indptr)))
        np.testing.assert_array_equal(_sparse_to_dense(obj, "J_regressor", "x.pkl"), expected)


# --------------------------------------------------------------------------------------
# No chumpy, no scipy


def test_reads_pkl_with_chumpy_scipy_and_torch_unimportable(pkl_v100, model10, tmp_path):
    expected = tmp_path / "expected.npz"
    np.savez(expected, **{k: np.asarray(model10[k], np.float32) for k in FLOAT_KEYS})
    script = textwrap.dedent(
        f"""
        import sys, importlib.abc
        import numpy as np

        BLOCKED = ("chumpy", "scipy", "torch")

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is blocked in this test")
                return None

        sys.meta_path.insert(0, Blocker())
        for name in list(sys.modules):
            if name.split(".")[0] in BLOCKED:
                del sys.modules[name]

        from eft_jax.body.smpl_file import read_smpl_file
        loaded = read_smpl_file({str(pkl_v100)!r})
        expected = np.load({str(expected)!r})
        for key in expected.files:
            np.testing.assert_array_equal(loaded[key], expected[key], err_msg=key)
        leaked = sorted(n for n in sys.modules if n.split(".")[0] in BLOCKED)
        assert not leaked, leaked
        print("OK")
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("OK")


def test_emulated_pkl_loads_with_the_real_libraries(pkl_v100, model10, monkeypatch):
    """The writer's emulation is faithful: plain pickle with real scipy (and a chumpy whose
    Ch keeps its state, as chumpy's own __setstate__ does) rebuilds the same arrays."""
    scipy_sparse = pytest.importorskip("scipy.sparse")

    class Ch:
        def __setstate__(self, state):
            self.__dict__.update(state)

    chumpy = types.ModuleType("chumpy")
    chumpy_ch = types.ModuleType("chumpy.ch")
    chumpy_ch.Ch = Ch
    chumpy.ch = chumpy_ch
    monkeypatch.setitem(sys.modules, "chumpy", chumpy)
    monkeypatch.setitem(sys.modules, "chumpy.ch", chumpy_ch)

    with open(pkl_v100, "rb") as f, warnings.catch_warnings():
        # scipy >= 1.8 deprecates the scipy.sparse.csc path that the official files name
        warnings.simplefilter("ignore", DeprecationWarning)
        data = pickle.load(f, encoding="latin1")
    assert scipy_sparse.issparse(data["J_regressor"]) and data["J_regressor"].format == "csc"
    np.testing.assert_array_equal(data["J_regressor"].toarray(), model10["J_regressor"])
    assert isinstance(data["shapedirs"], Ch) and data["shapedirs"].x.dtype == np.float64
    np.testing.assert_array_equal(data["shapedirs"].x, model10["shapedirs"])
    assert data["bs_type"] == "lrotmin" and data["bs_style"] == "lbs"
    assert data["kintree_table"][0, 0] == 2**32 - 1


# --------------------------------------------------------------------------------------
# Gender from the file name


@pytest.mark.parametrize(
    "name, gender",
    [
        ("basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", "neutral"),
        ("basicModel_f_lbs_10_207_0_v1.0.0.pkl", "female"),
        ("basicmodel_m_lbs_10_207_0_v1.0.0.pkl", "male"),
        ("basicmodel_m_lbs_10_207_0_v1.1.0.pkl", "male"),
        ("basicmodel_f_lbs_10_207_0_v1.1.0.pkl", "female"),
        ("basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl", "neutral"),
        ("SMPL_NEUTRAL.pkl", "neutral"),
        ("SMPL_MALE.npz", "male"),
        ("/some/where/SMPL_FEMALE.npz", "female"),
        ("/data/male/model.pkl", "unknown"),  # only the file name counts
        ("model.pkl", "unknown"),
        ("smpl_male_female.pkl", "unknown"),
        ("formal.pkl", "unknown"),
    ],
)
def test_gender_from_filename(name, gender):
    assert gender_from_filename(name) == gender


# --------------------------------------------------------------------------------------
# Errors


def _raises(path, *fragments) -> SmplFileError:
    with pytest.raises(SmplFileError) as info:
        read_smpl_file(path)
    message = str(info.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


def test_missing_file(tmp_path):
    _raises(tmp_path / "SMPL_NEUTRAL.pkl", "not found")


def test_directory(tmp_path):
    _raises(tmp_path, "directory")


def test_empty_file(tmp_path):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(b"")
    _raises(path, "empty")


def test_not_a_pickle_or_npz(tmp_path):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_text("v 0 0 0\nf 1 2 3\n")
    _raises(path, "neither a pickle nor an .npz")


def test_truncated_pkl(pkl_v100, tmp_path):
    data = pkl_v100.read_bytes()
    path = tmp_path / "truncated.pkl"
    path.write_bytes(data[: len(data) // 2])
    error = _raises(path, "truncated or corrupt")
    assert error.__cause__ is not None


def test_truncated_npz(model10, tmp_path):
    full = tmp_path / "full.npz"
    write_npz(model10, full)
    path = tmp_path / "truncated.npz"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    error = _raises(path, "truncated or corrupt")
    assert error.__cause__ is not None


def test_pickle_of_something_else(tmp_path):
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    _raises(path, "builtins.list", "expected the dict of a SMPL model")


def test_pickle_naming_other_code_runs_none_of_it(tmp_path):
    marker = tmp_path / "was_run"
    # GLOBAL os.system, called with a shell command: a plain pickle.load would run it.
    payload = b"\x80\x02cos\nsystem\nq\x00X" + len(f"touch {marker}").to_bytes(4, "little")
    payload += f"touch {marker}".encode() + b"\x85R."
    path = tmp_path / "evil.pkl"
    path.write_bytes(payload)
    _raises(path, "os.system")
    assert not marker.exists()


def test_missing_keys(model10, tmp_path):
    arrays = {k: v for k, v in model10.items() if k not in ("posedirs", "weights")}
    path = tmp_path / "model.npz"
    write_npz(arrays, path)
    _raises(path, "missing key(s) posedirs, weights")


@pytest.mark.parametrize(
    "key, bad, fragment",
    [
        (
            "posedirs",
            lambda a: a[..., :200],
            "'posedirs' has shape (6890, 3, 200), expected (6890, 3, 207)",
        ),
        (
            "J_regressor",
            lambda a: a[:23],
            "'J_regressor' has shape (23, 6890), expected (24, 6890)",
        ),
        ("weights", lambda a: a[:, :23], "'weights' has shape (6890, 23), expected (6890, 24)"),
        ("weights", lambda a: a[:-1], "'weights' has shape (6889, 24), expected (6890, 24)"),
        (
            "shapedirs",
            lambda a: a[:-5],
            "'shapedirs' has shape (6885, 3, 10), expected (6890, 3, S)",
        ),
        ("v_template", lambda a: a[:, :2], "'v_template' has shape (6890, 2), expected (V, 3)"),
        ("f", lambda a: a[:, :2], "'f' has shape (13776, 2), expected (F, 3)"),
        ("f", lambda a: a + np.uint32(6890), "vertex indices in"),
        (
            "kintree_table",
            lambda a: a[:, :23],
            "'kintree_table' has shape (2, 23), expected (2, 24)",
        ),
        ("kintree_table", lambda a: a[:, ::-1], "kintree_table"),
        ("posedirs", lambda a: np.where(a > 0.01, np.nan, a), "'posedirs' contains NaN"),
    ],
)
def test_wrong_contents(model10, tmp_path, key, bad, fragment):
    arrays = dict(model10)
    arrays[key] = bad(np.asarray(model10[key]))
    path = tmp_path / "model.npz"
    write_npz(arrays, path)
    _raises(path, fragment)


def test_root_with_a_parent(model10, tmp_path):
    arrays = dict(model10)
    arrays["kintree_table"] = model10["kintree_table"].copy()
    arrays["kintree_table"][0, 0] = 5
    path = tmp_path / "model.npz"
    write_npz(arrays, path)
    _raises(path, "gives the root joint the parent 5")


def test_wrong_shape_in_pkl_names_the_key(model10, tmp_path):
    arrays = dict(model10)
    arrays["posedirs"] = model10["posedirs"][..., :69]
    path = tmp_path / "basicModel_f_lbs_10_207_0_v1.0.0.pkl"
    write_official_pkl(arrays, path, version="1.0.0")
    _raises(path, "'posedirs' has shape (6890, 3, 69), expected (6890, 3, 207)")


def test_npz_with_pickled_objects(model10, tmp_path):
    arrays = {k: np.asarray(v) for k, v in model10.items()}
    arrays["pose_training_info"] = np.array({"a": 1}, dtype=object)
    path = tmp_path / "model.npz"
    np.savez(path, **arrays)
    _raises(path, "pickled Python objects")


def test_chumpy_expression_without_value_is_reported(model10, tmp_path):
    # A derived chumpy object (not a plain Ch) stores its operands, not an 'x'.
    path = tmp_path / "model.pkl"
    write_official_pkl(model10, path, version="1.0.0")
    data = path.read_bytes().replace(b"chumpy.ch\nCh\n", b"chumpy.ch\nXx\n")
    data = data.replace(b"U\x01x", b"U\x01a")  # the state key 'x' -> 'a'
    path.write_bytes(data)
    _raises(path, "chumpy Xx with no stored value ('x')")
