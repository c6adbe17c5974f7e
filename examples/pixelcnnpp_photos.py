"""PixelCNN++ on 8x8 RGB patches of scikit-learn's two sample photos, against independent pixels.

Data: ``sklearn.datasets.load_sample_images()`` (``china.jpg`` and ``flower.jpg``,
427 x 640 x 3, 8-bit; no download), cut into non-overlapping 8 x 8 patches
(4,240 per photo). A fixed permutation (seed 0) holds out 1,000 test and 500
validation patches; the rest train. The model is ``PixelCNNPlusPlus((3, 8, 8))``
with its discretized logistic mixture over the 256 levels, R -> G -> B coupled
inside each pixel. Baseline: one add-one-smoothed 256-bin histogram per
(channel, row, column), fitted on the same training patches. Both are scored in
bits per dimension (192 dimensions per patch) on the same test patches.

Writes ``samples.png`` (unconditional draws), ``completions.png`` (the top half of
test patches given through ``condition_on_prefix``, the bottom half drawn) and
the model to ``--out``.

    python examples/pixelcnnpp_photos.py            # ~10 minutes on one CPU core
    python examples/pixelcnnpp_photos.py --quick    # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

import pyro_autoregressive as par
from pyro_autoregressive.baselines import independent_histogram_nll
from pyro_autoregressive.plotting import save_completion_grid, save_image_grid
from pyro_autoregressive.training import fit, mean_nll

LEVELS = 256
PATCH = 8


def photo_patches(size: int = PATCH) -> torch.Tensor:
    """Non-overlapping ``size x size`` patches of the two sklearn sample photos, ``(N, 3, size, size)`` long."""
    from sklearn.datasets import load_sample_images

    patches = []
    for image in load_sample_images().images:  # (427, 640, 3) uint8
        x = torch.tensor(image, dtype=torch.long).permute(2, 0, 1)  # (3, H, W), a copy
        rows, cols = x.shape[1] // size, x.shape[2] // size
        x = x[:, : rows * size, : cols * size].unfold(1, size, size).unfold(2, size, size)  # (3, r, c, s, s)
        patches.append(x.permute(1, 2, 0, 3, 4).reshape(-1, 3, size, size))
    return torch.cat(patches)


def split(patches: torch.Tensor, test: int = 1000, val: int = 500, seed: int = 0) -> dict[str, torch.Tensor]:
    """A fixed held-out set: the first ``test`` then ``val`` patches of a seeded permutation."""
    order = torch.randperm(len(patches), generator=torch.Generator().manual_seed(seed))
    return {
        "test": patches[order[:test]],
        "val": patches[order[test : test + val]],
        "train": patches[order[test + val :]],
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=64, help="hidden_channels")
    parser.add_argument("--resnet", type=int, default=2, help="num_resnet per level")
    parser.add_argument("--hierarchies", type=int, default=2)
    parser.add_argument("--components", type=int, default=5)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--max-minutes", type=float, default=10.0, help="stop training after this long")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=Path("outputs/pixelcnnpp_photos"))
    parser.add_argument("--quick", action="store_true", help="tiny network, one short epoch (smoke test)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.hidden, args.resnet, args.components, args.epochs, args.dropout = 8, 1, 2, 1, 0.0

    torch.manual_seed(args.seed)
    data = split(photo_patches())
    if args.quick:
        data = {name: patches[:64] for name, patches in data.items()}
    shape = tuple(data["train"].shape[1:])  # (3, 8, 8)
    model = par.PixelCNNPlusPlus(
        shape,
        num_components=args.components,
        num_classes=LEVELS,
        hidden_channels=args.hidden,
        num_resnet=args.resnet,
        num_hierarchies=args.hierarchies,
        dropout=args.dropout,
    )
    print(
        f"{len(data['train'])} training, {len(data['val'])} validation, {len(data['test'])} test patches "
        f"of {shape}; {sum(p.numel() for p in model.parameters())} parameters"
    )
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
    to_bits = 1.0 / (math.prod(shape) * math.log(2.0))
    test_bits = mean_nll(model, data["test"]) * to_bits
    baseline_bits = independent_histogram_nll(data["train"], data["test"], LEVELS) * to_bits
    name = f"PixelCNN++({args.hidden}, {args.hierarchies}x{args.resnet} blocks, {args.components} logistics)"
    print(f"best epoch {result.best_epoch + 1}/{len(result.train_nll)}, {result.seconds:.0f} s training")
    print(f"{'test patches, bits per dimension':<56}{'bits/dim':>10}")
    print(f"{name:<56}{test_bits:>10.3f}")
    print(f"{'independent per-(channel, pixel) histograms':<56}{baseline_bits:>10.3f}")

    args.out.mkdir(parents=True, exist_ok=True)
    model.eval()
    num_samples = 8 if args.quick else 32
    started = time.perf_counter()
    samples = model.condition().sample((num_samples,))  # (S, 3, 8, 8)
    seconds = time.perf_counter() - started
    grid = save_image_grid(samples, args.out / "samples.png", LEVELS, ncols=8, title=f"{name} samples")
    given = data["test"][:8]  # (8, 3, 8, 8)
    half = shape[1] // 2 * shape[2]  # the top 4 rows, in raster steps
    completed = model.condition().condition_on_prefix(given, half).sample((3,))  # (3, 8, 3, 8, 8)
    completions = save_completion_grid(
        given, completed, args.out / "completions.png", LEVELS, title="test patch | 3 completions of its top half"
    )
    par.save(model, args.out / "model")
    print(f"{num_samples} samples in {seconds:.2f} s -> {grid}; completions -> {completions}")
    return {"test_bits": test_bits, "baseline_bits": baseline_bits, "train_seconds": result.seconds}


if __name__ == "__main__":
    main()
