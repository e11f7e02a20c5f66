"""Job configurations: `configs/<job>.py` files exposing `get_config()`, plus dotted overrides.

    config = load_config(default_config_path("demo"), ["output_dir=/tmp/out", "num_exemplars=4"])

The default configs live in the repository's top-level `configs/` folder; an installed eft-jax
(wheel or `pip install .`) carries the same files as the package `eft_jax.configs`.

Overrides are `key.sub=value`; the value is parsed as a Python literal when it is one (numbers,
booleans, None, lists, tuples, quoted strings), otherwise kept as a string. An override of a key
the config does not have is an error, so a typo never passes silently.

Each override is checked against the field it sets when it is parsed, so a bad value stops the
run at once with one line naming the key and what it takes (`check_value`): the field's default
gives its type (an integer field takes integers, a float field numbers, a flag True or False, a
tuple field a tuple, a text field text), and numbers are in range: no field of a job's config is
meaningfully negative, and the fields of `COUNTS` count things and take at least 1.
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
    value = check_value(dotted.strip(), node[leaf], raw)
    with node.ignore_type():
        node[leaf] = value


# Fields (by their last name, in any job's config) that count things: at least 1.
COUNTS = frozenset(
    {
        "max_iters",
        "batch_size",
        "hypotheses",
        "chunk_size",
        "iterations_per_call",
        "num_exemplars",
        "picture_size",
        "image_size",
        "num_train",
        "total_steps",
        "log_every",
        "checkpoint_every",
        "eval_every",
    }
)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_value(dotted: str, current, raw: str):
    """The value the override `dotted=raw` sets, checked against the field's default `current`
    (module docstring); ConfigError naming the key and what it takes otherwise."""
    value = _parse_value(raw)
    leaf = dotted.rsplit(".", 1)[-1]

    def refuse(takes: str) -> ConfigError:
        return ConfigError(f"{dotted} takes {takes}; got {raw!r}")

    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise refuse("True or False")
        return value
    if _is_number(current):
        minimum = 1 if leaf in COUNTS else 0
        if isinstance(current, int):
            takes = f"an integer >= {minimum}"
            if not (isinstance(value, int) and not isinstance(value, bool)):
                raise refuse(takes)
        else:
            takes = f"a number >= {minimum}"
            if not _is_number(value) or value != value or value in (float("inf"), float("-inf")):
                raise refuse(takes)
            value = float(value)
        if value < minimum:
            raise refuse(takes)
        return value
    if isinstance(current, (tuple, list)):
        if not isinstance(value, (tuple, list)):
            raise refuse(f"a tuple, e.g. {tuple(current)!r}")
        return value
    if isinstance(current, str):
        # Text stays text (`workdir=2024`); a list of names where the field allows one
        # (`trainable=['head']`) and None are kept.
        return raw if isinstance(value, (int, float)) else value
    if isinstance(current, ml_collections.ConfigDict):
        raise refuse(
            f"no value of its own: set its fields, e.g. {dotted}.{next(iter(current))}=..."
        )
    return value


def _parse_value(raw: str):
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw
