"""``pyro-autoregressive train``: fit a model by maximum likelihood, report test NLL, write the run."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import torch

from ..baselines import independent_histogram_nll
from ..persistence import save
from ..training import PRECISIONS, fit, mean_nll
from .data import add_data_flags, load_options, open_data, split_parts
from .data_spec import DataSpec
from .families import add_model_flags, build_model
from .flags import COUNT, POSITIVE, add_device_flags, device, float_above, int_at_least
from .outputs import check_run_outputs, report, write_run_samples
from .run_info import data_record

__all__ = ["add_parser", "train"]


def train(args: argparse.Namespace) -> int:
    on = device(args)
    torch.manual_seed(args.seed)
    dataset = open_data(args.data, load_options(args))
    spec = DataSpec.from_dataset(dataset, labels=not args.no_labels)
    check_run_outputs(spec.kind)  # a missing matplotlib or soundfile is said before training
    model = build_model(args.model, args.model_options, spec).to(on)
    split = dataset.split(args.split_seed)
    parts = split_parts(dataset, split, spec, model)
    data = {name: part.values for name, part in parts.items()}
    schedule = None
    if args.schedule == "cosine":
        schedule = lambda optimizer: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)  # noqa: E731
    result = fit(
        model,
        data["train"],
        val=data["val"],
        train_context=parts["train"].context,
        val_context=parts["val"].context,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        patience=args.patience,
        max_seconds=None if args.max_minutes is None else args.max_minutes * 60,
        max_grad_norm=args.max_grad_norm,
        scheduler=schedule,
        ema_decay=args.ema,
        precision=args.precision,
        progress=not args.no_progress,
    )
    dims = data["train"][0].numel()
    test_nll = mean_nll(model, data["test"], parts["test"].context, precision=args.precision)
    baseline = independent_histogram_nll(data["train"], data["test"], spec.levels)
    out = Path(args.out)
    save(model, out / "model")
    record = {"model": args.model, "model_options": args.model_options, **data_record(spec, split)}
    (out / "config.json").write_text(json.dumps(record, indent=2) + "\n")
    test = (parts["test"].values, parts["test"].context)
    written, seconds = write_run_samples(model, spec, out, test=test, progress=not args.no_progress)
    metrics = {
        "model": args.model,
        "data": args.data,
        "device": str(on),
        "epochs_run": len(result.train_nll),
        "best_epoch": result.best_epoch + 1,
        "stopped": result.stopped,
        "train_seconds": round(result.seconds, 1),
        "val_nll": result.val_nll[result.best_epoch],
        "test_nll": test_nll,
        "test_bits_per_dim": test_nll / (dims * math.log(2.0)),
        "baseline_test_nll": baseline,
        "history": [dataclasses.asdict(record) for record in result.history],
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"{args.model} on {args.data}: {metrics['epochs_run']} epochs in {result.seconds:.0f} s on {on}")
    print(report(f"{args.model} (test)", test_nll, dims, spec.kind))
    print(report("independent histograms", baseline, dims, spec.kind))
    names = ", ".join(str(p) for p in written)
    print(f"wrote {out / 'model'}, {out / 'config.json'}, {out / 'metrics.json'}, {names} ({seconds:.2f} s sampling)")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("train", help="fit a model by maximum likelihood, report test NLL, write samples")
    add_model_flags(p)
    add_data_flags(p)
    p.add_argument("--epochs", type=COUNT, default=300)
    p.add_argument("--batch-size", type=COUNT, default=50)
    p.add_argument("--lr", type=POSITIVE, default=2e-3)
    p.add_argument("--weight-decay", type=float_above(0.0, inclusive=True), default=0.0)
    p.add_argument("--schedule", choices=("constant", "cosine"), default="constant", help="learning-rate schedule")
    p.add_argument("--max-grad-norm", type=POSITIVE, default=None, help="clip the gradients' norm to this")
    p.add_argument("--ema", type=float_above(0.0, below=1.0), default=None, help="EMA decay of the kept weights")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="bf16: autocast (for CUDA)")
    p.add_argument("--patience", type=COUNT, default=10, help="stop after this many epochs without improvement")
    p.add_argument("--max-minutes", type=POSITIVE, default=None, help="stop after this much training time")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--out", default="runs/latest")
    p.add_argument("--no-progress", action="store_true")
    add_device_flags(p)
    p.set_defaults(run=train)
