"""Transformer sampling with and without the KV cache, and ``log_prob`` throughput.

Model: ``Transformer(Categorical(256), max_length=1024, d_model=128, num_heads=4,
num_layers=4)`` in eval mode, float32, random weights (speed does not depend on them).

* ``cache=True``: ``d.sample((batch,))`` end to end, median of ``--repeats`` runs.
* ``cache=False`` (the reference: the full network on the whole event buffer at
  every step): every step costs the same (one teacher-forced pass over all ``T``
  positions, whatever the step), so unless ``--full-naive`` is given it is timed
  over the first ``--naive-steps`` steps of the same sampling loop and multiplied
  by ``T / naive-steps``; the table marks such figures as extrapolated.
* ``log_prob``: one teacher-forced pass over ``(batch, T)`` values, without gradients.

    python benchmarks/bench_transformer.py
    python benchmarks/bench_transformer.py --quick     # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import platform

import torch

import pyro_autoregressive as par

from common import log_prob_row, median_seconds, naive_steps, sampling_row


@torch.no_grad()
def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-steps", type=int, default=16)
    parser.add_argument("--full-naive", action="store_true", help="time cache=False over every step")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.lengths, args.batches, args.repeats, args.naive_steps = [16], [2], 1, 4
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = par.Transformer(
        par.heads.Categorical(256), max_length=max(args.lengths), d_model=128, num_heads=4, num_layers=4
    ).eval()
    print(
        f"Transformer: 4 layers, 4 heads, d_model 128, Categorical(256); torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )
    configuration = "Categorical(256), d_model=128, num_heads=4, num_layers=4"
    rows = []
    print(f"{'T':>6}{'batch':>7}{'cached s':>11}{'cached tok/s':>14}", end="")
    print(f"{'naive s':>11}{'naive tok/s':>13}{'speed-up':>10}")
    for length in args.lengths:
        d = model.condition(length=length)
        for batch in args.batches:
            cached = median_seconds(lambda d=d, b=batch: d.sample((b,)), args.repeats)
            if args.full_naive:
                naive, note = median_seconds(lambda d=d, b=batch: d.sample((b,), cache=False), args.repeats), ""
            else:
                steps = min(args.naive_steps, length)
                part = median_seconds(lambda d=d, b=batch, s=steps: naive_steps(d.model, d.layout, b, s), args.repeats)
                naive, note = part * length / steps, "*"
            tokens = batch * length
            row = sampling_row("Transformer", f"T={length}, {configuration}", batch, cached, naive, note == "*")
            rows.append({**row, "T": length})
            print(
                f"{length:>6}{batch:>7}{cached:>11.3f}{tokens / cached:>14.0f}{naive:>10.2f}{note:1}"
                f"{tokens / naive:>13.1f}{naive / cached:>9.1f}x"
            )
    if not args.full_naive:
        print(f"* extrapolated: first {args.naive_steps} steps timed, times T / {args.naive_steps}")

    length, batch = max(args.lengths), max(args.batches)
    d = model.condition(length=length)
    x = d.sample((batch,))
    seconds = median_seconds(lambda: d.log_prob(x), max(args.repeats, 3))
    print(f"log_prob at T={length}, batch {batch}: {seconds:.3f} s, {batch * length / seconds:.0f} tokens/s")
    row = log_prob_row("Transformer", f"T={length}, {configuration}", batch, seconds, "tokens/s", per_item=length)
    rows.append({**row, "T": length, "log_prob_s": seconds})
    return rows


if __name__ == "__main__":
    main()
