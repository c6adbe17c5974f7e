"""Flag values, checked by the parser before any work: one line naming the flag, exit status 2."""

from __future__ import annotations

import argparse
import importlib.util
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "COUNT",
    "POSITIVE",
    "FlagError",
    "Parser",
    "add_device_flags",
    "device",
    "float_above",
    "int_at_least",
    "probability",
    "require_module",
    "run_or_model",
]


class FlagError(Exception):
    """A flag value that the checks after parsing refuse: the parser prints ``argument FLAG: MESSAGE``."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"{flag}: {message}")
        self.flag, self.message = flag, message


class Parser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line, ``prog: error: argument --flag: ...`` (no usage block).

    Checks that need several flags at once (a size flag of another model family, a
    PNG output without matplotlib) are registered with :meth:`add_check` and run right
    after parsing; a :class:`FlagError` from one is reported like any other bad flag.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._checks: list[Callable[[argparse.Namespace], None]] = []

    def add_check(self, check: Callable[[argparse.Namespace], None]) -> None:
        self._checks.append(check)

    def flag_defaults(self) -> dict[str, Any]:
        """Every flag's default (and ``set_defaults``), without parsing: no check runs (nor fails)."""
        defaults = {a.dest: a.default for a in self._actions if a.dest != argparse.SUPPRESS}
        return defaults | self._defaults

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        for check in self._checks:
            try:
                check(parsed)
            except FlagError as error:
                self.error(f"argument {error.flag}: {error.message}")
        return parsed, extras

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    expected = f"an int >= {minimum}" + ("" if maximum is None else f" and <= {maximum}")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def float_above(
    minimum: float, *, inclusive: bool = False, below: float | None = None, below_inclusive: bool = False
) -> Callable[[str], float]:
    upper = "" if below is None else f" and {'<=' if below_inclusive else '<'} {below:g}"
    expected = f"a finite number {'>=' if inclusive else '>'} {minimum:g}" + upper

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        ok = math.isfinite(value) and (value >= minimum if inclusive else value > minimum)
        if below is not None:
            ok = ok and (value <= below if below_inclusive else value < below)
        if not ok:
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


def run_or_model(text: str) -> str:
    """A run folder written by ``train`` or a model directory written by ``par.save``."""
    from .run_info import find_model_dir

    if find_model_dir(Path(text)) is None:
        raise argparse.ArgumentTypeError(
            f"no run or saved model at {text!r} (expected a run folder with model/config.json, "
            "or a directory with config.json and model.safetensors)"
        )
    return text


def require_module(module: str, flag: str, purpose: str, extra: str = "examples") -> None:
    """A :class:`FlagError` naming ``flag`` when the optional package ``module`` is not installed."""
    if importlib.util.find_spec(module) is None:
        raise FlagError(
            flag,
            f"{purpose} needs the optional package {module!r}, which is not installed "
            f"(pip install 'pyro-autoregressive[{extra}]')",
        )


COUNT = int_at_least(1)
POSITIVE = float_above(0.0)
#: a probability mass in ``(0, 1]`` (top-p, min-p)
probability = float_above(0.0, below=1.0, below_inclusive=True)


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
