"""MADE: log_prob throughput and sampling time, cache=True vs cache=False, in one run.

MADE keeps no cache, so both sampling paths run the full network once per
dimension: the ratio is expected to be about 1. It is measured anyway, as the
baseline the cached model families are compared against.

    python benchmarks/bench_made.py
    python benchmarks/bench_made.py --quick     # seconds: tiny sizes
"""

from __future__ import annotations

import argparse

import torch

import pyro_autoregressive as par

from common import log_prob_row, median_seconds, print_table, sampling_row


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    size, hidden, batches, scored = (64, 512, (1, 64), 500) if not args.quick else (8, 16, (1, 4), 8)
    if args.quick:
        args.repeats = 1
    torch.manual_seed(0)
    model = par.MADE(size, par.heads.Categorical(17), hidden_sizes=(hidden, hidden)).eval()
    configuration = f"MADE({size}, Categorical(17), hidden ({hidden}, {hidden}))"
    d = model.condition()

    rows, results = [], []
    for batch in batches:
        cached = median_seconds(lambda b=batch: d.sample((b,), cache=True), args.repeats)
        naive = median_seconds(lambda b=batch: d.sample((b,), cache=False), args.repeats)
        rows.append([batch, cached * 1e3, naive * 1e3, naive / cached])
        results.append(sampling_row("MADE", configuration, batch, cached, naive, False))
    print_table(
        f"{configuration} sampling, median of {args.repeats}, {torch.get_num_threads()} threads",
        ["batch", "cache=True ms", "cache=False ms", "ratio"],
        rows,
    )

    x = d.sample((scored,))
    with torch.no_grad():
        seconds = median_seconds(lambda: d.log_prob(x), args.repeats)
    print_table("MADE log_prob", ["batch", "ms", "images/s"], [[scored, seconds * 1e3, scored / seconds]])
    results.append(log_prob_row("MADE", configuration, scored, seconds, "images/s"))
    return results


if __name__ == "__main__":
    main()
