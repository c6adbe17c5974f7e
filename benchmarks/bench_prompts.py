"""The cost of ragged prompts: per-row prompt lengths against one length for every row, interleaved.

Model: the Transformer of ``bench_decoding.py`` (``Categorical(256)``, ``d_model=128``,
4 heads, 4 layers), float32, eval mode, random weights, ``T = 256`` steps in all. In
one process and one thread, runs alternate between three conditioned distributions
of one batch, so that drifts of the machine hit them alike:

* ``equal``: every row's prompt has the mean length ``n`` (an int ``num_steps``);
* ``ragged``: per-row lengths spread evenly over ``[n/2, 3n/2]`` (a tensor
  ``num_steps``, the same prompt tokens in all);
* ``equal-at-min``: every row's prompt has the shortest ragged length ``n/2``.

The shortest prompt goes through the KV cache in one parallel pass; the ragged
rows' longer prompts are then teacher-forced through the cache one step at a
time, while the other rows draw. So ``ragged`` runs as many loop steps as
``equal-at-min`` (``T - n/2``), more than ``equal`` (``T - n``). The table gives the
median seconds of one ``sample()`` of the batch and the ratios to ``equal``.

    python benchmarks/bench_prompts.py
    python benchmarks/bench_prompts.py --quick     # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import pyro_autoregressive as par

from common import print_table


def seconds(d: par.AutoregressiveDistribution) -> float:
    start = time.perf_counter()
    d.sample()
    return time.perf_counter() - start


@torch.no_grad()
def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=256, help="T, the steps of a sample")
    parser.add_argument("--prompt", type=int, default=128, help="n, the mean prompt length")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.length, args.prompt, args.batch, args.repeats = 8, 4, 2, 1
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = par.Transformer(par.heads.Categorical(256), max_length=args.length, d_model=128, num_heads=4, num_layers=4)
    model.eval()
    d = model.condition().expand((args.batch,))
    prompts = d.sample()  # (B, T): any values; each row keeps its first num_steps
    shortest = args.prompt // 2
    ragged = torch.linspace(shortest, args.prompt + args.prompt // 2, args.batch).round().long()
    variants = {
        "equal": d.condition_on_prefix(prompts, args.prompt),
        "ragged": d.condition_on_prefix(prompts, ragged),
        "equal-at-min": d.condition_on_prefix(prompts, shortest),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for c in variants.values():  # warm-up
        seconds(c)
    for _ in range(args.repeats):
        for name, c in variants.items():
            times[name].append(seconds(c))
    base = statistics.median(times["equal"])
    rows = []
    for name, c in variants.items():
        median = statistics.median(times[name])
        rows.append(
            {
                "kind": "prompts",
                "variant": name,
                "prompt": f"{shortest}..{int(ragged.max())} per row" if name == "ragged" else str(c.prefix.shape[-2]),
                "batch": args.batch,
                "length": args.length,
                "seconds": median,
                "ratio": median / base,
            }
        )
    print_table(
        f"Cached sampling with prompts, Transformer Categorical(256), T={args.length}, batch {args.batch}, "
        f"1 thread (medians of {args.repeats} interleaved runs)",
        ["prompts", "prompt length", "s per sample()", "/ equal"],
        [[r["variant"], r["prompt"], r["seconds"], r["ratio"]] for r in rows],
    )
    return rows


if __name__ == "__main__":
    main()
