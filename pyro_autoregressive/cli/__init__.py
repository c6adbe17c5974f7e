"""The command line: ``pyro-autoregressive train | sample | evaluate | info``.

One module per command (``train``, ``sample``, ``evaluate``, ``info``), with the model
families (``families``), the data (``data``, ``data_spec``), runs on disk (``run_info``),
drawing (``draw``), the flag checks (``flags``) and what is written (``outputs``) apart.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from . import evaluate, info, sample, train
from .families import MODELS
from .flags import FlagError, Parser

__all__ = ["MODELS", "build_parser", "main"]

#: errors of the library and of the files it reads that the command line prints as one line (exit status 2)
USER_ERRORS = (ValueError, TypeError, FlagError, ImportError, OSError)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="pyro-autoregressive",
        description="Train, sample, evaluate and inspect autoregressive distributions (see docs/cli.md).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in (train, sample, evaluate, info):
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; a bad flag, or a library ``ValueError``/``TypeError``, is one line on stderr and exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # the reader of the output went away (``| head``): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 1
    except USER_ERRORS as error:
        prog = parser.prog
        if isinstance(error, FlagError):  # a flag refused once the run or the data was read: as the parser would
            prog, message = f"{parser.prog} {args.command}", f"argument {error.flag}: {error.message}"
        else:
            message = str(error) if not isinstance(error, OSError) or not error.filename else _os_error(error)
        message = " ".join(message.split()) or type(error).__name__
        parser.exit(2, f"{prog}: error: {message}\n")


def _os_error(error: OSError) -> str:
    return f"{error.filename}: {error.strerror or error}"


if __name__ == "__main__":
    sys.exit(main())
