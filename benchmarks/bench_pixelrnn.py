"""PixelRNN: cached against naive sampling, and ``log_prob`` throughput next to GatedPixelCNN.

28x28x1 images, ``Categorical(256)``, one thread, everything measured in one run
with the two sides interleaved (repeat ``r`` times model A then model B, or the
cached sampler then the naive one), medians quoted:

* sampling at batch 1 and 16: a full cached ``sample`` against the naive sampler
  (the full network on the whole image at every pixel). A naive step costs the
  same at every pixel, so ``--naive-steps`` steps of the naive loop are timed and
  scaled to the 784 steps (printed as "extrapolated");
* ``log_prob`` of a batch of 64 without gradient, in images per second, for
  ``RowLSTM``, ``DiagonalBiLSTM`` and ``GatedPixelCNN`` (parameter counts printed).

    python benchmarks/bench_pixelrnn.py           # the figures in docs/pixelrnn.md
    python benchmarks/bench_pixelrnn.py --quick   # seconds: tiny sizes
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import pyro_autoregressive as par

from common import log_prob_row, naive_steps, print_table, sampling_row


def _seconds(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--hidden", type=int, default=64, help="hidden_channels of every model")
    parser.add_argument("--row-layers", type=int, default=3)
    parser.add_argument("--diagonal-layers", type=int, default=3)
    parser.add_argument("--gated-layers", type=int, default=4)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.hidden, args.batches, args.repeats, args.naive_steps = 5, 8, [1, 2], 1, 2
        args.row_layers = args.diagonal_layers = args.gated_layers = 1
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape, head = (1, args.size, args.size), par.heads.Categorical(256)
    models = {
        "RowLSTM": par.RowLSTM(shape, head, hidden_channels=args.hidden, num_layers=args.row_layers),
        "DiagonalBiLSTM": par.DiagonalBiLSTM(shape, head, hidden_channels=args.hidden, num_layers=args.diagonal_layers),
        "GatedPixelCNN": par.GatedPixelCNN(shape, head, hidden_channels=args.hidden, num_layers=args.gated_layers),
    }
    for model in models.values():
        model.eval()
    steps = args.size * args.size
    layers = {"RowLSTM": args.row_layers, "DiagonalBiLSTM": args.diagonal_layers, "GatedPixelCNN": args.gated_layers}
    configurations = {
        name: f"image {shape}, Categorical(256), hidden_channels={args.hidden}, num_layers={layers[name]}"
        for name in models
    }
    results: list[dict[str, object]] = []
    print(
        f"{args.threads} thread(s), torch {torch.__version__}, images {shape}, Categorical(256), "
        f"medians of {args.repeats} interleaved repeats"
    )

    rows = []
    for name in ("RowLSTM", "DiagonalBiLSTM"):
        model = models[name]
        d = model.condition()
        for batch in args.batches:
            cached, naive = [], []
            for _ in range(args.repeats):
                cached.append(_seconds(lambda d=d, b=batch: d.sample((b,))))
                per_step = _seconds(lambda m=model, b=batch: naive_steps(m, m.layout(), b, args.naive_steps))
                naive.append(per_step / args.naive_steps * steps)
            c, n = statistics.median(cached), statistics.median(naive)
            rows.append([name, batch, c, n, n / c])
            results.append(sampling_row(name, configurations[name], batch, c, n, True))
    print_table(
        "cached vs naive sampling (naive extrapolated from its first steps)",
        ["model", "batch", "cached s", "naive s", "ratio"],
        rows,
    )

    x = torch.randint(0, 256, (64, *shape))
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for model in models.values():
            model.condition().log_prob(x)  # warm up
        for _ in range(args.repeats):
            for name, model in models.items():
                times[name].append(_seconds(lambda m=model: m.condition().log_prob(x)))
    print_table(
        "log_prob, batch 64, no gradient",
        ["model", "layers", "parameters", "images/s"],
        [
            [
                name,
                len(model.blocks) if hasattr(model, "blocks") else len(model.layers),
                sum(p.numel() for p in model.parameters()),
                64 / statistics.median(times[name]),
            ]
            for name, model in models.items()
        ],
    )
    for name in models:
        results.append(log_prob_row(name, configurations[name], 64, statistics.median(times[name]), "images/s"))
    return results


if __name__ == "__main__":
    main()
