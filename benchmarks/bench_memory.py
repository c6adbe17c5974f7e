"""Peak memory of ``sample`` for growing sample sizes, with and without ``batch_chunk``.

Every measurement runs in a fresh process (its peak resident set size, ``VmHWM`` on
Linux; torch's CPU allocator is invisible to ``tracemalloc``): the process
builds the model, draws one sequence (a warm-up) and records its peak RSS so far (the
baseline: interpreter, torch, the weights, first-call buffers), draws
``d.sample((N,), batch_chunk=...)`` once and records the peak RSS again. The growth is
what sampling itself cost: the incremental state (row caches, KV cache) and the
activations of the whole batch, or of one chunk with ``batch_chunk``, and the samples.
Models, in eval mode, float32, one thread:

* ``GatedPixelCNN((1, 28, 28), Categorical(256), hidden_channels=64, num_layers=5)``;
* ``Transformer(Categorical(256), max_length=256, d_model=128, num_heads=4, num_layers=4)``.

    python benchmarks/bench_memory.py            # the table in docs/results.md (~3 minutes)
    python benchmarks/bench_memory.py --quick    # seconds: tiny models and sizes
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from common import PEAK_RSS_SNIPPET, memory_row, print_table, subprocess_env

_WORKER = (
    PEAK_RSS_SNIPPET
    + """
import json, sys, time, torch
import pyro_autoregressive as par
family, size, chunk, quick = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
chunk = None if chunk == "none" else int(chunk)
torch.set_num_threads(1)
torch.manual_seed(0)
head = par.heads.Categorical(256)
if family == "GatedPixelCNN":
    side, hidden, layers = (6, 8, 1) if quick else (28, 64, 5)
    model = par.GatedPixelCNN((1, side, side), head, hidden_channels=hidden, num_layers=layers)
else:
    length, width, layers = (8, 16, 1) if quick else (256, 128, 4)
    model = par.Transformer(head, max_length=length, d_model=width, num_heads=4, num_layers=layers)
d = model.eval().condition()
d.sample((1,))  # warm-up: lazily loaded kernels and first-call buffers belong to the baseline
baseline = peak_rss_kib()
started = time.perf_counter()
x = d.sample((size,), batch_chunk=chunk)
wall = time.perf_counter() - started
peak = peak_rss_kib()
print(json.dumps({"baseline_kib": baseline, "peak_kib": peak, "seconds": wall, "shape": list(x.shape)}))
"""
)

CONFIGS = {
    "GatedPixelCNN": "image (1, 28, 28), Categorical(256), hidden_channels=64, num_layers=5",
    "Transformer": "T=256, Categorical(256), d_model=128, num_heads=4, num_layers=4",
}
QUICK_CONFIGS = {
    "GatedPixelCNN": "image (1, 6, 6), Categorical(256), hidden_channels=8, num_layers=1",
    "Transformer": "T=8, Categorical(256), d_model=16, num_heads=4, num_layers=1",
}


def measure(family: str, size: int, chunk: int | None, quick: bool) -> dict[str, float]:
    """Peak RSS of one ``sample((size,), batch_chunk=chunk)`` in a fresh process (this checkout's package)."""
    args = [sys.executable, "-c", _WORKER, family, str(size), "none" if chunk is None else str(chunk), str(int(quick))]
    out = subprocess.run(args, capture_output=True, text=True, env=subprocess_env(), check=False)
    if out.returncode != 0:
        raise RuntimeError(
            f"the memory worker failed on {family}, N={size}, batch_chunk={chunk}:\n{out.stderr[-3000:]}"
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024], help="sample sizes N")
    parser.add_argument("--chunk", type=int, default=64, help="batch_chunk of the chunked runs")
    parser.add_argument("--quick", action="store_true", help="tiny models and sizes (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.chunk = [8, 32], 8
    configs = QUICK_CONFIGS if args.quick else CONFIGS
    rows: list[dict[str, object]] = []
    for family in args.models:
        for size in args.sizes:
            for chunk in (None, args.chunk):
                if chunk is not None and chunk >= size:
                    continue  # one chunk: the unchunked run
                result = measure(family, size, chunk, args.quick)
                rows.append(
                    memory_row(
                        family,
                        configs[family],
                        result["peak_kib"] / 1024,
                        f"sample(({size},), batch_chunk={chunk})",
                        N=size,
                        batch_chunk=chunk,
                        baseline_mib=result["baseline_kib"] / 1024,
                        growth_mib=(result["peak_kib"] - result["baseline_kib"]) / 1024,
                        seconds=result["seconds"],
                    )
                )
    print_table(
        "peak RSS of d.sample((N,), batch_chunk=...), each in a fresh process, 1 thread; "
        "growth = peak - peak before the sample",
        ["model", "N", "batch_chunk", "peak MiB", "growth MiB", "seconds"],
        [[r["model"], r["N"], r["batch_chunk"] or "-", r["peak_mib"], r["growth_mib"], r["seconds"]] for r in rows],
    )
    for family in args.models:
        print(f"{family}: {configs[family]}")
    return rows


if __name__ == "__main__":
    main()
