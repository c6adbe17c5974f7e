"""``pyro-autoregressive evaluate``: the mean NLL of a saved model on data."""

from __future__ import annotations

import argparse

from .. import distributed
from ..persistence import load
from ..training import mean_nll
from .data import DATASETS, open_splits
from .flags import COUNT, add_device_flags, device, model_dir
from .outputs import report

__all__ = ["add_parser", "evaluate"]


def evaluate(args: argparse.Namespace) -> int:
    with distributed.process_group(device(args)) as on:  # under torchrun, each process scores its share
        model = load(args.model_dir, map_location=on).eval()
        data = open_splits(args.data, model)
        nll = mean_nll(model, data[args.split], batch_size=args.batch_size, across_processes=True)
        if distributed.is_main():
            print(report(f"{args.split}", nll, data[args.split][0].numel()))
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("evaluate", help="mean NLL of a saved model on a data split")
    p.add_argument("model_dir", type=model_dir)
    p.add_argument("--data", choices=DATASETS, default="digits")
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--batch-size", type=COUNT, default=500)
    add_device_flags(p)
    p.set_defaults(run=evaluate)
