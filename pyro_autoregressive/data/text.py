"""Text as bytes: one file, or a folder of files (sub-folders as classes), cut into windows of bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checks import check_int
from .dataset import Dataset
from .folders import folder_files
from .values import cut_windows

__all__ = ["DEFAULT_TEXT_LENGTH", "TEXT_LEVELS", "load_text", "load_text_files"]

#: the window length of text when ``length`` is not given
DEFAULT_TEXT_LENGTH = 256
#: the levels of bytes
TEXT_LEVELS = 256


def _bytes(file: Path, budget: int | None, levels: int) -> torch.Tensor:
    """The bytes of ``file`` (its first ``budget``), every one below ``levels``, as ``torch.long`` ``(T,)``."""
    with open(file, "rb") as handle:
        data = np.frombuffer(handle.read(-1 if budget is None else budget), np.uint8)
    if levels < TEXT_LEVELS and data.size and int(data.max()) >= levels:
        offset = int(np.flatnonzero(data >= levels)[0])
        raise ValueError(
            f"levels: '{file}' holds byte {data[offset]} (at offset {offset}), which levels={levels} cannot model; "
            f"give levels >= {int(data.max()) + 1} (256 covers every byte)"
        )
    return torch.from_numpy(data.astype(np.int64))


def load_text_files(
    files: list[Path],
    file_labels: list[int] | None,
    classes: list[str],
    *,
    levels: int | None,
    length: int | None,
    max_bytes: int | None,
    max_items: int | None,
) -> Dataset:
    """The bytes of ``files`` in order, each cut into windows of ``length`` (256) bytes, its tail dropped.

    ``levels`` (256) must exceed every byte (``levels=128`` for ASCII text: a non-ASCII byte is an
    error, never clipped). ``max_bytes`` caps the bytes read, in file order (the last file read is cut).
    """
    levels = TEXT_LEVELS if levels is None else check_int("levels", levels, 2)
    length = DEFAULT_TEXT_LENGTH if length is None else check_int("length", length, 1)
    budget = None if max_bytes is None else check_int("max_bytes", max_bytes, 1)
    sequences, windows = [], 0
    for file in files:
        if budget == 0 or (max_items is not None and windows >= max_items):
            break
        sequences.append(_bytes(file, budget, levels))
        windows += len(sequences[-1]) // length
        budget = None if budget is None else budget - len(sequences[-1])
    labels = file_labels[: len(sequences)] if file_labels is not None else None
    values, context, dropped = cut_windows(sequences, length, labels)
    if len(values) == 0:
        longest = max(len(x) for x in sequences)
        raise ValueError(f"length: every file read is shorter than length={length} (the longest has {longest} bytes)")
    options = {"levels": levels, "length": length, "max_bytes": max_bytes, "labels": labels is not None}
    info = {"files": len(sequences), "bytes": sum(len(x) for x in sequences), "dropped_steps": dropped}
    context = context[:max_items] if context is not None else None
    return Dataset(
        values[:max_items], "text", levels, context, len(classes), description=options, info=info | {"classes": classes}
    )


def load_text(path: Path, *, labels: bool, **options) -> Dataset:
    """One text file, or every file of a folder (sub-folders as classes); ``options`` as for :func:`load_text_files`."""
    files, file_labels, classes = folder_files(path, None) if path.is_dir() else ([path], None, [])
    if not labels:
        file_labels, classes = None, []
    return load_text_files(files, file_labels, classes, **options)
