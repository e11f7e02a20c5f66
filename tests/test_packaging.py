"""What an installed eft-jax carries: every package, the default configs, no build-only code.

The wheel itself is built, installed into a fresh environment and run (`eft-jax demo` at a tiny
size) by `.ci/run`; these tests check the declarations that make it work, quickly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from eft_jax import config as config_module
from eft_jax.config import default_config_path, load_config

pytestmark = pytest.mark.fast_compiles

REPO = Path(__file__).resolve().parents[1]
JOBS = ("demo", "eft_default", "smplify", "train_synthetic")


@pytest.fixture(scope="module")
def setuptools_table():
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_is_listed(setuptools_table):
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "eft_jax").rglob("__init__.py")
    }
    listed = set(setuptools_table["packages"])
    assert on_disk | {"eft_jax.configs"} == listed


def test_configs_ship_inside_the_package(setuptools_table):
    assert setuptools_table["package-dir"] == {"eft_jax.configs": "configs"}
    for job in JOBS:
        assert (REPO / "configs" / f"{job}.py").is_file()


def test_build_only_code_is_outside_the_package():
    """The open-body, mocap and pose-GMM builders (anny / torch / pybullet / scipy, or build-only
    EM): tools/, not eft_jax/."""
    assert sorted(p.name for p in (REPO / "tools").glob("build_*.py")) == [
        "build_mocap_poses.py",
        "build_open_model.py",
        "build_pose_gmm.py",
    ]
    assert not list((REPO / "eft_jax").rglob("build_*.py"))


def test_default_configs_are_found_when_installed(tmp_path, monkeypatch):
    """An installed package has its configs at eft_jax/configs and no top-level configs/ beside
    it: the loader finds them there (and prefers them to a checkout's)."""
    installed = tmp_path / "site-packages" / "eft_jax" / "configs"
    installed.mkdir(parents=True)
    for job in JOBS:
        (installed / f"{job}.py").write_text((REPO / "configs" / f"{job}.py").read_text())
    monkeypatch.setattr(
        config_module, "CONFIG_DIRS", (installed, tmp_path / "site-packages" / "configs")
    )
    for job in JOBS:
        assert default_config_path(job) == installed / f"{job}.py"
    assert (
        load_config(default_config_path("demo")).eft.max_iters > 0
    )  # demo.py loads eft_default too
    monkeypatch.setattr(config_module, "CONFIG_DIRS", (tmp_path / "nowhere",))
    with pytest.raises(FileNotFoundError, match="demo.py not found.*--config"):
        default_config_path("demo")


def test_declared_minimums_are_the_tested_versions():
    """pyproject's minimums of the core libraries are at least the versions installed here (the
    ones the suite runs on), never the untested old ones (jax 0.4 lacks jax.shard_map)."""
    from importlib.metadata import version

    declared = {}
    for requirement in tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]:
        name, minimum = requirement.split(">=")
        declared[name] = tuple(int(x) for x in minimum.split("."))
    for name in ("jax", "flax", "optax"):
        installed = tuple(int(x) for x in version(name).split(".")[:3])
        assert declared[name] <= installed, (
            f"{name}: declared {declared[name]}, installed {installed}"
        )
        assert declared[name] >= {"jax": (0, 10, 2), "flax": (0, 12, 8), "optax": (0, 2, 8)}[name]
