"""No file eft-jax reads can run code: malicious pickles of every kind the project reads.

Each file below, loaded with plain `pickle.load`, would run `os.system("touch <marker>")` (or
import a module whose import writes the marker). Each test reads it the way eft-jax does and
asserts that the marker was never written and that the error names the file and the refused call.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import zipfile

import pytest

from eft_jax import cli, safe_pickle
from eft_jax.body import SmplFileError, read_smpl_file
from eft_jax.nets import TorchCheckpointError, read_torch_checkpoint
from eft_jax.nets.torch_checkpoint import LEGACY_MAGIC, LEGACY_PROTOCOL

pytestmark = pytest.mark.fast_compiles


class _RunsCommand:
    """Pickles as a call of os.system(command)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.fixture
def marker(tmp_path):
    """A path that exists only if a malicious pickle ran its command."""
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a malicious pickle ran its command"


def _payload(marker, protocol=2) -> bytes:
    data = pickle.dumps(_RunsCommand(f"touch {marker}"), protocol=protocol)
    assert b"system" in data  # the pickle does name os.system (posix.system on Linux)
    return data


def test_the_payload_would_run_with_plain_pickle(tmp_path):
    """The attack is real: plain pickle.load runs it (so the tests below could fail)."""
    marker = tmp_path / "ran"
    pickle.loads(_payload(marker))
    assert marker.exists()


def test_legacy_pt_whose_first_pickle_runs_a_command(tmp_path, marker):
    # The magic number, protocol and system info are pickles too; the first one is the attack.
    path = tmp_path / "evil_legacy.pt"
    path.write_bytes(_payload(marker) + pickle.dumps(LEGACY_PROTOCOL))
    with pytest.raises(TorchCheckpointError, match=r"refused to read.*names posix\.system") as info:
        read_torch_checkpoint(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("position", ["protocol", "sys_info", "object", "storage_keys"])
def test_legacy_pt_with_a_command_in_a_later_pickle(tmp_path, marker, position):
    pickles = {
        "magic": pickle.dumps(LEGACY_MAGIC, protocol=2),
        "protocol": pickle.dumps(LEGACY_PROTOCOL, protocol=2),
        "sys_info": pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2),
        "object": pickle.dumps({"model": {}}, protocol=2),
        "storage_keys": pickle.dumps([], protocol=2),
    }
    pickles[position] = _payload(marker)
    path = tmp_path / f"evil_{position}.pt"
    path.write_bytes(b"".join(pickles.values()))
    with pytest.raises(TorchCheckpointError, match=r"refused to read.*posix\.system"):
        read_torch_checkpoint(path)


def test_zip_pt_whose_data_pkl_runs_a_command(tmp_path, marker):
    path = tmp_path / "evil_zip.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "checkpoint/data.pkl", pickle.dumps({"model": _RunsCommand(f"touch {marker}")})
        )
        archive.writestr("checkpoint/version", "3\n")
    with pytest.raises(TorchCheckpointError, match=r"refused to read.*posix\.system") as info:
        read_torch_checkpoint(path)
    assert str(path) in str(info.value)


def test_convert_spin_reports_a_malicious_checkpoint(tmp_path, marker, capsys):
    path = tmp_path / "model_checkpoint.pt"
    path.write_bytes(_payload(marker))
    assert cli.main(["convert-spin", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "posix.system" in err


@pytest.mark.parametrize("protocol", [2, 4])  # the reader takes binary pickles only
def test_smpl_pkl_that_runs_a_command(tmp_path, marker, protocol):
    path = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    path.write_bytes(
        pickle.dumps({"v_template": _RunsCommand(f"touch {marker}")}, protocol=protocol)
    )
    with pytest.raises(
        SmplFileError, match=r"refused to read SMPL model file.*posix\.system"
    ) as info:
        read_smpl_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "module,name",
    [
        ("__builtin__", "eval"),
        ("builtins", "exec"),
        ("commands", "getoutput"),
        ("subprocess", "Popen"),
        ("importlib", "import_module"),
    ],
)
def test_standard_library_names_are_refused(module, name):
    data = f"c{module}\n{name}\n(Vprint(1)\ntR.".encode()
    with pytest.raises(safe_pickle.UnsafePickleError, match=f"{module}.{name}"):
        safe_pickle.load(io.BytesIO(data), stand_ins=True)


def test_other_modules_are_never_imported(tmp_path, monkeypatch):
    """A class from outside the standard library becomes an inert stand-in: its module (whose
    import would write the marker) is not imported and nothing is called."""
    marker = tmp_path / "imported"
    (tmp_path / "eftjax_evil_module.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Thing: pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    data = b"ceftjax_evil_module\nThing\n(I1\nI2\ntR}S'k'\nI3\nsb."
    obj = safe_pickle.load(io.BytesIO(data), stand_ins=True)
    assert isinstance(obj, safe_pickle.InertObject)
    assert (obj.qualname, obj.args, obj.state) == ("eftjax_evil_module.Thing", (1, 2), {"k": 3})
    assert not marker.exists() and "eftjax_evil_module" not in sys.modules
    # Without stand-ins the same name is refused.
    with pytest.raises(safe_pickle.UnsafePickleError, match="eftjax_evil_module.Thing"):
        safe_pickle.load(io.BytesIO(data))


def test_numpy_arrays_round_trip_under_both_protocols():
    import numpy as np

    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    for protocol in (2, 5):
        out = safe_pickle.load(
            io.BytesIO(pickle.dumps({"a": array, "s": np.float64(2.5)}, protocol=protocol))
        )
        np.testing.assert_array_equal(out["a"], array)
        assert out["s"] == 2.5
