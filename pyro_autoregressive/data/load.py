"""``load_data``: a built-in data set by name, or the user's files by path, as a checked :class:`Dataset`."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..checks import check_bool, check_int
from .arrays import load_npy, load_npz
from .builtin import BUILTINS
from .dataset import Dataset, fingerprint
from .folders import folder_format
from .idx import is_idx, load_idx
from .images import load_png
from .text import load_text
from .wav import AUDIO_ENCODINGS, load_wav

__all__ = ["FORMATS", "load_data"]

#: file formats, and the options each takes (besides ``levels`` and ``max_items``, which all take)
FORMATS = {
    "npy": ("length",),
    "npz": ("length", "key", "label_key", "labels"),
    "idx": ("length", "labels"),
    "png": ("labels",),
    "wav": ("length", "sample_rate", "audio_encoding", "labels"),
    "text": ("length", "max_bytes", "labels"),
}
#: the options of each built-in data set (besides ``levels`` and ``max_items``)
BUILTIN_OPTIONS = {
    "digits": ("labels",),
    "photos": ("patch_size",),
    "pygame-sounds": ("length", "sample_rate", "audio_encoding"),
    "stdlib-text": ("length", "max_bytes"),
}
FILE_SUFFIXES = {".npy": "npy", ".npz": "npz", ".png": "png", ".wav": "wav", ".txt": "text"}
#: options whose default is ``None``: giving one to a source that does not take it is an error
OPTIONAL = ("length", "sample_rate", "patch_size", "max_bytes", "key", "label_key")


def _file_format(path: Path) -> str:
    if path.suffix.lower() in FILE_SUFFIXES:
        return FILE_SUFFIXES[path.suffix.lower()]
    if is_idx(path):
        return "idx"
    raise ValueError(
        f"source: cannot tell the format of '{path}' from its name; expected .npy, .npz, .png, .wav, .txt or "
        f"an IDX name (*-idx3-ubyte, *.idx), or give format= (one of {', '.join(FORMATS)})"
    )


def _resolve(source: str | os.PathLike, file_format: str | None) -> tuple[str, Path | None, str | None]:
    """``(name, path, format)``: a built-in's name (path ``None``), or a path and its format."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source: expected a built-in name or a path, got {type(source).__name__}")
    if file_format is not None and file_format not in FORMATS:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)} (or None to tell by name), got {file_format!r}")
    if isinstance(source, str) and source in BUILTINS:
        if file_format is not None:
            raise ValueError(f"format: applies to files, not to the built-in data set {source!r}")
        return source, None, None
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"source: no built-in data set or file named '{source}' (built-ins: {', '.join(BUILTINS)})"
        )
    path = path.resolve()
    if path.is_dir():
        if file_format in ("npy", "npz", "idx"):
            raise ValueError(f"format: {file_format!r} is a format of files, but '{path}' is a folder")
        return str(path), path, file_format or folder_format(path)
    return str(path), path, file_format or _file_format(path)


