"""One-GPU check: the property table on CUDA, cached against naive sampling, ``log_prob`` in float32 and bf16.

On a machine with CUDA (one GPU, under 5 minutes with the defaults):

1. the property table (``tests/test_properties.py --device cuda -x -q``): by default
   the tests of shapes, cached == naive, cached head parameters == teacher-forced,
   ``batch_chunk``, ``step_log_prob`` and ``rsample`` (``--table full``: every test;
   ``--table none``: skipped), in a subprocess with a time limit;
2. for every family (MADE, PixelCNN, GatedPixelCNN, PixelCNN++, RowLSTM,
   DiagonalBiLSTM, WaveNet, Transformer), random weights, eval mode: a full cached
   ``sample`` at batch 1 and ``--batch`` against the naive sampler (the whole network
   on the whole event at every step; its steps all cost the same, so
   ``--naive-steps`` of them are timed and scaled), CUDA synchronised around every
   timing;
3. ``log_prob`` throughput without gradient in float32 and under
   ``torch.autocast(dtype=torch.bfloat16)``;
4. optional (``--compile FAMILY ...``, guarded: a failure is reported, not raised):
   ``log_prob`` through ``torch.compile(model)`` and cached sampling with each
   step's ``state.params`` compiled (``dynamic=True``). Compilation takes tens of
   seconds per family, hence off by default.

It prints one table. Without CUDA it says so and exits 0. ``--device cpu`` runs the
same measurements on the CPU (to check this script itself; ``--quick`` for tiny sizes).

    python benchmarks/gpu_check.py
    python benchmarks/gpu_check.py --table full --compile Transformer GatedPixelCNN
    python benchmarks/gpu_check.py --device cpu --quick --table none   # the script's own smoke test
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

import pyro_autoregressive as par
from pyro_autoregressive.sampling import NaiveState, ancestral_sample

from common import FAMILIES, ROOT, log_prob_row, print_table, sampling_row, subprocess_env

TABLE_SUBSET = "shape_contract or cached_equals_naive or cached_params or batch_chunk or step_log_prob or rsample"


def build(family: str, quick: bool) -> tuple[par.AutoregressiveModel, str, int | None, str]:
    """``(model, configuration, length, log_prob unit)`` of a family at the check's size."""
    k = 256
    head = par.heads.Categorical(k)
    side, hidden = (5, 8) if quick else (28, 64)
    image = (1, side, side)
    if family == "MADE":
        size, width = (8, 16) if quick else (64, 512)
        return par.MADE(size, par.heads.Categorical(17), hidden_sizes=(width, width)), f"D={size}", None, "values/s"
    if family in ("PixelCNN", "GatedPixelCNN"):
        layers = 1 if quick else 5
        cls = getattr(par, family)
        model = cls(image, head, hidden_channels=hidden, num_layers=layers)
        return model, f"image {image}, hidden {hidden}, {layers} layers", None, "images/s"
    if family == "PixelCNNPlusPlus":
        shape = (3, 4, 4) if quick else (3, 32, 32)
        resnet, levels = (1, 2) if quick else (2, 3)
        model = par.PixelCNNPlusPlus(
            shape, num_components=5, num_classes=k, hidden_channels=hidden, num_resnet=resnet, num_hierarchies=levels
        )
        return model, f"image {shape}, hidden {hidden}, resnet {resnet}, hierarchies {levels}", None, "images/s"
    if family in ("RowLSTM", "DiagonalBiLSTM"):
        layers = 1 if quick else 3
        model = getattr(par, family)(image, head, hidden_channels=hidden, num_layers=layers)
        return model, f"image {image}, hidden {hidden}, {layers} layers", None, "images/s"
    if family == "WaveNet":
        length, layers, stacks = (16, 2, 1) if quick else (1024, 10, 2)
        model = par.WaveNet(
            head,
            length=length,
            residual_channels=hidden,
            skip_channels=2 * hidden,
            num_layers=layers,
            num_stacks=stacks,
        )
        return model, f"T={length}, {stacks}x{layers} layers, R={hidden}", length, "samples/s"
    if family == "Transformer":
        length, width, layers = (16, 16, 1) if quick else (1024, 128, 4)
        model = par.Transformer(head, max_length=length, d_model=width, num_heads=4, num_layers=layers)
        return model, f"T={length}, d_model {width}, {layers} layers", length, "tokens/s"
    raise ValueError(f"family: expected one of {FAMILIES}, got {family!r}")


def synchronised(device: torch.device) -> Callable[[Callable[[], object]], float]:
    """A timer of one call that waits for the device before and after it."""

    def seconds(fn: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started

    return seconds


@torch.inference_mode()
def run_steps(model: par.AutoregressiveModel, length: int | None, batch: int, steps: int, cache: bool, compiled=None):
    """The first ``steps`` steps of the sampling loop (cached or naive) for a batch of ``batch``."""
    layout = model.layout(length)
    if cache:
        state = model.incremental_state(layout, None, None, batch)
    else:
        state = NaiveState(model, layout, None, None, batch)
    if compiled is not None:
        state.params = compiled(state.params)
    ancestral_sample(state, model.head, steps)


def run_table(device: str, table: str, timeout: int) -> str:
    """Run the property table on ``device``; return pytest's summary line."""
    if table == "none":
        return "skipped (--table none)"
    command = [sys.executable, "-m", "pytest", str(ROOT / "tests/test_properties.py"), "--device", device]
    command += ["-x", "-q", "-p", "no:cacheprovider"] + (["-k", TABLE_SUBSET] if table == "subset" else [])
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=subprocess_env(), cwd=ROOT)
    except subprocess.TimeoutExpired:
        return f"did not finish in {timeout} s"
    lines = [line for line in out.stdout.strip().splitlines() if line.strip()]
    summary = lines[-1] if lines else out.stderr.strip()[-500:]
    if out.returncode not in (0, 5):
        print(out.stdout[-4000:], file=sys.stderr)
    return summary


