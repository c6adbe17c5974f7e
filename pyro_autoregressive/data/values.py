"""Integer values for a discrete head: checks, default levels, requantisation, windows of sequences."""

from __future__ import annotations

import numpy as np
import torch

from ..checks import check_int

__all__ = ["cut_windows", "integer_values", "requantise", "resolve_levels"]


def integer_values(array: np.ndarray, where: str) -> torch.Tensor:
    """``array`` as ``torch.long``: integers (or booleans) ``>= 0``, never rounded, clipped or rescaled.

    :param where: names the source in errors, e.g. ``"source '/data/x.npy'"``.
    """
    if array.dtype.kind not in "biu":
        raise ValueError(
            f"{where}: expected integer values, got dtype {array.dtype}; quantise them to integer levels "
            "0..K-1 first (the loader never rounds or rescales)"
        )
    if array.size and array.dtype.kind == "u" and array.dtype.itemsize == 8 and int(array.max()) > 2**63 - 1:
        raise ValueError(f"{where}: expected values below 2**63, got {int(array.max())}")
    values = torch.from_numpy(np.array(array, dtype=np.int64))  # a copy: a memory map is read-only
    if values.numel() and int(values.min()) < 0:
        raise ValueError(f"{where}: expected values >= 0 (levels 0..K-1), got a minimum of {int(values.min())}")
    return values


def resolve_levels(values: torch.Tensor, levels: int | None, where: str) -> int:
    """``levels`` given: every value must lie below it (else ``ValueError``); ``None``: the largest value + 1 (>= 2)."""
    high = int(values.max()) if values.numel() else 0
    if levels is None:
        return max(high + 1, 2)
    levels = check_int("levels", levels, 2)
    if high >= levels:
        raise ValueError(
            f"levels: {where} holds values up to {high}, which levels={levels} cannot model "
            f"(a head over 0..{levels - 1}); give levels >= {high + 1} (nothing is clipped)"
        )
    return levels


def requantise(values: torch.Tensor, source_levels: int, levels: int | None) -> tuple[torch.Tensor, int]:
    """Values of ``source_levels`` levels on ``levels`` levels: ``floor(v * levels / source_levels)``.

    ``None`` keeps them as they are. Each new level covers an equal share of the old ones
    (``levels=2`` of 256: 0..127 -> 0, 128..255 -> 1); ``levels`` must lie in ``2..source_levels``.

    Example::

        >>> requantise(torch.tensor([0, 127, 128, 255]), 256, 2)
        (tensor([0, 0, 1, 1]), 2)
    """
    if levels is None:
        return values, source_levels
    levels = check_int("levels", levels, 2, source_levels)
    return torch.div(values * levels, source_levels, rounding_mode="floor"), levels


def cut_windows(
    sequences: list[torch.Tensor], length: int, labels: list[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """Non-overlapping windows of ``length`` steps of each sequence ``(T,)``; the tail of each is dropped.

    A window never spans two sequences (files): a sequence of ``T`` steps gives ``T // length``
    windows and drops its last ``T % length`` steps.

    :returns: windows ``(M, length)``, their labels ``(M,)`` (that of their sequence) or ``None``,
        and the number of steps dropped.

    Example::

        >>> cut_windows([torch.arange(7)], 3)
        (tensor([[0, 1, 2],
                [3, 4, 5]]), None, 1)
    """
    windows, window_labels, dropped = [], [], 0
    for k, x in enumerate(sequences):
        count = len(x) // length
        windows.append(x[: count * length].reshape(count, length))  # (count, length)
        window_labels += [labels[k]] * count if labels is not None else []
        dropped += len(x) - count * length
    values = torch.cat(windows) if windows else torch.zeros(0, length, dtype=torch.long)
    return values, (torch.tensor(window_labels, dtype=torch.long) if labels is not None else None), dropped
