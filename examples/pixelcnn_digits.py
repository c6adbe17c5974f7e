"""Fit a Gated PixelCNN (or a PixelCNN, PixelCNN++, Row LSTM, Diagonal BiLSTM) to the 8x8 digits; report test NLL.

17 grey levels, ``Categorical(17)`` per pixel, raster order. Split of Tomczak's
*Deep Generative Modeling* code: train 0-999, validation 1000-1349, test
1350-1796. Baseline: independent per-pixel histograms (add-one smoothing).
Writes a grid of samples and a grid of completions (the top half of test
images given through ``condition_on_prefix``, the bottom half sampled).

    python examples/pixelcnn_digits.py                   # GatedPixelCNN, <= 15 min on 2 CPU cores
    python examples/pixelcnn_digits.py --model pixelcnn  # the original PixelCNN
    python examples/pixelcnn_digits.py --model pixelcnnpp --layers 2  # PixelCNN++ (logistic mixture)
    python examples/pixelcnn_digits.py --model rowlstm --layers 4     # PixelRNN's Row LSTM
    python examples/pixelcnn_digits.py --model diagonalbilstm --layers 3  # PixelRNN's Diagonal BiLSTM
    python examples/pixelcnn_digits.py --quick           # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

import pyro_autoregressive as par
from pyro_autoregressive.baselines import independent_histogram_nll
from pyro_autoregressive.datasets import DIGITS_LEVELS, load_digits_split
from pyro_autoregressive.plotting import save_completion_grid, save_image_grid
from pyro_autoregressive.training import fit, mean_nll

MODELS = {
    "gated": par.GatedPixelCNN,
    "pixelcnn": par.PixelCNN,
    "pixelcnnpp": par.PixelCNNPlusPlus,
    "rowlstm": par.RowLSTM,
    "diagonalbilstm": par.DiagonalBiLSTM,
}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="gated")
    parser.add_argument("--hidden", type=int, default=64, help="hidden_channels")
    parser.add_argument("--layers", type=int, default=6, help="num_layers (num_resnet for pixelcnnpp)")
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--patience", type=int, default=25)
    parser.add_argument("--max-minutes", type=float, default=14.0, help="stop training after this long")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/pixelcnn_digits"))
    parser.add_argument("--quick", action="store_true", help="tiny network, 1 epoch (smoke test)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.epochs, args.hidden, args.layers = 1, 8, 1

    torch.manual_seed(args.seed)
    data = load_digits_split(as_images=True)  # (N, 1, 8, 8) levels 0..16
    if args.quick:
        data = {name: images[:100] for name, images in data.items()}
    shape = tuple(data["train"].shape[1:])
    if args.model == "pixelcnnpp":  # its own head: a mixture of 5 discretized logistics over 17 levels
        model = par.PixelCNNPlusPlus(
            shape,
            num_components=5,
            num_classes=DIGITS_LEVELS,
            hidden_channels=args.hidden,
            num_resnet=args.layers,
            num_hierarchies=2,
            dropout=0.0 if args.quick else 0.2,
        )
    else:
        head = par.heads.Categorical(DIGITS_LEVELS)
        model = MODELS[args.model](shape, head, hidden_channels=args.hidden, num_layers=args.layers)
    result = fit(
        model,
        data["train"],
        val=data["val"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=args.patience,
        max_seconds=args.max_minutes * 60.0,
        progress=not args.no_progress,
    )
    test_nll = mean_nll(model, data["test"])
    baseline = independent_histogram_nll(data["train"], data["test"], DIGITS_LEVELS)
    bits = 1.0 / (math.prod(shape) * math.log(2.0))
    name = f"{type(model).__name__}({args.hidden}, {args.layers} layers)"
    print(f"{name}: best epoch {result.best_epoch + 1}/{len(result.train_nll)}, {result.seconds:.0f} s training")
    print(f"{'model':<48}{'test NLL (nats/image)':>24}{'bits/dim':>10}")
    print(f"{name + ', ' + repr(model.head):<48}{test_nll:>24.2f}{test_nll * bits:>10.3f}")
    print(f"{'independent histograms':<48}{baseline:>24.2f}{baseline * bits:>10.3f}")

    args.out.mkdir(parents=True, exist_ok=True)
    num_samples = 16 if args.quick else 64
    started = time.perf_counter()
    samples = model.condition().sample((num_samples,))  # (S, 1, 8, 8), cached sampling
    seconds = time.perf_counter() - started
    grid = save_image_grid(samples, args.out / "samples.png", DIGITS_LEVELS, ncols=8, title=f"{name} samples")

    # completions: the top half (4 rows = 32 raster steps) of 8 test images is given
    given = data["test"][:8]  # (8, 1, 8, 8)
    half = shape[1] // 2 * shape[2]
    completed = model.condition().condition_on_prefix(given, half).sample((3,))  # (3, 8, 1, 8, 8)
    completions = save_completion_grid(
        given,
        completed,
        args.out / "completions.png",
        DIGITS_LEVELS,
        title="test image | 3 completions of its top half",
    )
    par.save(model, args.out / "model")
    print(f"{num_samples} samples in {seconds:.2f} s -> {grid}; completions -> {completions}")
    return {"test_nll": test_nll, "baseline_nll": baseline, "train_seconds": result.seconds}


if __name__ == "__main__":
    main()
