"""MADE: log_prob throughput and sampling time, cache=True vs cache=False, in one run.

MADE keeps no cache, so both sampling paths run the full network once per
dimension: the ratio is expected to be about 1. It is measured anyway, as the
baseline the cached model families are compared against.

    python benchmarks/bench_made.py
"""

from __future__ import annotations

import argparse

import torch

import pyro_autoregressive as par

from common import median_seconds, print_table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = par.MADE(64, par.heads.Categorical(17), hidden_sizes=(512, 512)).eval()
    d = model.condition()

    rows = []
    for batch in (1, 64):
        cached = median_seconds(lambda b=batch: d.sample((b,), cache=True), args.repeats)
        naive = median_seconds(lambda b=batch: d.sample((b,), cache=False), args.repeats)
        rows.append([batch, cached * 1e3, naive * 1e3, naive / cached])
    print_table(
        f"MADE(64, Categorical(17), hidden (512, 512)) sampling, median of {args.repeats}, "
        f"{torch.get_num_threads()} threads",
        ["batch", "cache=True ms", "cache=False ms", "ratio"],
        rows,
    )

    x = d.sample((500,))
    with torch.no_grad():
        seconds = median_seconds(lambda: d.log_prob(x), args.repeats)
    print_table("MADE log_prob", ["batch", "ms", "images/s"], [[500, seconds * 1e3, 500 / seconds]])


if __name__ == "__main__":
    main()
