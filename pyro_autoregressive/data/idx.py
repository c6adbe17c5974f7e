"""MNIST-style IDX files (``train-images-idx3-ubyte``, optionally gzipped), with their labels file."""

from __future__ import annotations

import gzip
import math
import re
import struct
from pathlib import Path

import numpy as np

from .arrays import array_dataset
from .dataset import Dataset

__all__ = ["is_idx", "labels_file", "load_idx", "read_idx"]

#: the IDX type byte -> big-endian NumPy dtype
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def is_idx(path: Path) -> bool:
    """An IDX file by name: ``*.idx``, or ``*-idxN-ubyte`` / ``*.idxN-ubyte`` as MNIST's, each optionally ``.gz``."""
    name = path.name.lower().removesuffix(".gz")
    return name.endswith(".idx") or re.search(r"[-.]idx\d+-ubyte$", name) is not None


def read_idx(path: Path) -> np.ndarray:
    """The array of an IDX file: 2 zero bytes, a type byte, the number of dimensions, the sizes, the values.

    The values are big-endian; the file must hold exactly as many bytes as the sizes say.
    """
    try:
        with (gzip.open if path.suffix.lower() == ".gz" else open)(path, "rb") as file:
            data = file.read()
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"source: cannot read IDX file '{path}' ({error})") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in IDX_TYPES or data[3] == 0:
        raise ValueError(
            f"source: '{path}' is not an IDX file (expected magic bytes 00 00 <type> <dims>, got {data[:4].hex(' ')})"
        )
    ndim, offset = data[3], 4 + 4 * data[3]
    if len(data) < offset:
        raise ValueError(f"source: IDX file '{path}' ends inside its header ({len(data)} bytes for {ndim} sizes)")
    shape = struct.unpack(f">{ndim}I", data[4:offset])
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = math.prod(shape) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(
            f"source: IDX file '{path}' has shape {shape} of {dtype.name} ({expected} bytes of values) "
            f"but holds {len(data) - offset} bytes after its header"
        )
    return np.frombuffer(data, dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def labels_file(path: Path) -> Path | None:
    """The labels file beside an images file (``...-images-idx3-ubyte`` -> ``...-labels-idx1-ubyte``), if present."""
    name = re.sub(r"idx\d+", "idx1", path.name.replace("images", "labels"))
    candidate = path.with_name(name)
    return candidate if candidate != path and candidate.is_file() else None


def load_idx(path: Path, *, labels: bool, levels: int | None, length: int | None, max_items: int | None) -> Dataset:
    """An IDX array of integers, with the labels file beside it as context when ``labels`` and it exists."""
    label_path = labels_file(path) if labels else None
    label_array = read_idx(label_path) if label_path is not None else None
    dataset = array_dataset(
        read_idx(path), label_array, where=f"source '{path}'", levels=levels, length=length, max_items=max_items
    )
    if label_path is not None:
        dataset.info["labels_file"] = str(label_path)
    dataset.description["labels"] = label_path is not None
    return dataset
