"""Job configurations: `configs/<job>.py` files exposing `get_config()`, plus dotted overrides.

    config = load_config(default_config_path("demo"), ["output_dir=/tmp/out", "num_exemplars=4"])

The default configs live in the repository's top-level `configs/` folder; an installed eft-jax
(wheel or `pip install .`) carries the same files as the package `eft_jax.configs`.

Overrides are `key.sub=value`; the value is parsed as a Python literal when it is one (numbers,
booleans, None, lists, tuples, quoted strings), otherwise kept as a string. An override of a key
the config does not have is an error, so a typo never passes silently.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import ml_collections

from eft_jax.errors import InputError


class ConfigError(InputError, ValueError):
    """A config file or override that cannot be applied."""


# Where the default configs are: inside the installed package (pyproject.toml maps configs/ to
# eft_jax.configs), or the top-level configs/ of a source checkout (editable install, PYTHONPATH).
CONFIG_DIRS = (
    Path(__file__).resolve().parent / "configs",
    Path(__file__).resolve().parent.parent / "configs",
)


def default_config_path(job: str) -> Path:
    """The default config file of `job` (`configs/<job>.py`), installed or in a source checkout."""
    for directory in CONFIG_DIRS:
        path = directory / f"{job}.py"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"default config {job}.py not found in {' or '.join(map(str, CONFIG_DIRS))}; pass --config PATH"
    )


def load_config(
    path: str | Path, overrides: list[str] | tuple[str, ...] = ()
) -> ml_collections.ConfigDict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file not found: {path}")
    spec = importlib.util.spec_from_file_location(f"eft_jax_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ConfigError(f"{path} defines no get_config()")
    config = module.get_config()
    for override in overrides:
        apply_override(config, override)
    return config


def apply_override(config: ml_collections.ConfigDict, override: str) -> None:
    if "=" not in override:
        raise ConfigError(f"override {override!r} is not of the form key=value")
    dotted, raw = override.split("=", 1)
    *parents, leaf = dotted.strip().split(".")
    node = config
    for name in parents:
        if name not in node:
            raise ConfigError(f"override {override!r}: config has no field {name!r}")
        node = node[name]
    if leaf not in node:
        raise ConfigError(f"override {override!r}: config has no field {dotted!r}")
    value = _parse_value(raw)
    current = node[leaf]
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    with node.ignore_type():
        node[leaf] = value


def _parse_value(raw: str):
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw
