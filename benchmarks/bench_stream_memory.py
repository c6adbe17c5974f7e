"""A windowed Transformer streams 100,000 bytes with flat memory: peak RSS after 10k and after 100k steps.

Model: ``Transformer(Categorical(256), max_length=256, d_model=128, num_heads=4,
num_layers=4, attention_window=256)`` (rotary positions), eval mode, float32, random
weights, one thread. In one fresh process (so the peak resident set size, ``VmHWM``,
is this generation's alone): a warm-up stream of 600 steps (past the window, so the
ring buffers are full and every kernel has run), then one
``generate_stream(model, 100_000, chunk_size=1000)`` whose bytes are written to a
file as they come; the peak RSS is read after the first 10,000 and after all
100,000 steps of that same stream. The KV cache of each layer is a ring of ``W``
positions, so the two peaks should be equal up to allocator noise; a cache that
kept every position would hold about 100,000 x 4 layers x 2 x 128 floats, ~400 MB, more.

    python benchmarks/bench_stream_memory.py
    python benchmarks/bench_stream_memory.py --quick    # seconds: a tiny model, 2,000 steps
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
import json, os, sys, tempfile, time, torch
import pyro_autoregressive as par
from pyro_autoregressive.streaming import generate_stream
steps, checkpoint, window, width, layers, chunk = (int(a) for a in sys.argv[1:7])
torch.set_num_threads(1)
torch.manual_seed(0)
model = par.Transformer(par.heads.Categorical(256), max_length=256, d_model=width, num_heads=4, num_layers=layers,
                        attention_window=window).eval()
for _ in generate_stream(model, 600, chunk_size=chunk, progress=False):  # warm-up, past the window
    pass
marks = [{"steps": 0, "peak_kib": peak_rss_kib(), "seconds": 0.0}]
done = 0
started = time.perf_counter()
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "bytes.bin")
    with open(path, "wb") as out:
        for piece in generate_stream(model, steps, chunk_size=chunk, progress=False):
            out.write(bytes(piece[0].to(torch.uint8).tolist()))
            done += piece.shape[-1]
            if done in (checkpoint, steps):
                marks.append({"steps": done, "peak_kib": peak_rss_kib(), "seconds": time.perf_counter() - started})
    written = os.path.getsize(path)
print(json.dumps({"marks": marks, "bytes": written}))
"""
)


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--checkpoint", type=int, default=10_000, help="also read the peak RSS after these steps")
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="a tiny model, 2,000 steps (smoke test)")
    args = parser.parse_args(argv)
    width, layers = 128, 4
    if args.quick:
        args.steps, args.checkpoint, args.window, args.chunk_size, width, layers = 2000, 200, 16, 100, 16, 1
    if args.steps % args.chunk_size or args.checkpoint % args.chunk_size:
        parser.error("--steps and --checkpoint must be multiples of --chunk-size")
    configuration = (
        f"Categorical(256), d_model={width}, num_heads=4, num_layers={layers}, attention_window={args.window}, "
        "rotary positions"
    )
    command = [sys.executable, "-c", _WORKER, str(args.steps), str(args.checkpoint), str(args.window)]
    command += [str(width), str(layers), str(args.chunk_size)]
    out = subprocess.run(command, capture_output=True, text=True, env=subprocess_env())
    if out.returncode != 0:
        raise RuntimeError(f"the streaming worker failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    marks = result["marks"]
    rows = []
    for mark in marks:
        rate = mark["steps"] / mark["seconds"] if mark["seconds"] else float("nan")
        rows.append([mark["steps"], mark["peak_kib"] / 1024, mark["seconds"], rate])
    print_table(
        f"Windowed Transformer ({configuration}), generate_stream of {args.steps:,} steps (chunks of "
        f"{args.chunk_size}), one thread, {result['bytes']:,} bytes written; peak RSS of the process",
        ["steps", "peak RSS MiB", "seconds", "steps/s"],
        rows,
    )
    first, last = marks[1], marks[-1]
    growth = (last["peak_kib"] - first["peak_kib"]) / 1024
    print(f"growth of the peak from {first['steps']:,} to {last['steps']:,} steps: {growth:+.2f} MiB")
    what = (
        f"generate_stream of {args.steps:,} steps (peak after {first['steps']:,}: {first['peak_kib'] / 1024:.0f} MiB)"
    )
    return [
        memory_row(
            "Transformer",
            configuration,
            last["peak_kib"] / 1024,
            what,
            peak_mib_checkpoint=first["peak_kib"] / 1024,
            steps=args.steps,
            checkpoint=first["steps"],
            seconds=last["seconds"],
        )
    ]


if __name__ == "__main__":
    main()
