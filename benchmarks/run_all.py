"""Run every benchmark in this folder, one after the other, and optionally write one report.

    python benchmarks/run_all.py                                # all of them, printed
    python benchmarks/run_all.py made                           # those whose file name contains "made"
    python benchmarks/run_all.py --report docs/benchmarks.md    # and one Markdown table of them all
    python benchmarks/run_all.py --quick --report /tmp/b.md     # tiny sizes (seconds to minutes)
    python benchmarks/run_all.py --script-args transformer "--lengths 256 --repeats 1"   # options of one script

Every ``bench_*.py`` prints its own tables and returns its figures as rows (see
``common.py``); the report puts them in one table, a line per model and
configuration: cached against naive sampling at batch 1 and at the largest batch,
``log_prob`` throughput and peak memory, under a description of the machine. Each
script runs with the torch thread count it chooses (``--threads`` in most), and
the count is restored between scripts; the report gives the count per line.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import pathlib
import platform
import shlex
import sys
import time
from types import ModuleType

import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the benchmarks' helpers, also when imported from elsewhere

from common import FAMILIES  # noqa: E402


def load(path: pathlib.Path) -> ModuleType:
    """Import a benchmark script as a module (its folder is on ``sys.path``, as when run directly)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def machine() -> str:
    """CPU model, cores, torch version and default threads, Python, OS, and the GPU if any."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (
        f"CPU {cpu}, {os.cpu_count()} cores ({usable} usable), torch {torch.__version__} "
        f"(default {torch.get_num_threads()} threads), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, GPU: {gpu}"
    )


def _seconds(value: float) -> str:
    return f"{value:.3g} s"


def _sampling_cell(row: dict) -> str:
    star = "*" if row["naive_extrapolated"] else ""
    ratio = row["naive_s"] / row["cached_s"]
    return f"**{ratio:.1f}x** ({_seconds(row['cached_s'])} vs {_seconds(row['naive_s'])}{star})"


def _memory_cell(rows: list[dict]) -> str:
    parts = []
    for row in rows:
        if "N" in row:
            chunk = row["batch_chunk"]
            what = f"N={row['N']}" + (f", batch_chunk={chunk}" if chunk else "")
        else:
            what = row["what"]
        parts.append(f"{what}: {row['peak_mib']:.0f} MiB")
    return "; ".join(parts)


def report_table(rows: list[dict]) -> list[str]:
    """The Markdown lines of the table: one per (model, configuration)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row.get("kind") not in ("sampling", "log_prob", "memory"):
            continue  # e.g. bench_tfp's side-by-side rows, bench_decoding's per-step costs: in their own output
        groups.setdefault((row["model"], row["configuration"]), []).append(row)

    def order(key: tuple[str, str]) -> tuple[int, str]:
        return (FAMILIES.index(key[0]) if key[0] in FAMILIES else len(FAMILIES), key[1])

    lines = [
        "| model | configuration | script | threads | cached vs naive, batch 1 | cached vs naive, large batch "
        "| `log_prob` throughput | peak memory (RSS) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in sorted(groups, key=order):
        group = groups[key]
        sampling = sorted((r for r in group if r["kind"] == "sampling"), key=lambda r: r["batch"])
        small = next((r for r in sampling if r["batch"] == 1), None)
        large = sampling[-1] if sampling and sampling[-1]["batch"] > 1 else None
        log_probs = [r for r in group if r["kind"] == "log_prob"]
        memory = [r for r in group if r["kind"] == "memory"]
        threads = sorted({str(r["threads"]) for r in group})
        cells = [
            key[0],
            key[1],
            ", ".join(f"`{name}`" for name in sorted({r["script"] for r in group})),
            ", ".join(threads),
            _sampling_cell(small) if small else "",
            f"batch {large['batch']}: {_sampling_cell(large)}" if large else "",
            "; ".join(
                f"{r['per_s']:,.0f} {r['unit']} (batch {r['batch']}{', ' + r['dtype'] if 'dtype' in r else ''})"
                for r in log_probs
            ),
            _memory_cell(memory),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_report(path: pathlib.Path, rows: list[dict], command: str, quick: bool, minutes: float) -> None:
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {when}, in {minutes:.1f} minutes"
        + (" (**--quick**: tiny models, not figures to quote)." if quick else "."),
        "",
        f"Machine: {machine()}.",
        "",
        "Ratios are the naive sampler's time (`cache=False`: the whole network on the whole event at "
        "every step) over the cached sampler's (`cache=True`), both for one full sample of the batch, "
        "measured in the same run; a `*` marks a naive time extrapolated from its first steps (every "
        "naive step costs the same). Wall times on a shared machine are upper bounds. Peak memory is "
        "the peak RSS of a fresh process. Each script's own output (and docstring) has the details.",
        "",
        *report_table(rows),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="run only the scripts whose name contains one of these")
    parser.add_argument("--report", type=pathlib.Path, default=None, help="write one Markdown table here")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script (tiny sizes)")
    parser.add_argument(
        "--script-args",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "ARGS"),
        help="options for the scripts whose name contains NAME (one string; repeatable)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    threads = torch.get_num_threads()
    sys.path.insert(0, str(HERE))
    rows: list[dict] = []
    for path in sorted(HERE.glob("bench_*.py")):
        if args.names and not any(name in path.stem for name in args.names):
            continue
        print(f"=== {path.name}", flush=True)
        torch.set_num_threads(threads)  # a script's own --threads does not leak into the next one
        module = load(path)
        script_argv = ["--quick"] if args.quick else []
        for name, options in args.script_args:
            if name in path.stem:
                script_argv += shlex.split(options)
        for row in module.main(script_argv) or []:
            rows.append({**row, "script": path.name, "threads": torch.get_num_threads()})
    torch.set_num_threads(threads)
    if args.report is not None:
        command = shlex.join(["python", "benchmarks/run_all.py", *(argv if argv is not None else sys.argv[1:])])
        write_report(args.report, rows, command, args.quick, (time.perf_counter() - started) / 60)
        print(f"report written to {args.report}")
    return rows


if __name__ == "__main__":
    main()
