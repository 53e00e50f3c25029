"""The ``noble`` command line.

Each subcommand lives in its own module ``noble.commands.<name>`` exposing
``register(subparsers) -> argparse.ArgumentParser`` whose parser sets ``func`` (called with the parsed args).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from noble.errors import NobleError
from noble.version import __version__

#: Subcommands in the order ``noble --help`` lists them.
COMMANDS = ("fetch", "cells", "simulate", "upgrade-dataset", "features", "train", "evaluate", "export", "fit", "bench")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="noble",
        description="NOBLE companion: data, PDE simulation, FNO training and evaluation (units: nA, mV, ms).",
    )
    parser.add_argument("--version", action="version", version=f"noble {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"noble.commands.{name.replace('-', '_')}")
        except ModuleNotFoundError as exc:
            if exc.name == f"noble.commands.{name.replace('-', '_')}":
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``noble`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        result = args.func(args)
    except NobleError as exc:
        print(f"noble {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"noble {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
