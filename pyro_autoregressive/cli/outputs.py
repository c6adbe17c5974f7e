"""What the commands write and print: sample grids, NLL lines."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from ..model import AutoregressiveModel

__all__ = ["as_images", "report", "write_samples"]


def write_samples(model: AutoregressiveModel, path: Path, num: int, temperature: float, cache: bool) -> float:
    """Draw ``num`` samples into a PNG grid at ``path``; the seconds sampling took."""
    from ..plotting import save_image_grid

    started = time.perf_counter()
    samples = model.condition().temper(temperature).sample((num,), cache=cache)
    seconds = time.perf_counter() - started
    levels = model.head.num_classes or 2
    save_image_grid(as_images(samples), path, levels, title=f"{type(model).__name__} samples")
    return seconds


def as_images(samples: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` as they are; ``(N, D)`` with ``D`` a square as ``(N, 1, sqrt D, sqrt D)``."""
    if samples.dim() == 4:
        return samples
    side = math.isqrt(samples.shape[-1])
    if samples.dim() == 2 and side * side == samples.shape[-1]:
        return samples.reshape(len(samples), 1, side, side)
    raise ValueError(
        f"sample: only image events can be drawn as a PNG grid, got event shape {tuple(samples.shape[1:])}"
    )


def report(name: str, nll: float, dims: int) -> str:
    """One aligned line: NLL in nats per example and bits per dimension."""
    return f"{name:<26}{nll:>12.2f} nats/image{nll / (dims * math.log(2.0)):>10.3f} bits/dim"
