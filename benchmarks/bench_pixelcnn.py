"""Sampling with caches (``cache=True``) against the naive reference (``cache=False``).

For ``PixelCNN`` and ``GatedPixelCNN`` (row caches) on 28x28x1 images
(``Categorical(256)``), and for ``PixelCNNPlusPlus`` (every level computed once,
as soon as it can be) on 32x32x3 images (its discretized logistic mixture over
256 levels), at batch 1 and 64, measured in one run: the median over
``--repeats`` of the wall time of a full cached sample, and of the naive
sampler. The naive sampler reruns the whole network on the whole image at every
step, so its cost per step is constant; when a full naive sample would take
longer than ``--max-naive-seconds``, the script times ``--naive-steps`` steps of
the same loop (median of ``--repeats``) and multiplies by the number of steps
(printed as "extrapolated"); otherwise it times ``--naive-repeats`` full naive
samples. Also reports ``log_prob`` throughput (images per second, batch 64, no gradient).

    python benchmarks/bench_pixelcnn.py                        # the figures in docs/pixelcnn.md
    python benchmarks/bench_pixelcnn.py --models pixelcnnpp    # one family
    python benchmarks/bench_pixelcnn.py --quick                # seconds: tiny sizes
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import pyro_autoregressive as par

from common import log_prob_row, median_seconds, naive_steps, sampling_row


def naive_seconds_per_step(model: par.AutoregressiveModel, batch: int, steps: int) -> float:
    """Mean seconds per step of the ``cache=False`` loop over its first ``steps`` steps."""
    started = time.perf_counter()
    naive_steps(model, model.layout(), batch, steps)
    return (time.perf_counter() - started) / steps


def bench_model(model: par.AutoregressiveModel, configuration: str, args: argparse.Namespace) -> list[dict]:
    """Print one row per batch size (cached against naive); return them and ``log_prob`` at batch 64 as rows."""
    rows = []
    d = model.condition()
    num_steps = model.layout().num_steps
    name = type(model).__name__
    for batch in args.batches:
        cached = median_seconds(lambda b=batch, d=d: d.sample((b,)), args.repeats, warmup=0)
        per_step = statistics.median(
            naive_seconds_per_step(model, batch, min(args.naive_steps, num_steps)) for _ in range(args.repeats)
        )
        if per_step * num_steps <= args.max_naive_seconds:
            naive = median_seconds(lambda b=batch, d=d: d.sample((b,), cache=False), args.naive_repeats, warmup=0)
            how = f"measured: median of {args.naive_repeats} full sample(s)"
        else:
            naive = per_step * num_steps
            how = f"extrapolated: {per_step:.3f} s/step x {num_steps} steps"
        rows.append(sampling_row(name, configuration, batch, cached, naive, how.startswith("extrapolated")))
        print(f"{name:<17}{batch:>6}{cached:>14.2f}{naive:>15.2f}{naive / cached:>9.1f}  {how}", flush=True)
    x = d.sample((64,))
    with torch.no_grad():
        seconds = median_seconds(lambda x=x, d=d: d.log_prob(x), args.repeats, warmup=0)
    return [*rows, log_prob_row(name, configuration, 64, seconds, "images/s")]


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=["pixelcnn", "gated", "pixelcnnpp"], default=None)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--pp-size", type=int, default=32, help="PixelCNN++: image side (3 channels)")
    parser.add_argument("--pp-hidden", type=int, default=64)
    parser.add_argument("--pp-resnet", type=int, default=2)
    parser.add_argument("--pp-hierarchies", type=int, default=3)
    parser.add_argument("--pp-components", type=int, default=5)
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
        args.pp_size, args.pp_hidden, args.pp_resnet, args.pp_hierarchies, args.pp_components = 4, 8, 1, 2, 2
    models = args.models or ["pixelcnn", "gated", "pixelcnnpp"]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"{args.threads} thread(s), torch {torch.__version__}, median of {args.repeats}")
    builds = []
    for key, cls in (("pixelcnn", par.PixelCNN), ("gated", par.GatedPixelCNN)):
        if key in models:
            shape = (1, args.size, args.size)
            builds.append(
                (
                    f"{cls.__name__}: image {shape}, Categorical(256), hidden_channels={args.hidden}, "
                    f"num_layers={args.layers}",
                    lambda c=cls, s=shape: c(
                        s, par.heads.Categorical(256), hidden_channels=args.hidden, num_layers=args.layers
                    ),
                )
            )
    if "pixelcnnpp" in models:
        shape = (3, args.pp_size, args.pp_size)
        builds.append(
            (
                f"PixelCNNPlusPlus: image {shape}, num_classes=256, num_components={args.pp_components}, "
                f"hidden_channels={args.pp_hidden}, num_resnet={args.pp_resnet}, "
                f"num_hierarchies={args.pp_hierarchies}",
                lambda s=shape: par.PixelCNNPlusPlus(
                    s,
                    num_components=args.pp_components,
                    num_classes=256,
                    hidden_channels=args.pp_hidden,
                    num_resnet=args.pp_resnet,
                    num_hierarchies=args.pp_hierarchies,
                ),
            )
        )
    for description, _ in builds:
        print(description)
    print(f"{'model':<17}{'batch':>6}{'cache=True s':>14}{'cache=False s':>15}{'ratio':>9}  naive timing")
    rows = []
    for description, build in builds:
        model = build().eval()
        rows += bench_model(model, description.split(": ", 1)[1], args)
    for row in rows:
        if row["kind"] == "log_prob":
            print(f"log_prob throughput {row['model']}: {row['per_s']:.1f} images/s (batch 64, no grad)")
    return rows


if __name__ == "__main__":
    main()
