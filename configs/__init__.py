"""Default job configs, one file per `eft-jax` subcommand (ml_collections, `get_config()`).

This folder is the source of truth; installs ship it as the package `eft_jax.configs`
(pyproject.toml), and `eft_jax.config.default_config_path` finds it in either place.
"""
