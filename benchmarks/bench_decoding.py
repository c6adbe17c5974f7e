"""The per-step cost of decoding filters: filtered against unfiltered cached sampling, interleaved A/B.

Model: the Transformer of ``bench_transformer.py`` (``Categorical(256)``, ``d_model=128``,
4 heads, 4 layers), float32, eval mode, random weights (a filter's cost does not
depend on them). In one process and one thread, runs alternate between the
unfiltered distribution (A; for a tempered chain, the same temperature
without the filters) and each filtered one (B), so that drifts of the machine
hit both alike; the table gives the median per-step time of each and the ratio B / A.

    python benchmarks/bench_decoding.py
    python benchmarks/bench_decoding.py --quick     # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import pyro_autoregressive as par

from common import print_table

#: (unfiltered, filtered) distributions compared: a filter's cost is measured against the same
#: distribution without it (a tempered chain against the tempered distribution: tempering is not filtering)
VARIANTS = {
    "top_k(50)": (lambda d: d, lambda d: d.top_k(50)),
    "top_p(0.9)": (lambda d: d, lambda d: d.top_p(0.9)),
    "min_p(0.05)": (lambda d: d, lambda d: d.min_p(0.05)),
    "temper(0.8).top_p(0.95).top_k(40)": (lambda d: d.temper(0.8), lambda d: d.temper(0.8).top_p(0.95).top_k(40)),
    "greedy (top_k(1))": (lambda d: d, lambda d: d.top_k(1)),
}


def seconds(d: par.AutoregressiveDistribution, batch: int) -> float:
    start = time.perf_counter()
    d.sample((batch,))
    return time.perf_counter() - start


@torch.no_grad()
def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.length, args.batches, args.repeats = 8, [2], 1
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = par.Transformer(par.heads.Categorical(256), max_length=args.length, d_model=128, num_heads=4, num_layers=4)
    model.eval()
    d = model.condition()
    rows = []
    for batch in args.batches:
        plain = {name: [] for name in VARIANTS}
        filtered = {name: [] for name in VARIANTS}
        for unfiltered, make in VARIANTS.values():  # warm-up
            seconds(unfiltered(d), batch), seconds(make(d), batch)
        for _ in range(args.repeats):
            for name, (unfiltered, make) in VARIANTS.items():
                plain[name].append(seconds(unfiltered(d), batch) / args.length)
                filtered[name].append(seconds(make(d), batch) / args.length)
        for name in VARIANTS:
            a, b = statistics.median(plain[name]), statistics.median(filtered[name])
            rows.append(
                {
                    "kind": "decoding",
                    "batch": batch,
                    "filters": name,
                    "plain_ms": 1e3 * a,
                    "filtered_ms": 1e3 * b,
                    "ratio": b / a,
                }
            )
    print_table(
        f"Cached sampling per step, Transformer Categorical(256), T={args.length}, 1 thread "
        f"(medians of {args.repeats} interleaved runs)",
        ["batch", "filters", "unfiltered ms/step", "filtered ms/step", "filtered / unfiltered"],
        [[r["batch"], r["filters"], r["plain_ms"], r["filtered_ms"], r["ratio"]] for r in rows],
    )
    return rows


if __name__ == "__main__":
    main()
