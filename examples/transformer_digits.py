"""Fit an image Transformer (raster order, Image GPT style) to the 8x8 digits and report test NLL.

scikit-learn's 8x8 digits as ``(1, 8, 8)`` images of 17 grey levels, one pixel
per step, ``Categorical(17)``; the split of Tomczak's *Deep Generative Modeling*
code (train 0-999, validation 1000-1349, test 1350-1796). Weights of the best
validation epoch are kept.

    python examples/transformer_digits.py            # full run (about 10 minutes on 2 CPU cores)
    python examples/transformer_digits.py --quick    # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

import pyro_autoregressive as par
from pyro_autoregressive.datasets import DIGITS_LEVELS, load_digits_split
from pyro_autoregressive.plotting import save_image_grid
from pyro_autoregressive.training import fit, mean_nll


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=12.0, help="training time budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/transformer_digits"))
    parser.add_argument("--quick", action="store_true", help="tiny network, one epoch on a slice (smoke test)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.d_model, args.heads, args.layers = 1, 16, 2, 1

    torch.manual_seed(args.seed)
    data = load_digits_split(as_images=True)  # (N, 1, 8, 8)
    if args.quick:
        data = {name: images[:100] for name, images in data.items()}
    model = par.Transformer(
        par.heads.Categorical(DIGITS_LEVELS),
        image_shape=(1, 8, 8),
        d_model=args.d_model,
        num_heads=args.heads,
        num_layers=args.layers,
        dropout=args.dropout,
    )
    result = fit(
        model,
        data["train"],
        val=data["val"],
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        patience=args.patience,
        max_seconds=60.0 * args.minutes,
        progress=not args.no_progress,
    )
    test_nll = mean_nll(model, data["test"])
    bits = 1.0 / (64 * math.log(2.0))
    print(
        f"Transformer d_model={args.d_model}, {args.layers} layers, {args.heads} heads, dropout {args.dropout}: "
        f"best epoch {result.best_epoch + 1}, {result.seconds:.0f} s training"
    )
    print(f"{'model':<28}{'test NLL (nats/image)':>24}{'bits/dim':>10}")
    print(f"{'Transformer, Categorical(17)':<28}{test_nll:>24.2f}{test_nll * bits:>10.3f}")

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    samples = model.condition().sample((16 if args.quick else 64,))  # (64, 1, 8, 8), KV-cache sampling
    seconds = time.perf_counter() - started
    grid = save_image_grid(samples, args.out / "samples.png", DIGITS_LEVELS, title="Transformer samples")
    par.save(model, args.out / "model")
    print(f"{len(samples)} samples in {seconds:.2f} s -> {grid}; model saved to {args.out / 'model'}")
    return {"test_nll": test_nll, "train_seconds": result.seconds}


if __name__ == "__main__":
    main()
