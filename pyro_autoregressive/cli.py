"""The command line: ``pyro-autoregressive train | sample | evaluate``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from . import heads
from .atomic import current_directory
from .baselines import independent_histogram_nll
from .datasets import DIGITS_LEVELS, load_digits_split
from .model import AutoregressiveModel
from .persistence import CONFIG_NAME, load, save
from .training import PRECISIONS, fit, mean_nll

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
        raise ValueError(f"--data: expected one of {DATASETS}, got {name!r}")
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
    raise ValueError(
        f"sample: only image events can be drawn as a PNG grid, got event shape {tuple(samples.shape[1:])}"
    )


def _report(name: str, nll: float, dims: int) -> str:
    return f"{name:<26}{nll:>12.2f} nats/image{nll / (dims * math.log(2.0)):>10.3f} bits/dim"


def _device(args: argparse.Namespace) -> torch.device:
    """The device of ``--device`` (``auto``: CUDA when present), after ``--threads`` took effect."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(args.device)


def train(args: argparse.Namespace) -> int:
    device = _device(args)
    torch.manual_seed(args.seed)
    model = MODELS[args.model](args).to(device)
    data = _data(args.data, model)
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
    seconds = _write_samples(model, out / "samples.png", 64, 1.0, cache=True)
    metrics = {
        "model": args.model,
        "data": args.data,
        "device": str(device),
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
    print(f"{args.model} on {args.data}: {metrics['epochs_run']} epochs in {result.seconds:.0f} s on {device}")
    print(_report(f"{args.model} (test)", test_nll, dims))
    print(_report("independent histograms", baseline, dims))
    print(f"wrote {out / 'model'}, {out / 'samples.png'} (64 samples in {seconds:.2f} s), {out / 'metrics.json'}")
    return 0


def sample(args: argparse.Namespace) -> int:
    model = load(args.model_dir, map_location=_device(args)).eval()
    seconds = _write_samples(model, Path(args.out), args.num, args.temperature, cache=not args.no_cache)
    print(f"{args.num} samples at temperature {args.temperature} in {seconds:.2f} s -> {args.out}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    model = load(args.model_dir, map_location=_device(args)).eval()
    data = _data(args.data, model)
    nll = mean_nll(model, data[args.split], batch_size=args.batch_size)
    print(_report(f"{args.split}", nll, data[args.split][0].numel()))
    return 0


# -- flag values: checked by the parser, before any work (one line naming the flag, exit status 2) ----------


class _Parser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line, ``prog: error: argument --flag: ...`` (no usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an int >= {minimum}, got {text!r}")
        return value

    return parse


def _float_above(minimum: float, *, inclusive: bool = False, below: float | None = None) -> Callable[[str], float]:
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


def _device_name(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` of a device this machine has."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, got {text!r}")
    if text.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(text.partition(":")[2] or 0)
        if index >= count:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {count} CUDA device(s)")
    return text


def _model_dir(text: str) -> str:
    """A directory written by ``par.save`` (or ``train``'s ``OUT/model``)."""
    if not (current_directory(Path(text)) / CONFIG_NAME).is_file():
        raise argparse.ArgumentTypeError(f"no saved model at {text!r} (expected a directory with {CONFIG_NAME})")
    return text


_COUNT = _int_at_least(1)
_POSITIVE = _float_above(0.0)


def _add_device_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", type=_device_name, default="auto", help="auto (CUDA when present), cpu, cuda[:N]")
    p.add_argument("--threads", type=_COUNT, default=None, help="CPU threads for torch (default: torch's choice)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pyro-autoregressive", description="Train, sample and evaluate autoregressive distributions.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="fit a model by maximum likelihood, report test NLL, write samples")
    p.add_argument("--model", choices=sorted(MODELS), default="made")
    p.add_argument("--data", choices=DATASETS, default="digits")
    p.add_argument("--hidden", type=_COUNT, nargs="+", help="hidden sizes (MADE)")
    p.add_argument("--epochs", type=_COUNT, default=300)
    p.add_argument("--batch-size", type=_COUNT, default=64)
    p.add_argument("--lr", type=_POSITIVE, default=1e-3)
    p.add_argument("--weight-decay", type=_float_above(0.0, inclusive=True), default=0.0)
    p.add_argument("--schedule", choices=("constant", "cosine"), default="constant", help="learning-rate schedule")
    p.add_argument("--max-grad-norm", type=_POSITIVE, default=None, help="clip the gradients' norm to this")
    p.add_argument("--ema", type=_float_above(0.0, below=1.0), default=None, help="EMA decay of the kept weights")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="bf16: autocast (for CUDA)")
    p.add_argument("--patience", type=_COUNT, default=30, help="stop after this many epochs without improvement")
    p.add_argument("--max-minutes", type=_POSITIVE, default=None, help="stop after this much training time")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--out", default="runs/latest")
    p.add_argument("--no-progress", action="store_true")
    _add_device_flags(p)
    p.set_defaults(run=train)

    p = commands.add_parser("sample", help="draw samples from a saved model into a PNG grid")
    p.add_argument("model_dir", type=_model_dir)
    p.add_argument("--num", type=_COUNT, default=64)
    p.add_argument("--temperature", type=_POSITIVE, default=1.0)
    p.add_argument("--no-cache", action="store_true", help="rerun the full network at every step (reference)")
    p.add_argument("--out", default="samples.png")
    _add_device_flags(p)
    p.set_defaults(run=sample)

    p = commands.add_parser("evaluate", help="mean NLL of a saved model on a data split")
    p.add_argument("model_dir", type=_model_dir)
    p.add_argument("--data", choices=DATASETS, default="digits")
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--batch-size", type=_COUNT, default=500)
    _add_device_flags(p)
    p.set_defaults(run=evaluate)
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
