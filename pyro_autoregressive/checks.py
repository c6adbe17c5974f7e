"""Argument checks shared by every constructor: a wrong type is a ``TypeError``, a wrong value a ``ValueError``.

Each names the argument, what was expected and what was received. A ``bool`` is
not an int and a float is not an int, even when it is whole; NumPy integers are ints.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch

__all__ = [
    "check_bool",
    "check_fraction",
    "check_image_shape",
    "check_int",
    "check_odd",
    "check_positive",
    "check_probability",
    "check_shape",
]


def _received(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def check_int(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]``."""
    bounds = [f">= {minimum}"] if minimum is not None else []
    bounds += [f"<= {maximum}"] if maximum is not None else []
    expected = " ".join(["an int", *bounds])
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected {expected}, got {_received(value)}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name}: expected {expected}, got {value}")
    return value


def check_odd(name: str, value: object, minimum: int = 1) -> int:
    """An odd int ``>= minimum`` (a kernel size with a centre)."""
    value = check_int(name, value, minimum)
    if value % 2 == 0:
        raise ValueError(f"{name}: expected an odd int >= {minimum}, got {value}")
    return value


def check_fraction(name: str, value: object) -> float:
    """A float in ``[0, 1)`` (a dropout probability)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float in [0, 1), got {_received(value)}")
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: expected a float in [0, 1), got {value!r}")
    return value


def check_positive(name: str, value: object, allow_zero: bool = False, allow_inf: bool = False) -> float:
    """A float ``> 0`` (``>= 0`` with ``allow_zero``), finite unless ``allow_inf``."""
    expected = "a finite float " + (">= 0" if allow_zero else "> 0") if not allow_inf else "a float > 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected {expected}, got {_received(value)}")
    value = float(value)
    finite = math.isfinite(value) or (allow_inf and value == math.inf)
    if not finite or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return value


def check_probability(name: str, value: object) -> float:
    """A float in ``(0, 1]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float in (0, 1], got {_received(value)}")
    if not 0.0 < float(value) <= 1.0:  # NaN fails too
        raise ValueError(f"{name}: expected a float in (0, 1], got {value!r}")
    return float(value)


def check_bool(name: str, value: object) -> bool:
    """A ``bool`` (not 0 / 1, not a string)."""
    if not isinstance(value, bool) and type(value).__name__ != "bool_":  # numpy.bool_
        raise TypeError(f"{name}: expected a bool, got {_received(value)}")
    return bool(value)


def check_image_shape(image_shape: object) -> tuple[int, int, int]:
    """``image_shape`` as a ``(C, H, W)`` tuple of positive ints."""
    if not isinstance(image_shape, Sequence) or isinstance(image_shape, str):
        raise TypeError(f"image_shape: expected a sequence (C, H, W) of positive ints, got {_received(image_shape)}")
    if len(image_shape) != 3:
        raise ValueError(f"image_shape: expected (C, H, W) of positive ints, got {tuple(image_shape)!r}")
    return tuple(check_int(f"image_shape[{k}]", s, 1) for k, s in enumerate(image_shape))  # type: ignore[return-value]


def check_shape(name: str, value: object) -> torch.Size:
    """A shape (``sample_shape``, ``batch_shape``): a sequence of ints >= 0, as a ``torch.Size``.

    ``torch.Size`` itself takes ``True`` for 1 and -1 (which ``expand`` reads as "keep"); a shape
    argument takes neither.
    """
    expected = "a tuple of ints >= 0"
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise TypeError(f"{name}: expected {expected}, got {_received(value)}")
    for size in value:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(f"{name}: expected {expected}, got {tuple(value)!r} (a {type(size).__name__})")
        if size < 0:
            raise ValueError(f"{name}: expected {expected}, got {tuple(value)!r}")
    return torch.Size(int(size) for size in value)
