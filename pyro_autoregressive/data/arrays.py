"""NumPy ``.npy`` / ``.npz`` files of integer images or sequences (labels from an ``.npz`` key)."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..checks import check_int
from .dataset import Dataset
from .values import cut_windows, integer_values, resolve_levels

__all__ = ["DATA_KEYS", "LABEL_KEYS", "array_dataset", "load_npy", "load_npz"]

#: keys of an ``.npz`` taken as the values when ``key`` is not given (the first present; one array alone is taken too)
DATA_KEYS = ("values", "x", "X", "data", "images", "arr_0")
#: keys of an ``.npz`` taken as class labels when ``label_key`` is not given
LABEL_KEYS = ("labels", "label", "y", "targets")
#: the window length of a 1-D array (one long sequence) when ``length`` is not given
DEFAULT_STREAM_LENGTH = 256


def _open(path: Path, suffix: str, **kwargs):
    try:
        return np.load(path, allow_pickle=False, **kwargs)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"source: '{path}' is not a readable {suffix} file of numbers ({error})") from None


def _stream_length(length: int | None) -> int:
    return DEFAULT_STREAM_LENGTH if length is None else check_int("length", length, 1)


def _values(array: np.ndarray, where: str, length: int | None, max_items: int | None) -> tuple[torch.Tensor, str, int]:
    """``(N, T)`` sequences or ``(N, C, H, W)`` images from an array, the kind, and the steps dropped.

    1-D: one stream cut into windows of ``length``; 2-D: ``(N, T)``; 3-D: ``(N, H, W)`` grey images;
    4-D: ``(N, C, H, W)``.
    """
    if array.ndim == 1:
        length = _stream_length(length)
        window_values = integer_values(array[: None if max_items is None else max_items * length], where)
        values, _, dropped = cut_windows([window_values], length)
        if len(values) == 0:
            raise ValueError(f"length: {where} holds {len(array)} values, fewer than one window of length={length}")
        return values, "sequence", dropped
    if not 2 <= array.ndim <= 4 or 0 in array.shape:
        raise ValueError(
            f"{where}: expected a non-empty array (T,), (N, T), (N, H, W) or (N, C, H, W), got shape {array.shape}"
        )
    if length is not None and (array.ndim != 2 or length != array.shape[1]):
        raise ValueError(
            f"length: {where} holds items of shape {array.shape[1:]}; length applies to 1-D arrays "
            f"(or must equal T of an (N, T) array), got length={length}"
        )
    values = integer_values(array[:max_items], where)
    if array.ndim == 3:
        values = values.unsqueeze(1)  # (N, 1, H, W)
    return values, ("sequence" if array.ndim == 2 else "image"), 0


def _labels(array: np.ndarray, where: str, count: int) -> tuple[torch.Tensor, int]:
    if array.ndim != 1 or len(array) != count:
        raise ValueError(f"{where}: expected one label per item, shape ({count},), got {array.shape}")
    labels = integer_values(array, where)
    return labels, int(labels.max()) + 1


def array_dataset(
    array: np.ndarray,
    label_array: np.ndarray | None,
    *,
    where: str,
    levels: int | None,
    length: int | None,
    max_items: int | None,
) -> Dataset:
    """The :class:`Dataset` of an integer array (and labels): nothing rescaled, ``levels`` checked or found."""
    values, kind, dropped = _values(array, where, length, max_items)
    levels = resolve_levels(values, levels, where)
    context, num_classes = None, 0
    if label_array is not None:
        if array.ndim == 1:
            raise ValueError(
                f"labels: {where} is one 1-D stream cut into windows, which per-item labels cannot follow; "
                "give labels=False or an (N, T) array"
            )
        context, num_classes = _labels(label_array, f"{where} labels", len(array))
        context = context[:max_items]
    options = {"levels": levels} | ({"length": values.shape[1]} if array.ndim == 1 else {})
    info = {"shape": list(array.shape), "dtype": str(array.dtype), "dropped_steps": dropped}
    return Dataset(values, kind, levels, context, num_classes, description=options, info=info)


def load_npy(path: Path, *, levels: int | None, length: int | None, max_items: int | None) -> Dataset:
    """An ``.npy`` array (memory-mapped, so ``max_items`` reads only what it keeps)."""
    array = _open(path, ".npy", mmap_mode="r")
    if not isinstance(array, np.ndarray):
        raise ValueError(f"source: '{path}' is an .npz archive, not an .npy array; rename it to .npz")
    return array_dataset(array, None, where=f"source '{path}'", levels=levels, length=length, max_items=max_items)


def _pick(keys: list[str], candidates: tuple[str, ...], exclude: str | None = None) -> list[str]:
    return [k for k in candidates if k in keys and k != exclude]


def load_npz(
    path: Path,
    *,
    key: str | None,
    label_key: str | None,
    labels: bool,
    levels: int | None,
    length: int | None,
    max_items: int | None,
) -> Dataset:
    """An ``.npz`` archive: the values under ``key`` and, with ``labels``, class labels under ``label_key``."""
    archive = _open(path, ".npz")
    if not hasattr(archive, "files"):  # np.load gave an ndarray, not an NpzFile
        raise ValueError(f"source: '{path}' is an .npy array, not an .npz archive; rename it to .npy")
    with archive:
        keys = list(archive.files)
        if key is None:
            found = keys if len(keys) == 1 else _pick(keys, DATA_KEYS)
            if not found:
                raise ValueError(f"key: '{path}' holds arrays {keys}; give key= to say which holds the values")
            key = found[0]
        elif key not in keys:
            raise ValueError(f"key: '{path}' holds arrays {keys}, not {key!r}")
        if label_key is not None and not labels:
            raise ValueError(f"label_key: given ({label_key!r}) with labels=False; give one or the other")
        if label_key is not None and label_key not in keys:
            raise ValueError(f"label_key: '{path}' holds arrays {keys}, not {label_key!r}")
        if label_key is None and labels:
            found = _pick(keys, LABEL_KEYS, exclude=key)
            if len(found) > 1:
                raise ValueError(f"label_key: '{path}' holds several label arrays {found}; give label_key= to choose")
            label_key = found[0] if found else None
        if label_key == key:
            raise ValueError(f"label_key: expected another array than the values' key {key!r}, got the same")
        array = archive[key]
        label_array = archive[label_key] if label_key is not None else None
    dataset = array_dataset(
        array, label_array, where=f"'{path}' [{key!r}]", levels=levels, length=length, max_items=max_items
    )
    options = {"key": key, "label_key": label_key, "labels": label_key is not None}
    return dataclasses.replace(dataset, description=dataset.description | options)
