"""``pyro-autoregressive sample``: draw from a saved model."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..persistence import load
from .flags import COUNT, POSITIVE, add_device_flags, device, model_dir
from .outputs import write_samples

__all__ = ["add_parser", "sample"]


def sample(args: argparse.Namespace) -> int:
    model = load(args.model_dir, map_location=device(args)).eval()
    seconds = write_samples(model, Path(args.out), args.num, args.temperature, cache=not args.no_cache)
    print(f"{args.num} samples at temperature {args.temperature} in {seconds:.2f} s -> {args.out}")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("sample", help="draw samples from a saved model into a PNG grid")
    p.add_argument("model_dir", type=model_dir)
    p.add_argument("--num", type=COUNT, default=64)
    p.add_argument("--temperature", type=POSITIVE, default=1.0)
    p.add_argument("--no-cache", action="store_true", help="rerun the full network at every step (reference)")
    p.add_argument("--out", default="samples.png")
    add_device_flags(p)
    p.set_defaults(run=sample)
