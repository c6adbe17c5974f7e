"""The user's data and built-in data sets as integer tensors for discrete heads, with recorded splits.

``load_data(source, ...)`` reads a built-in data set (``digits``, ``photos``, ``pygame-sounds``,
``stdlib-text``) or a path (``.npy``, ``.npz``, IDX, PNG, WAV, text) into a :class:`Dataset`;
``Dataset.split(seed)`` gives a :class:`Split` that ``to_dict`` records and ``from_dict`` restores.
See ``docs/data.md``.
"""

from .builtin import BUILTINS, DIGITS_LEVELS, DIGITS_SPLIT
from .dataset import KINDS, Dataset, fingerprint
from .load import FORMATS, load_data
from .split import DEFAULT_FRACTIONS, PARTS, Split

__all__ = [
    "BUILTINS",
    "DEFAULT_FRACTIONS",
    "DIGITS_LEVELS",
    "DIGITS_SPLIT",
    "FORMATS",
    "KINDS",
    "PARTS",
    "Dataset",
    "Split",
    "fingerprint",
    "load_data",
]
