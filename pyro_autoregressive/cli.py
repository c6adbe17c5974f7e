"""The command line: ``pyro-autoregressive train | sample | evaluate``."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from . import heads
from .baselines import independent_histogram_nll
from .datasets import DIGITS_LEVELS, load_digits_split
from .model import AutoregressiveModel
from .persistence import load, save
from .training import fit, mean_nll

__all__ = ["main"]

DATASETS = ("digits",)


def _made(args: argparse.Namespace) -> AutoregressiveModel:
    from .models import MADE

    return MADE(64, heads.Categorical(DIGITS_LEVELS), hidden_sizes=tuple(args.hidden or (512, 512)))


def _pixelcnn(args: argparse.Namespace) -> AutoregressiveModel:
    from .models import PixelCNN

    return PixelCNN(DIGITS_SHAPE, heads.Categorical(DIGITS_LEVELS), hidden_channels=64, num_layers=6)


def _gated(args: argparse.Namespace) -> AutoregressiveModel:
    from .models import GatedPixelCNN

    return GatedPixelCNN(DIGITS_SHAPE, heads.Categorical(DIGITS_LEVELS), hidden_channels=64, num_layers=6)


def _rowlstm(args: argparse.Namespace) -> AutoregressiveModel:
    from .models import RowLSTM

    return RowLSTM(DIGITS_SHAPE, heads.Categorical(DIGITS_LEVELS), hidden_channels=64, num_layers=3)


def _diagonalbilstm(args: argparse.Namespace) -> AutoregressiveModel:
    from .models import DiagonalBiLSTM

    return DiagonalBiLSTM(DIGITS_SHAPE, heads.Categorical(DIGITS_LEVELS), hidden_channels=48, num_layers=2)


def _transformer(args: argparse.Namespace) -> AutoregressiveModel:
    from .models import Transformer

    return Transformer(
        heads.Categorical(DIGITS_LEVELS), image_shape=DIGITS_SHAPE, d_model=64, num_heads=4, num_layers=4, dropout=0.2
    )


DIGITS_SHAPE = (1, 8, 8)

#: model name -> builder for the digits data (17 levels; sizes as in the examples)
MODELS: dict[str, Callable[[argparse.Namespace], AutoregressiveModel]] = {
    "made": _made,
    "pixelcnn": _pixelcnn,
    "gated": _gated,
    "rowlstm": _rowlstm,
    "diagonalbilstm": _diagonalbilstm,
    "transformer": _transformer,
}


def _data(name: str, model: AutoregressiveModel) -> dict[str, torch.Tensor]:
    if name not in DATASETS:
        raise SystemExit(f"--data: expected one of {DATASETS}, got {name!r}")
    return load_digits_split(as_images=len(model.layout().positions) == 2)


def _write_samples(model: AutoregressiveModel, path: Path, num: int, temperature: float, cache: bool) -> float:
    from .plotting import save_image_grid

    started = time.perf_counter()
    samples = model.condition().temper(temperature).sample((num,), cache=cache)
    seconds = time.perf_counter() - started
    levels = model.head.num_classes or 2
    save_image_grid(_as_images(samples), path, levels, title=f"{type(model).__name__} samples")
    return seconds


def _as_images(samples: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` as they are; ``(N, D)`` with ``D`` a square as ``(N, 1, sqrt D, sqrt D)``."""
    if samples.dim() == 4:
        return samples
    side = math.isqrt(samples.shape[-1])
    if samples.dim() == 2 and side * side == samples.shape[-1]:
        return samples.reshape(len(samples), 1, side, side)
    raise SystemExit(f"sample: only image events can be drawn as a PNG grid, got event shape {samples.shape[1:]}")


def _report(name: str, nll: float, dims: int) -> str:
    return f"{name:<26}{nll:>12.2f} nats/image{nll / (dims * math.log(2.0)):>10.3f} bits/dim"


def train(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    model = MODELS[args.model](args)
    data = _data(args.data, model)
    result = fit(
        model,
        data["train"],
        val=data["val"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=args.patience,
        max_seconds=args.max_minutes * 60 if args.max_minutes else None,
        progress=not args.no_progress,
    )
    dims = data["train"][0].numel()
    test_nll = mean_nll(model, data["test"])
    baseline = independent_histogram_nll(data["train"], data["test"], model.head.num_classes or 2)
    out = Path(args.out)
    save(model, out / "model")
    seconds = _write_samples(model, out / "samples.png", 64, 1.0, cache=True)
    metrics = {
        "model": args.model,
        "data": args.data,
        "epochs_run": len(result.train_nll),
        "best_epoch": result.best_epoch + 1,
        "train_seconds": round(result.seconds, 1),
        "val_nll": min(result.val_nll),
        "test_nll": test_nll,
        "test_bits_per_dim": test_nll / (dims * math.log(2.0)),
        "baseline_test_nll": baseline,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"{args.model} on {args.data}: {metrics['epochs_run']} epochs in {result.seconds:.0f} s")
    print(_report(f"{args.model} (test)", test_nll, dims))
    print(_report("independent histograms", baseline, dims))
    print(f"wrote {out / 'model'}, {out / 'samples.png'} (64 samples in {seconds:.2f} s), {out / 'metrics.json'}")
    return 0


def sample(args: argparse.Namespace) -> int:
    model = load(args.model_dir).eval()
    seconds = _write_samples(model, Path(args.out), args.num, args.temperature, cache=not args.no_cache)
    print(f"{args.num} samples at temperature {args.temperature} in {seconds:.2f} s -> {args.out}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    model = load(args.model_dir).eval()
    data = _data(args.data, model)
    nll = mean_nll(model, data[args.split])
    print(_report(f"{args.split}", nll, data[args.split][0].numel()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyro-autoregressive", description="Train, sample and evaluate autoregressive distributions."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="fit a model by maximum likelihood, report test NLL, write samples")
    p.add_argument("--model", choices=sorted(MODELS), default="made")
    p.add_argument("--data", choices=DATASETS, default="digits")
    p.add_argument("--hidden", type=int, nargs="+", help="hidden sizes (MADE)")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--patience", type=int, default=30, help="stop after this many epochs without improvement")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after this much training time")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/latest")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=train)

    p = commands.add_parser("sample", help="draw samples from a saved model into a PNG grid")
    p.add_argument("model_dir")
    p.add_argument("--num", type=int, default=64)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--no-cache", action="store_true", help="rerun the full network at every step (reference)")
    p.add_argument("--out", default="samples.png")
    p.set_defaults(run=sample)

    p = commands.add_parser("evaluate", help="mean NLL of a saved model on a data split")
    p.add_argument("model_dir")
    p.add_argument("--data", choices=DATASETS, default="digits")
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.set_defaults(run=evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
