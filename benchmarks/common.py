"""Timing helpers shared by the benchmarks: medians of repeats, the naive loop cut short, one table format."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

import pyro_autoregressive as par
from pyro_autoregressive.layout import StepLayout
from pyro_autoregressive.sampling import NaiveState, ancestral_sample


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


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    """A plain fixed-width table."""
    print(f"\n{title}")
    cells = [header] + [[f"{c:.4g}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
