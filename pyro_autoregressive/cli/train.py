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
from .data import DATASETS, open_splits
from .families import MODELS
from .flags import COUNT, POSITIVE, add_device_flags, device, float_above, int_at_least
from .outputs import report, write_samples

__all__ = ["add_parser", "train"]


def train(args: argparse.Namespace) -> int:
    on = device(args)
    torch.manual_seed(args.seed)
    model = MODELS[args.model](args).to(on)
    data = open_splits(args.data, model)
    schedule = None
    if args.schedule == "cosine":
        schedule = lambda optimizer: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)  # noqa: E731
    result = fit(
        model,
        data["train"],
        val=data["val"],
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
    test_nll = mean_nll(model, data["test"], precision=args.precision)
    baseline = independent_histogram_nll(data["train"], data["test"], model.head.num_classes or 2)
    out = Path(args.out)
    save(model, out / "model")
    seconds = write_samples(model, out / "samples.png", 64, 1.0, cache=True)
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
    print(report(f"{args.model} (test)", test_nll, dims))
    print(report("independent histograms", baseline, dims))
    print(f"wrote {out / 'model'}, {out / 'samples.png'} (64 samples in {seconds:.2f} s), {out / 'metrics.json'}")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("train", help="fit a model by maximum likelihood, report test NLL, write samples")
    p.add_argument("--model", choices=sorted(MODELS), default="made")
    p.add_argument("--data", choices=DATASETS, default="digits")
    p.add_argument("--hidden", type=COUNT, nargs="+", help="hidden sizes (MADE)")
    p.add_argument("--epochs", type=COUNT, default=300)
    p.add_argument("--batch-size", type=COUNT, default=64)
    p.add_argument("--lr", type=POSITIVE, default=1e-3)
    p.add_argument("--weight-decay", type=float_above(0.0, inclusive=True), default=0.0)
    p.add_argument("--schedule", choices=("constant", "cosine"), default="constant", help="learning-rate schedule")
    p.add_argument("--max-grad-norm", type=POSITIVE, default=None, help="clip the gradients' norm to this")
    p.add_argument("--ema", type=float_above(0.0, below=1.0), default=None, help="EMA decay of the kept weights")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="bf16: autocast (for CUDA)")
    p.add_argument("--patience", type=COUNT, default=30, help="stop after this many epochs without improvement")
    p.add_argument("--max-minutes", type=POSITIVE, default=None, help="stop after this much training time")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--out", default="runs/latest")
    p.add_argument("--no-progress", action="store_true")
    add_device_flags(p)
    p.set_defaults(run=train)
