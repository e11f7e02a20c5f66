"""Jobs behind the `eft-jax` subcommands: each reads a config and writes its outputs."""
