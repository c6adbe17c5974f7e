"""``pyro-autoregressive evaluate``: the NLL of a run or a saved model on data, printed and written as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .. import distributed
from ..data import Dataset
from ..training import PRECISIONS, mean_nll
from .data import add_data_flags, load_options, model_inputs, open_data, split_of
from .data_spec import DataSpec
from .flags import COUNT, FlagError, add_device_flags, device, run_or_model
from .outputs import nll_figures, report
from .run_info import Run, open_run

__all__ = ["add_parser", "evaluate"]

#: ``load_data`` keywords a run's data recorded that other data must share to fit the model
SHAPING = ("levels", "length", "audio_encoding", "sample_rate", "patch_size")


def evaluate(args: argparse.Namespace) -> int:
    with distributed.process_group(device(args)) as on:  # under torchrun, each process scores its share
        run = open_run(args.path, map_location=on)
        dataset, own = _data(args, run)
        spec = DataSpec.from_dataset(dataset, labels=bool(run.model.context_size))
        part = args.split or ("test" if own else "all")
        values, context = model_inputs(dataset, spec, run.model)
        if part != "all":
            split = split_of(dataset, args.split_seed, run.split if own else None)
            values, context = values[split[part]], None if context is None else context[split[part]]
        if len(values) == 0:
            raise ValueError(f"--split {part}: the {part} part of the data is empty")
        nll = mean_nll(
            run.model, values, context, batch_size=args.batch_size, precision=args.precision, across_processes=True
        )
        figures = nll_figures(nll, spec)
        result: dict[str, Any] = {
            "run": str(run.path),
            "model": type(run.model).__name__,
            "data": dataset.description,
            "kind": spec.kind,
            "split": part,
            "items": len(values),
            "dims": spec.dims,
            **figures,
        }
        if distributed.is_main():  # one file, one line
            name = "evaluate.json" if own else f"evaluate-{Path(str(dataset.description['source'])).name}.json"
            out = Path(args.out) if args.out else (run.path / name if run.is_run else Path(name))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2) + "\n")
            print(report(f"{spec.source} ({part}, {len(values)})", nll, spec.dims, spec.kind))
            print(f"wrote {out}")
    return 0


def _data(args: argparse.Namespace, run: Run) -> tuple[Dataset, bool]:
    """The data to score, and whether it is the run's own (whose recorded split then applies).

    Without ``--data``, the run's data, reloaded as recorded (its fingerprint checked). With
    it, the data flags given, else the run's recorded levels, length, encoding, rate and
    patch size, so that the data fits the model.
    """
    recorded = run.spec.load
    if args.data is None:
        if not recorded:
            raise FlagError("--data", "a bare model records no data; give --data SOURCE")
        return open_data(recorded["source"], {k: v for k, v in recorded.items() if k != "source"}), True
    options = {k: recorded[k] for k in SHAPING if recorded.get(k) is not None} | load_options(args)
    try:
        dataset = open_data(args.data, options)
    except ValueError:
        if options == load_options(args):
            raise
        dataset = open_data(args.data, load_options(args))  # a source that takes fewer options
    own = bool(recorded) and dataset.description.get("sha256") == recorded.get("sha256")
    return dataset, own


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "evaluate",
        help="NLL (nats, bits per dimension / byte / sample) of a run or saved model on data",
        description="Score a run or a saved model on its own test split (default) or on any data the loaders "
        "accept; prints one line and writes the figures as JSON.",
    )
    p.add_argument("path", type=run_or_model, metavar="RUN", help="a run folder (train --out) or a saved model")
    add_data_flags(p, default=None, training=False)
    p.add_argument(
        "--split",
        choices=("train", "val", "test", "all"),
        help="part to score (default: test of the run's data, all of other data)",
    )
    p.add_argument("--batch-size", type=COUNT, default=500)
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="bf16: autocast (for CUDA)")
    p.add_argument(
        "--out",
        help="the JSON file (default: RUN/evaluate.json for the run's data, RUN/evaluate-NAME.json for data NAME; "
        "in the current folder for a bare model)",
    )
    add_device_flags(p)
    p.set_defaults(run=evaluate)
