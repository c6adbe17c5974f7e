"""The command line: ``pyro-autoregressive train | sample | evaluate``.

One module per command (``train``, ``sample``, ``evaluate``), with the model families
(``families``), the data (``data``), the flag checks (``flags``) and what is written
(``outputs``) apart.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import evaluate, sample, train
from .families import MODELS
from .flags import Parser

__all__ = ["MODELS", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="pyro-autoregressive", description="Train, sample and evaluate autoregressive distributions.")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (train, sample, evaluate):
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; a bad flag, or a library ``ValueError``/``TypeError``, is one line on stderr and exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        parser.exit(2, f"{parser.prog}: error: {message}\n")


if __name__ == "__main__":
    sys.exit(main())
