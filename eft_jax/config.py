"""Job configurations: `configs/<job>.py` files exposing `get_config()`, plus dotted overrides.

    config = load_config("configs/demo.py", ["output_dir=/tmp/out", "betas_scale=2.0"])

Overrides are `key.sub=value`; the value is parsed as a Python literal when it is one (numbers,
booleans, None, lists, tuples, quoted strings), otherwise kept as a string. An override of a key
the config does not have is an error, so a typo never passes silently.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import ml_collections

class ConfigError(ValueError):
    """A config file or override that cannot be applied."""


CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def default_config_path(job: str) -> Path:
    """`configs/<job>.py` of this source tree."""
    path = CONFIG_DIR / f"{job}.py"
    if not path.exists():
        raise FileNotFoundError(
            f"default config {path} not found: install eft-jax from a source checkout "
            "(`pip install -e .`) or pass --config PATH"
        )
    return path


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ml_collections.ConfigDict:
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