def load_data(
    source: str | os.PathLike,
    *,
    format: str | None = None,
    levels: int | None = None,
    length: int | None = None,
    audio_encoding: str = "mu-law",
    sample_rate: int | None = None,
    patch_size: int | None = None,
    max_items: int | None = None,
    max_bytes: int | None = None,
    key: str | None = None,
    label_key: str | None = None,
    labels: bool = True,
    sha256: str | None = None,
) -> Dataset:
    """Load a built-in data set by name, or the user's data from a path, as a checked :class:`Dataset`.

    Values are never silently clipped, rounded or rescaled: a value a ``Categorical(levels)``
    head cannot model is a ``ValueError``, and 8-bit images are quantised only when
    ``levels`` is given. The full table is in ``docs/data.md``.

    :param source: ``"digits"``, ``"photos"``, ``"pygame-sounds"``, ``"stdlib-text"``, or a path: a
        ``.npy`` / ``.npz`` array, an IDX file, a ``.png`` / ``.wav`` / ``.txt`` file or a folder of them
        (sub-folders as classes). A built-in name wins over a file of that name (write ``./digits``).
    :param format: ``"npy"``, ``"npz"``, ``"idx"``, ``"png"``, ``"wav"`` or ``"text"``, to override the
        format told by the name (``"text"`` reads any file or folder as bytes).
    :param levels: images and digits: quantise to this many levels (``floor(v * levels / L)`` of the
        source's ``L``); arrays and text: the number of levels the values must lie below
        (default: the largest value + 1, at least 2; text: 256); audio: the levels of the
        mu-law or linear quantisation (256).
    :param length: window length of audio (1024), text (256) and 1-D arrays (256); each file is
        cut into non-overlapping windows and its last ``T % length`` steps are dropped.
    :param audio_encoding: ``"mu-law"`` or ``"linear"`` (audio only; ignored otherwise).
    :param sample_rate: resample audio to this rate (polyphase, anti-aliased); by default every
        file must have the same rate and none is resampled.
    :param patch_size: the patch side of ``photos`` (8).
    :param max_items: keep only the first items (in file order), for quick runs.
    :param max_bytes: cap the bytes of text read (``stdlib-text``: 2,000,000).
    :param key: the ``.npz`` array of values (default: the only array, or the first of ``values``,
        ``x``, ``X``, ``data``, ``images``, ``arr_0``).
    :param label_key: the ``.npz`` array of class labels (default: the one of ``labels``, ``label``,
        ``y``, ``targets`` present).
    :param labels: use the class labels the source carries (npz key, IDX labels file, class sub-folders, digits).
    :param sha256: the data's recorded fingerprint: a ``ValueError`` if what loads differs.
    :returns: the :class:`Dataset`; its ``description`` reloads it with ``load_data(**description)``.

    Example::

        >>> data = load_data("digits")
        >>> data.values.shape, data.levels, data.num_classes, data.split().method
        (torch.Size([1797, 1, 8, 8]), 17, 10, 'fixed')
    """
    name, path, file_format = _resolve(source, format)
    if audio_encoding not in AUDIO_ENCODINGS:
        raise ValueError(f"audio_encoding: expected one of {', '.join(AUDIO_ENCODINGS)}, got {audio_encoding!r}")
    labels = check_bool("labels", labels)
    max_items = None if max_items is None else check_int("max_items", max_items, 1)
    given = {
        "length": length,
        "sample_rate": sample_rate,
        "patch_size": patch_size,
        "max_bytes": max_bytes,
        "key": key,
        "label_key": label_key,
        "audio_encoding": audio_encoding,
        "labels": labels,
    }
    takes = BUILTIN_OPTIONS[name] if path is None else FORMATS[file_format]
    for option in OPTIONAL:
        if given[option] is not None and option not in takes:
            where = f"the built-in data set {name!r}" if path is None else f"{file_format} data"
            raise ValueError(f"{option}: does not apply to {where}; it takes {', '.join(takes)}")
    options = {option: given[option] for option in takes} | {"levels": levels, "max_items": max_items}
    loader = BUILTINS[name] if path is None else LOADERS[file_format]
    dataset = loader(path, **options) if path is not None else loader(**options)
    digest = fingerprint(dataset.values, dataset.context)
    if sha256 is not None and sha256 != digest:
        raise ValueError(
            f"sha256: the data loaded from {name!r} differs from the recorded data (sha256 {digest[:12]}... "
            f"where {sha256[:12]}... was recorded); it changed since it was recorded"
        )
    head = {"source": name} | ({"format": file_format} if path is not None else {})
    tail = ({"max_items": max_items} if max_items is not None else {}) | {"sha256": digest}
    return dataclasses.replace(dataset, description=head | dataset.description | tail)


#: format -> loader of a path
LOADERS = {"npy": load_npy, "npz": load_npz, "idx": load_idx, "png": load_png, "wav": load_wav, "text": load_text}
