"""Drawing from a distribution with a progress bar over the generation steps (tqdm)."""

from __future__ import annotations

import math
import time

import torch
from tqdm.auto import tqdm

from ..distribution import AutoregressiveDistribution
from ..sampling import sampling_progress

__all__ = ["draw"]


def draw(
    d: AutoregressiveDistribution,
    sample_shape: tuple[int, ...] = (),
    *,
    cache: bool = True,
    batch_chunk: int | None = None,
    progress: bool = True,
    desc: str = "sampling",
) -> tuple[torch.Tensor, float]:
    """``d.sample(sample_shape)`` and the seconds it took.

    The bar counts every step of every chunk of ``batch_chunk`` sequences.
    """
    rows = math.prod(sample_shape) * math.prod(d.batch_shape)
    chunks = 1 if batch_chunk is None else math.ceil(rows / batch_chunk)
    started = time.perf_counter()
    with tqdm(total=d.num_steps * chunks, desc=desc, unit="step", disable=not progress, leave=False) as bar:
        with sampling_progress(bar.update):
            samples = d.sample(sample_shape, cache=cache, batch_chunk=batch_chunk)
    return samples, time.perf_counter() - started
