"""Flag values, checked by the parser before any work: one line naming the flag, exit status 2."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path

import torch

from ..atomic import current_directory
from ..persistence import CONFIG_NAME

__all__ = ["COUNT", "POSITIVE", "Parser", "add_device_flags", "device", "float_above", "int_at_least", "model_dir"]


class Parser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line, ``prog: error: argument --flag: ...`` (no usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an int >= {minimum}, got {text!r}")
        return value

    return parse


def float_above(minimum: float, *, inclusive: bool = False, below: float | None = None) -> Callable[[str], float]:
    expected = f"a finite number {'>=' if inclusive else '>'} {minimum:g}" + (f" and < {below:g}" if below else "")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        ok = math.isfinite(value) and (value >= minimum if inclusive else value > minimum)
        if not ok or (below is not None and value >= below):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def device_name(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` of a device this machine has."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, got {text!r}")
    if text.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(text.partition(":")[2] or 0)
        if index >= count:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {count} CUDA device(s)")
    return text


def model_dir(text: str) -> str:
    """A directory written by ``par.save`` (or ``train``'s ``OUT/model``)."""
    if not (current_directory(Path(text)) / CONFIG_NAME).is_file():
        raise argparse.ArgumentTypeError(f"no saved model at {text!r} (expected a directory with {CONFIG_NAME})")
    return text


COUNT = int_at_least(1)
POSITIVE = float_above(0.0)


def add_device_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", type=device_name, default="auto", help="auto (CUDA when present), cpu, cuda[:N]")
    p.add_argument("--threads", type=COUNT, default=None, help="CPU threads for torch (default: torch's choice)")


def device(args: argparse.Namespace) -> torch.device:
    """The device of ``--device`` (``auto``: CUDA when present), after ``--threads`` took effect."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(args.device)
