"""Sampling with row caches (``cache=True``) against the naive reference (``cache=False``).

For ``PixelCNN`` and ``GatedPixelCNN`` on 28x28x1 images (``Categorical(256)``),
at batch 1 and 64, measured in one run: the median over ``--repeats`` of the
wall time of a full cached sample, and of the naive sampler. The naive sampler
reruns the whole network on the whole image at every one of the 784 steps, so
its cost per step is constant; when a full naive sample would take longer than
``--max-naive-seconds``, the script times ``--naive-steps`` steps of the same
loop (median of ``--repeats``) and multiplies by the number of steps (printed
as "extrapolated"); otherwise it times ``--naive-repeats`` full naive samples.
Also reports ``log_prob`` throughput (images per second, no gradient).

    python benchmarks/bench_pixelcnn.py                 # the figures in docs/pixelcnn.md
    python benchmarks/bench_pixelcnn.py --quick         # seconds: tiny sizes
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import pyro_autoregressive as par
from pyro_autoregressive.sampling import NaiveState


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@torch.no_grad()
def naive_seconds_per_step(model: par.AutoregressiveModel, batch: int, steps: int) -> float:
    """Mean seconds per step of the ``cache=False`` loop over its first ``steps`` steps."""
    layout = model.layout()
    state = NaiveState(model, layout, None, None, batch)
    started = time.perf_counter()
    for _ in range(steps):
        value = model.head.sample(state.params(), layout.channels)
        state.advance(value)
    return (time.perf_counter() - started) / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-steps", type=int, default=8)
    parser.add_argument("--max-naive-seconds", type=float, default=60.0)
    parser.add_argument("--naive-repeats", type=int, default=1, help="full naive samples timed (when affordable)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.hidden, args.layers, args.batches, args.repeats = 6, 8, 1, [1, 4], 1
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape = (1, args.size, args.size)
    num_steps = args.size * args.size
    print(
        f"image {shape}, Categorical(256), hidden_channels={args.hidden}, num_layers={args.layers}, "
        f"{args.threads} thread(s), torch {torch.__version__}, median of {args.repeats}"
    )
    header = f"{'model':<15}{'batch':>6}{'cache=True s':>14}{'cache=False s':>15}{'ratio':>9}  naive timing"
    print(header)
    throughput = {}
    for cls in (par.PixelCNN, par.GatedPixelCNN):
        model = cls(shape, par.heads.Categorical(256), hidden_channels=args.hidden, num_layers=args.layers).eval()
        d = model.condition()
        for batch in args.batches:
            cached = _median_seconds(lambda b=batch, d=d: d.sample((b,)), args.repeats)
            per_step = statistics.median(
                naive_seconds_per_step(model, batch, min(args.naive_steps, num_steps)) for _ in range(args.repeats)
            )
            if per_step * num_steps <= args.max_naive_seconds:
                naive = _median_seconds(lambda b=batch, d=d: d.sample((b,), cache=False), args.naive_repeats)
                how = f"measured: median of {args.naive_repeats} full sample(s)"
            else:
                naive = per_step * num_steps
                how = f"extrapolated: {per_step:.3f} s/step x {num_steps} steps"
            print(f"{cls.__name__:<15}{batch:>6}{cached:>14.2f}{naive:>15.2f}{naive / cached:>9.1f}  {how}")
        x = d.sample((64,))
        with torch.no_grad():
            seconds = _median_seconds(lambda x=x, d=d: d.log_prob(x), args.repeats)
        throughput[cls.__name__] = 64 / seconds
    for name, rate in throughput.items():
        print(f"log_prob throughput {name}: {rate:.0f} images/s (batch 64, no grad)")


if __name__ == "__main__":
    main()
