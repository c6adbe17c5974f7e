"""Fit MADE to scikit-learn's 8x8 digits (17 grey levels) and report test NLL.

Split of Tomczak's *Deep Generative Modeling* code: train 0-999, validation
1000-1349, test 1350-1796. Baseline: independent per-pixel histograms with
add-one smoothing, fitted on the same training images.

    python examples/made_digits.py            # full run (a few minutes on 2 CPU cores)
    python examples/made_digits.py --quick    # seconds, for smoke tests
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
from pyro_autoregressive.plotting import save_image_grid
from pyro_autoregressive.training import fit, mean_nll


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--hidden", type=int, nargs="+", default=[512, 512])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/made_digits"))
    parser.add_argument("--quick", action="store_true", help="tiny network, 2 epochs (smoke test)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.hidden = 2, [32]

    torch.manual_seed(args.seed)
    data = load_digits_split()
    dims = data["train"].shape[1]
    model = par.MADE(dims, par.heads.Categorical(DIGITS_LEVELS), hidden_sizes=tuple(args.hidden))
    result = fit(
        model,
        data["train"],
        val=data["val"],
        epochs=args.epochs,
        lr=args.lr,
        patience=args.patience,
        progress=not args.no_progress,
    )
    test_nll = mean_nll(model, data["test"])
    baseline = independent_histogram_nll(data["train"], data["test"], DIGITS_LEVELS)
    bits = 1.0 / (dims * math.log(2.0))
    print(f"MADE {tuple(args.hidden)}: best epoch {result.best_epoch + 1}, {result.seconds:.0f} s training")
    print(f"{'model':<28}{'test NLL (nats/image)':>24}{'bits/dim':>10}")
    print(f"{'MADE, Categorical(17)':<28}{test_nll:>24.2f}{test_nll * bits:>10.3f}")
    print(f"{'independent histograms':<28}{baseline:>24.2f}{baseline * bits:>10.3f}")

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    samples = model.condition().sample((64,))
    seconds = time.perf_counter() - started
    grid = save_image_grid(samples.reshape(-1, 1, 8, 8), args.out / "samples.png", DIGITS_LEVELS, title="MADE samples")
    par.save(model, args.out / "model")
    print(f"64 samples in {seconds:.2f} s -> {grid}; model saved to {args.out / 'model'}")
    return {"test_nll": test_nll, "baseline_nll": baseline, "train_seconds": result.seconds}


if __name__ == "__main__":
    main()