def check_family(family: str, device: torch.device, args: argparse.Namespace) -> tuple[list[object], list[dict]]:
    """One line of the table and its rows."""
    torch.manual_seed(0)
    model, configuration, length, unit = build(family, args.quick)
    model = model.to(device).eval()
    d = model.condition(length=length)
    num_steps = d.num_steps
    timer = synchronised(device)
    rows: list[dict] = []
    line: list[object] = [family, configuration]
    warm = min(4, num_steps)
    run_steps(model, length, 2, warm, cache=True)  # first-call work (kernels, allocator) outside the timings
    run_steps(model, length, 2, warm, cache=False)
    for batch in (1, args.batch):
        cached = timer(lambda b=batch: d.sample((b,)))
        steps = min(args.naive_steps, num_steps)
        naive = timer(lambda b=batch, s=steps: run_steps(model, length, b, s, cache=False)) * num_steps / steps
        rows.append(sampling_row(family, configuration, batch, cached, naive, steps < num_steps))
        line += [cached, naive / cached]
    batch = args.log_prob_batch
    x = d.sample((batch,))
    per_item = num_steps if unit in ("tokens/s", "samples/s") else 1
    with torch.no_grad():
        for autocast in (False, True):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                d.log_prob(x)  # warm-up
                seconds = statistics.median(timer(lambda: d.log_prob(x)) for _ in range(args.repeats))
            row = log_prob_row(family, configuration, batch, seconds, unit, per_item)
            rows.append({**row, "dtype": "bf16 autocast" if autocast else "float32"})
            line.append(row["per_s"])
    line.append(unit)
    if family in args.compile:
        line += compiled_figures(model, d, x, length, per_item, timer, args)
    elif args.compile:
        line += ["-", "-"]
    return line, rows


def compiled_figures(model, d, x, length, per_item, timer, args) -> list[object]:  # type: ignore[no-untyped-def]
    """``[log_prob per second, cached sample seconds at --batch]`` with torch.compile, or why not."""
    figures: list[object] = []
    try:
        model.forward = torch.compile(model.forward)  # an instance attribute: log_prob's pass calls it
        try:
            with torch.no_grad():
                d.log_prob(x)  # compiles
                seconds = statistics.median(timer(lambda: d.log_prob(x)) for _ in range(args.repeats))
        finally:
            del model.forward
        figures.append(len(x) * per_item / seconds)
    except Exception as error:  # an optional figure: any failure is reported, not raised
        figures.append(f"failed: {type(error).__name__}")
    try:

        def compiled(fn):  # type: ignore[no-untyped-def]
            return torch.compile(fn, dynamic=True)

        run_steps(model, length, args.batch, min(8, d.num_steps), cache=True, compiled=compiled)  # compiles
        figures.append(timer(lambda: run_steps(model, length, args.batch, d.num_steps, cache=True, compiled=compiled)))
    except Exception as error:
        figures.append(f"failed: {type(error).__name__}")
    return figures


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu to check the script")
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--batch", type=int, default=256, help="the large sampling batch")
    parser.add_argument("--log-prob-batch", type=int, default=64)
    parser.add_argument("--naive-steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--table", choices=["subset", "full", "none"], default="subset")
    parser.add_argument("--table-timeout", type=int, default=150, help="seconds for the property table")
    parser.add_argument("--compile", nargs="*", choices=FAMILIES, default=[], help="families to also torch.compile")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            f"gpu_check: CUDA is not available on this machine (torch {torch.__version__}, "
            f"{platform.processor() or platform.machine()}); nothing to check. "
            "Run it on a machine with a GPU, or pass --device cpu to exercise the script."
        )
        return []
    if args.quick:
        args.batch, args.log_prob_batch, args.naive_steps, args.repeats = 4, 4, 2, 1
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    print(f"gpu_check on {device} ({name}), torch {torch.__version__}")
    started = time.perf_counter()
    table = run_table(args.device, args.table, args.table_timeout)
    print(f"property table ({args.table}) on {device}: {table}  [{time.perf_counter() - started:.0f} s]", flush=True)

    lines, rows = [], []
    for family in args.families:
        line, family_rows = check_family(family, device, args)
        lines.append(line)
        rows += family_rows
    header = ["model", "configuration", "cached s b=1", "ratio b=1", f"cached s b={args.batch}"]
    header += [f"ratio b={args.batch}", "log_prob f32", "log_prob bf16", "unit"]
    if args.compile:
        header += ["compiled log_prob", f"compiled cached s b={args.batch}"]
    print_table(
        f"cached vs naive sampling (naive from its first {args.naive_steps} steps, scaled) and log_prob "
        f"(batch {args.log_prob_batch}, no gradient) on {device}; {time.perf_counter() - started:.0f} s in all",
        header,
        lines,
    )
    return rows


if __name__ == "__main__":
    main()
