"""The `eft-jax` console script: one entry point, a subcommand per job.

Each job reads its config (`configs/<job>.py` unless --config is given) and accepts dotted
overrides as trailing `key=value` arguments, e.g. `eft-jax demo output_dir=/tmp/demo`.
"""

from __future__ import annotations

import argparse
import sys

from eft_jax.body import BodyModelFileError, SmplFileError
from eft_jax.config import ConfigError, default_config_path, load_config


def _demo(args: argparse.Namespace) -> None:
    from eft_jax.demo import run_demo

    overrides = list(args.overrides)
    if args.out is not None:
        overrides.append(f"output_dir={args.out!r}")
    if args.body is not None:
        overrides.append(f"body_model={args.body!r}")
    run_demo(load_config(args.config or default_config_path("demo"), overrides))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eft-jax", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="pose the bundled body model and write meshes + joints")
    demo.add_argument("--config", help="config file (default: configs/demo.py)")
    demo.add_argument("--out", help="output folder (config field output_dir)")
    demo.add_argument("--body", help="SMPL model file (.pkl/.npz); default: the bundled open model")
    demo.add_argument("overrides", nargs="*", help="config overrides key=value")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (FileNotFoundError, ConfigError, BodyModelFileError, SmplFileError) as error:
        print(f"eft-jax {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
