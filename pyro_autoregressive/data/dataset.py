"""A loaded data set: integer values in ``0..levels-1``, optional class labels, and how it was loaded."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..checks import check_int
from .split import DEFAULT_FRACTIONS, Split, check_fractions

__all__ = ["KINDS", "Dataset", "fingerprint"]

#: what the values are: ``(N, C, H, W)`` images, or ``(N, T)`` audio, text bytes or other sequences
KINDS = ("image", "audio", "text", "sequence")


def fingerprint(values: torch.Tensor, context: torch.Tensor | None) -> str:
    """SHA-256 of the values (and labels) as little-endian int64 with their shapes: the same data, the same hash."""
    digest = hashlib.sha256()
    for tensor in (values, context):
        if tensor is not None:
            digest.update(repr(tuple(tensor.shape)).encode())
            digest.update(tensor.detach().cpu().contiguous().to(torch.int64).numpy().astype("<i8").tobytes())
    return digest.hexdigest()


def _check_json(name: str, value: object) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name}: expected a JSON-serialisable dict, got one that json.dumps refuses ({error})"
        ) from None


@dataclass(frozen=True, eq=False)
class Dataset:
    """Integer data ready for a discrete head: ``values`` in ``0..levels-1``, checked on construction.

    :param values: ``torch.long``, ``(N, C, H, W)`` for images, ``(N, T)`` for audio, text and sequences.
    :param kind: one of :data:`KINDS`.
    :param levels: the number of values a head must model (``Categorical(levels)``); every value is below it.
    :param context: ``(N,)`` ``torch.long`` class labels in ``0..num_classes-1``, or ``None``.
    :param num_classes: the number of label classes (``0`` without labels).
    :param sample_rate: samples per second of audio (``None`` for other kinds).
    :param description: the keyword arguments of :func:`~pyro_autoregressive.data.load_data` that load
        the same data again (``load_data(**description)``); its ``sha256`` makes a reload check that
        the data did not change.
    :param info: what loading found, for the record (files read, items dropped, class names).
    :param fixed_split: the split the data set comes with (Tomczak's for the digits), or ``None``.

    Example::

        >>> d = Dataset(torch.tensor([[0, 1, 2], [2, 1, 0]]), kind="sequence", levels=3)
        >>> d.event_shape, len(d)
        ((3,), 2)
    """

    values: torch.Tensor
    kind: str
    levels: int
    context: torch.Tensor | None = None
    num_classes: int = 0
    sample_rate: int | None = None
    description: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    fixed_split: Split | None = None

    def __post_init__(self) -> None:
        values, levels = self.values, check_int("levels", self.levels, 2)
        if not isinstance(values, torch.Tensor) or values.dtype != torch.long:
            received = values.dtype if isinstance(values, torch.Tensor) else type(values).__name__
            raise TypeError(f"values: expected a torch.long tensor, got {received}")
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        dims = 4 if self.kind == "image" else 2
        if values.dim() != dims or len(values) == 0 or values[0].numel() == 0:
            layout = "(N, C, H, W)" if dims == 4 else "(N, T)"
            raise ValueError(f"values: expected a non-empty {layout} tensor for kind {self.kind!r}, got {values.shape}")
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= levels:
            raise ValueError(f"values: expected integers in [0, {levels - 1}] (levels={levels}), got [{low}, {high}]")
        self._check_context()
        if (self.sample_rate is None) != (self.kind != "audio"):
            raise ValueError(f"sample_rate: expected an int for audio and None otherwise, got {self.sample_rate!r}")
        if self.sample_rate is not None:
            check_int("sample_rate", self.sample_rate, 1)
        _check_json("description", self.description)
        _check_json("info", self.info)
        if self.fixed_split is not None and (
            not isinstance(self.fixed_split, Split) or self.fixed_split.size != len(values)
        ):
            fixed = self.fixed_split
            received = f"size {fixed.size}" if isinstance(fixed, Split) else type(fixed).__name__
            raise ValueError(f"fixed_split: expected a Split of size {len(values)}, got {received}")

    def _check_context(self) -> None:
        context, num_classes = self.context, check_int("num_classes", self.num_classes, 0)
        if context is None:
            if num_classes:
                raise ValueError(f"num_classes: expected 0 without context, got {num_classes}")
            return
        if not isinstance(context, torch.Tensor) or context.dtype != torch.long or context.shape != (len(self),):
            received = f"{context.dtype} {tuple(context.shape)}" if isinstance(context, torch.Tensor) else context
            raise ValueError(f"context: expected a torch.long tensor of shape ({len(self)},), got {received}")
        if num_classes < 1 or int(context.min()) < 0 or int(context.max()) >= num_classes:
            raise ValueError(
                f"context: expected labels in [0, {num_classes - 1}] (num_classes={num_classes}), "
                f"got [{int(context.min())}, {int(context.max())}]"
            )

    def __len__(self) -> int:
        return len(self.values)

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The shape of one item: ``(C, H, W)`` or ``(T,)``."""
        return tuple(self.values.shape[1:])

    def split(self, seed: int = 0, fractions: Sequence[float] = DEFAULT_FRACTIONS, method: str | None = None) -> Split:
        """The train / validation / test split.

        ``method=None`` takes the data set's own split where it has one (``"fixed"``: Tomczak's
        for the digits; the seed plays no part) and a random one otherwise; ``"random"`` always
        draws one (:meth:`Split.random`, seeded by ``seed``, cut by ``fractions``). Fractions
        other than the default with a fixed split are a ``ValueError``, never ignored.
        """
        if method not in (None, "fixed", "random"):
            raise ValueError(f"method: expected None, 'fixed' or 'random', got {method!r}")
        if method is None:
            method = "random" if self.fixed_split is None else "fixed"
        if method == "random":
            return Split.random(len(self), seed, fractions)
        if self.fixed_split is None:
            raise ValueError("method: this data set has no fixed split; use method='random' (or None)")
        check_int("seed", seed)
        if check_fractions(fractions) != DEFAULT_FRACTIONS:
            raise ValueError(
                f"fractions: the data set's fixed split has its own parts, not {tuple(fractions)!r}; "
                "give method='random' to draw a split with these fractions"
            )
        return self.fixed_split
