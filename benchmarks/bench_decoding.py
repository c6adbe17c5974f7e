"""The per-step cost of decoding filters: filtered against unfiltered cached sampling, interleaved chunk by chunk.

Model: the Transformer of ``bench_transformer.py`` (``Categorical(256)``, ``d_model=128``,
4 heads, 4 layers), float32, eval mode, random weights (a filter's cost hardly
depends on them: it sorts or selects over every level whatever the logits). In one process and one
thread, two incremental states, one drawing from the unfiltered distribution
(A; for a tempered chain, the same temperature without the filters) and one from
the filtered one (B), advance by ``--chunk`` steps in turn, as ``sample`` draws
them (``ancestral_sample``, inference mode), for the ``--length`` steps of a
sequence, ``--repeats`` times. A chunk of A and the chunk of B after it cover
the same positions (the same attention length), a few milliseconds apart, so a
drift or a stall of this shared machine hits both alike or shows as one outlier
among many: the table gives the median of the per-chunk ratios B / A, its
quartiles, and the median per-step times of each side.

    python benchmarks/bench_decoding.py
    python benchmarks/bench_decoding.py --quick     # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import pyro_autoregressive as par
from pyro_autoregressive.heads import Head
from pyro_autoregressive.sampling import ancestral_sample

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


def chunk_times(
    d: par.AutoregressiveDistribution, heads: tuple[Head, Head], batch: int, chunk: int
) -> list[tuple[float, float]]:
    """Seconds per chunk of A and of B, two states drawing one sequence batch in turn."""
    model, length = d.model, d.layout.num_steps
    states = [model.incremental_state(d.layout, None, None, batch) for _ in heads]
    times = []
    for start in range(0, length, chunk):
        steps = min(chunk, length - start)  # the next steps of the sequence, drawn by each state in turn
        pair = []
        for state, head in zip(states, heads, strict=True):
            begin = time.perf_counter()
            ancestral_sample(state, head, steps)
            pair.append((time.perf_counter() - begin) / steps)
        times.append((pair[0], pair[1]))
    return times


def quartiles(row: dict[str, object]) -> str:
    return f"{row['ratio_q1']:.3f}-{row['ratio_q3']:.3f}"


@torch.inference_mode()
def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=16, help="steps each side draws before the other's turn")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.length, args.batches, args.repeats, args.chunk = 8, [2], 1, 4
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = par.Transformer(par.heads.Categorical(256), max_length=args.length, d_model=128, num_heads=4, num_layers=4)
    model.eval()
    d = model.condition()
    rows = []
    for batch in args.batches:
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
        for repeat in range(args.repeats + 1):  # the first round warms up
            for name, (unfiltered, filtered) in VARIANTS.items():
                pairs = chunk_times(d, (unfiltered(d).head, filtered(d).head), batch, args.chunk)
                if repeat:
                    times[name] += pairs
        for name, pairs in times.items():
            ratios = [b / a for a, b in pairs]
            q1, median, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
            rows.append(
                {
                    "kind": "decoding",
                    "batch": batch,
                    "filters": name,
                    "plain_ms": 1e3 * statistics.median(a for a, _ in pairs),
                    "filtered_ms": 1e3 * statistics.median(b for _, b in pairs),
                    "ratio": median,
                    "ratio_q1": q1,
                    "ratio_q3": q3,
                }
            )
    print_table(
        f"Cached sampling per step, Transformer Categorical(256), T={args.length}, 1 thread (medians over "
        f"{args.repeats} sequences x {-(-args.length // args.chunk)} interleaved chunks of {args.chunk} steps)",
        ["batch", "filters", "unfiltered ms/step", "filtered ms/step", "filtered / unfiltered", "quartiles"],
        [[r["batch"], r["filters"], r["plain_ms"], r["filtered_ms"], r["ratio"], quartiles(r)] for r in rows],
    )
    return rows


if __name__ == "__main__":
    main()
