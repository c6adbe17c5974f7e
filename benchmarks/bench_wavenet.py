"""WaveNet generation speed: queue-cached (``cache=True``) vs full recomputation (``cache=False``).

Both paths go through the library's one sampling loop (``ancestral_sample``); only
the incremental state differs. ``cache=False`` reruns the teacher-forced network on
the whole event buffer at every step (TFP's PixelCNN / pytorch-generative), so its
cost per step is the same at every step and is timed on a few steps; ``cache=True``
(Paine et al. 2016 queues) is timed on a few hundred. Reported: the median over
repeats of the wall time per generated sample, the speed-up, the real-time factor at
16 kHz (seconds of audio generated per wall second), an end-to-end
``d.sample(cache=True)`` of one second of audio, ``log_prob`` of four such seconds, and the peak RSS of streaming 60 s
vs 10 s of audio (``generate_stream``, each in a fresh subprocess).

    flock /tmp/cpu.lock python benchmarks/bench_wavenet.py --parts speed    # ~2 minutes
    flock /tmp/cpu.lock python benchmarks/bench_wavenet.py --parts stream   # ~6 minutes
    python benchmarks/bench_wavenet.py --quick                         # seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

import torch

import pyro_autoregressive as par
from pyro_autoregressive.layout import SequenceLayout
from pyro_autoregressive.sampling import NaiveState, ancestral_sample

from common import PEAK_RSS_SNIPPET, log_prob_row, median_seconds, memory_row, sampling_row, subprocess_env

RATE = 16000

_STREAM_SCRIPT = (
    PEAK_RSS_SNIPPET
    + """
import json, sys, time, torch
import pyro_autoregressive as par
from pyro_autoregressive.streaming import generate_stream
seconds, residual, skip, layers, stacks, threads = map(int, sys.argv[1:7])
torch.set_num_threads(threads)
torch.manual_seed(0)
net = par.WaveNet(par.heads.Categorical(256), residual_channels=residual, skip_channels=skip,
                  num_layers=layers, num_stacks=stacks).eval()
started, total = time.perf_counter(), 0
for chunk in generate_stream(net, seconds * 16000, chunk_size=16000, progress=False):
    total += chunk.shape[-1]  # the chunk would be written out here; nothing is kept
wall = time.perf_counter() - started
print(json.dumps({"samples": total, "wall": wall, "max_rss_kib": peak_rss_kib()}))
"""
)


def time_steps(model: par.WaveNet, batch: int, steps: int, repeats: int, cache: bool, length: int) -> float:
    """Median wall seconds per generated step over ``repeats`` runs of ``steps`` steps."""
    layout = SequenceLayout(length)
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            if cache:
                state = model.incremental_state(layout, None, None, batch)
            else:
                state = NaiveState(model, layout, None, None, batch)
            started = time.perf_counter()
            ancestral_sample(state, model.head, steps)
            times.append((time.perf_counter() - started) / steps)
    return statistics.median(times)


def stream_rss(seconds: int, config: list[int], threads: int) -> dict[str, float]:
    args = [sys.executable, "-c", _STREAM_SCRIPT, str(seconds), *map(str, config), str(threads)]
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=subprocess_env()).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residual", type=int, default=64)
    parser.add_argument("--skip", type=int, default=128)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--stacks", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every measurement")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--stream-config",
        type=int,
        nargs=4,
        default=[16, 16, 4, 1],
        metavar=("R", "S", "L", "STACKS"),
        help="network of the streaming-memory runs (60 s at 2x10 layers would take ~15 min)",
    )
    parser.add_argument("--stream-seconds", type=int, nargs=2, default=[10, 60])
    parser.add_argument("--parts", nargs="+", choices=["speed", "stream"], default=["speed", "stream"])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.stream_seconds = 2, [1, 2]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = par.WaveNet(
        par.heads.Categorical(256),
        residual_channels=args.residual,
        skip_channels=args.skip,
        num_layers=args.layers,
        num_stacks=args.stacks,
    ).eval()
    length = model.receptive_field + 1  # the naive buffer covers one receptive field (its cost grows with T)
    print(
        f"# WaveNet {args.stacks} stacks x {args.layers} layers, R={args.residual}, S={args.skip}, "
        f"Categorical(256), receptive field {model.receptive_field}; sequence length {length}"
    )
    print(
        f"# torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}, "
        f"median of {args.repeats} repeats"
    )
    print(
        f"{'batch':>5} {'cache=False ms/sample':>22} {'cache=True ms/sample':>21} {'speed-up':>9} "
        f"{'RTF @16 kHz (cached)':>21}"
    )
    configuration = (
        f"{args.stacks} stacks x {args.layers} layers, R={args.residual}, S={args.skip}, Categorical(256), T={length}"
    )
    results: list[dict[str, object]] = []
    rows = {}
    for batch in (1, 16) if "speed" in args.parts else ():
        naive = time_steps(model, batch, 2 if args.quick else 4, args.repeats, cache=False, length=length)
        cached = time_steps(model, batch, 50 if args.quick else 400, args.repeats, cache=True, length=length)
        rtf = batch / (cached * RATE)  # seconds of audio (all sequences of the batch) per wall second
        rows[batch] = (naive, cached)
        results.append(sampling_row("WaveNet", configuration, batch, cached * length, naive * length, True))
        print(f"{batch:>5} {naive * 1e3:>22.3f} {cached * 1e3:>21.3f} {naive / cached:>8.1f}x {rtf:>21.3f}")

    if "speed" in args.parts:
        steps = RATE // 20 if args.quick else RATE
        d = model.condition(length=steps)
        started = time.perf_counter()
        d.sample(cache=True)
        wall = time.perf_counter() - started
        print(
            f"end to end: d.sample(cache=True) of {steps} samples at batch 1: {wall:.2f} s "
            f"(RTF {steps / RATE / wall:.3f})"
        )
        batch = 4
        x = d.sample((batch,))
        with torch.no_grad():
            seconds = median_seconds(lambda: d.log_prob(x), args.repeats)
        print(f"log_prob of {batch} x {steps} samples: {seconds:.3f} s, {batch * steps / seconds:.0f} samples/s")
        results.append(
            log_prob_row(
                "WaveNet", configuration.replace(f"T={length}", f"T={steps}"), batch, seconds, "samples/s", steps
            )
        )

    config = list(args.stream_config)
    for seconds in args.stream_seconds if "stream" in args.parts else ():
        result = stream_rss(seconds, config, args.threads)
        print(
            f"streaming {seconds:>3} s of 16 kHz audio (R={config[0]}, S={config[1]}, {config[3]}x{config[2]} "
            f"layers): peak RSS {result['max_rss_kib'] / 1024:.1f} MiB, {result['wall']:.1f} s wall"
        )
        results.append(
            memory_row(
                "WaveNet",
                f"R={config[0]}, S={config[1]}, {config[3]}x{config[2]} layers, Categorical(256)",
                result["max_rss_kib"] / 1024,
                f"generate_stream of {seconds} s at 16 kHz",
            )
        )
    return results


if __name__ == "__main__":
    main()
