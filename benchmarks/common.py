"""Timing helpers shared by the benchmarks: medians of repeats, the naive loop cut short, one table format.

Every ``bench_*.py`` prints its tables and its ``main(argv)`` returns the same
figures as a list of rows (dicts) for ``run_all.py --report``, made by the helpers
below. Each row has ``kind``, ``model`` (a class name) and ``configuration`` (what
was built, in words), and by kind:

* ``"sampling"``: ``batch``, ``cached_s``, ``naive_s`` (seconds of one full sample
  of that batch) and ``naive_extrapolated`` (timed on the first steps and scaled);
* ``"log_prob"``: ``batch``, ``seconds``, ``per_s`` (``batch`` times units per
  second) and ``unit`` (``images/s``, ``tokens/s``, ``samples/s``);
* ``"memory"``: ``peak_mib`` (a fresh process's peak RSS) and ``what`` (what it did).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

import pyro_autoregressive as par
from pyro_autoregressive.layout import StepLayout
from pyro_autoregressive.sampling import NaiveState, ancestral_sample

ROOT = Path(__file__).resolve().parents[1]


#: the model families, in the order of the report
FAMILIES = (
    "MADE",
    "PixelCNN",
    "GatedPixelCNN",
    "PixelCNNPlusPlus",
    "RowLSTM",
    "DiagonalBiLSTM",
    "WaveNet",
    "Transformer",
)


def subprocess_env() -> dict[str, str]:
    """The environment of a measuring subprocess: this checkout's package first on its path."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


#: defines ``peak_rss_kib()`` in a measuring subprocess: the process's own peak RSS (KiB). On
#: Linux it is ``VmHWM`` of ``/proc/self/status``, not ``ru_maxrss``: ``ru_maxrss`` survives
#: ``exec``, so a child started by a large parent (``subprocess`` forks it) reports at least
#: the parent's peak
PEAK_RSS_SNIPPET = """
import resource
def peak_rss_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.no_grad()
def naive_steps(model: par.AutoregressiveModel, layout: StepLayout, batch: int, steps: int) -> None:
    """The first ``steps`` steps of ``sample(cache=False)``: the same naive loop, cut short.

    Each naive step reruns the full network on the whole buffer, so its cost does
    not depend on the step; timing a few steps and scaling gives the full sample.
    """
    ancestral_sample(NaiveState(model, layout, None, None, batch), model.head, steps)


def sampling_row(
    model: str, configuration: str, batch: int, cached_s: float, naive_s: float, naive_extrapolated: bool
) -> dict[str, object]:
    """A ``sampling`` row: one full cached sample of ``batch`` sequences against the naive sampler."""
    return {
        "kind": "sampling",
        "model": model,
        "configuration": configuration,
        "batch": batch,
        "cached_s": cached_s,
        "naive_s": naive_s,
        "naive_extrapolated": naive_extrapolated,
    }


def log_prob_row(model: str, configuration: str, batch: int, seconds: float, unit: str, per_item: int = 1):
    """A ``log_prob`` row: ``batch`` values scored in ``seconds``; ``per_item`` units (tokens) per value."""
    return {
        "kind": "log_prob",
        "model": model,
        "configuration": configuration,
        "batch": batch,
        "seconds": seconds,
        "per_s": batch * per_item / seconds,
        "unit": unit,
    }


def memory_row(model: str, configuration: str, peak_mib: float, what: str, **extra: object) -> dict[str, object]:
    """A ``memory`` row: the peak RSS (MiB) of a fresh process that did ``what``."""
    return {
        "kind": "memory",
        "model": model,
        "configuration": configuration,
        "peak_mib": peak_mib,
        "what": what,
        **extra,
    }


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    """A plain fixed-width table."""
    print(f"\n{title}")
    cells = [header] + [[f"{c:.4g}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
