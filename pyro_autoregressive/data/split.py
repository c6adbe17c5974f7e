"""Train / validation / test splits: index tensors into a data set, seeded and recorded as JSON."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..checks import check_int

__all__ = ["DEFAULT_FRACTIONS", "PARTS", "Split"]

#: the fractions of a random split: train, validation, test
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
#: the names of the three parts, in order
PARTS = ("train", "val", "test")
METHODS = ("random", "fixed")


def check_fractions(fractions: object) -> tuple[float, float, float]:
    expected = "three numbers >= 0 (train, val, test) summing to 1, train > 0"
    if not isinstance(fractions, Sequence) or isinstance(fractions, str):
        raise TypeError(f"fractions: expected {expected}, got {type(fractions).__name__} {fractions!r}")
    if len(fractions) != 3 or not all(isinstance(f, numbers.Real) and not isinstance(f, bool) for f in fractions):
        raise ValueError(f"fractions: expected {expected}, got {tuple(fractions)!r}")
    result = tuple(float(f) for f in fractions)
    if not all(math.isfinite(f) and f >= 0 for f in result) or result[0] == 0 or abs(sum(result) - 1.0) > 1e-9:
        raise ValueError(f"fractions: expected {expected}, got {result!r}")
    return result  # type: ignore[return-value]


def _check_indices(name: str, indices: object, size: int) -> torch.Tensor:
    if not isinstance(indices, torch.Tensor) or indices.dtype != torch.long or indices.dim() != 1:
        received = f"{indices.dtype} {tuple(indices.shape)}" if isinstance(indices, torch.Tensor) else type(indices)
        raise TypeError(f"{name}: expected a 1-D torch.long tensor of indices, got {received}")
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= size):
        raise ValueError(
            f"{name}: expected indices in [0, {size - 1}] (size {size}), "
            f"got [{int(indices.min())}, {int(indices.max())}]"
        )
    return indices


def _encode(indices: torch.Tensor) -> list[int] | dict[str, int]:
    """A contiguous ascending run as ``{"start", "stop"}``, anything else as a list of ints."""
    n = indices.numel()
    if n and torch.equal(indices, torch.arange(int(indices[0]), int(indices[0]) + n)):
        return {"start": int(indices[0]), "stop": int(indices[0]) + n}
    return indices.tolist()


def _decode(name: str, part: object) -> torch.Tensor:
    if isinstance(part, dict):
        if set(part) != {"start", "stop"}:
            raise ValueError(f"{name}: expected a list of indices or {{'start', 'stop'}}, got keys {sorted(part)}")
        start, stop = check_int(f"{name}['start']", part["start"], 0), check_int(f"{name}['stop']", part["stop"], 0)
        return torch.arange(start, stop)
    if not isinstance(part, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in part):
        raise TypeError(f"{name}: expected a list of int indices or {{'start', 'stop'}}, got {type(part).__name__}")
    return torch.tensor(part, dtype=torch.long)


@dataclass(frozen=True, eq=False)
class Split:
    """Which items of a data set train, validate and test: three disjoint index tensors.

    ``method`` is ``"random"`` (a permutation drawn from ``torch.Generator().manual_seed(seed)``,
    cut by ``fractions``) or ``"fixed"`` (indices given by the data set, such as Tomczak's split of
    the digits; ``seed`` is ``None`` because none was used). Each part is sorted, so
    ``values[split.train]`` keeps the data's order.

    :param train: ``(n_train,)`` ``torch.long`` indices; ``val`` and ``test`` likewise.
    :param size: the number of items of the data set the indices point into.

    Example::

        >>> split = Split.random(10, seed=0)
        >>> [len(p) for p in (split.train, split.val, split.test)]
        [8, 1, 1]
        >>> Split.from_dict(split.to_dict()).train.equal(split.train)
        True
    """

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    seed: int | None
    method: str
    size: int
    fractions: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        size = check_int("size", self.size, 1)
        if self.method not in METHODS:
            raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {self.method!r}")
        object.__setattr__(self, "size", size)  # a NumPy int would not be JSON
        if self.seed is not None:
            object.__setattr__(self, "seed", check_int("seed", self.seed))
        if self.method == "random" and self.seed is None:
            raise ValueError("seed: a random split records its seed, got None")
        if self.fractions is not None:
            object.__setattr__(self, "fractions", check_fractions(self.fractions))
        parts = [_check_indices(name, getattr(self, name), size) for name in PARTS]
        if len(parts[0]) == 0:
            raise ValueError("train: expected at least one training item, got none")
        joined = torch.cat(parts)
        if joined.unique().numel() != joined.numel():
            raise ValueError("train, val, test: expected disjoint parts, but an index appears twice")

    def __getitem__(self, part: str) -> torch.Tensor:
        """``split["train"]``: the indices of a part by name."""
        if part not in PARTS:
            raise KeyError(f"part: expected one of {', '.join(PARTS)}, got {part!r}")
        return getattr(self, part)

    @classmethod
    def random(cls, size: int, seed: int = 0, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> Split:
        """A seeded random split of ``size`` items.

        The test and validation parts hold ``floor(f * size + 1/2)`` items each, the training
        part the rest; a part whose fraction is not zero but which would be empty is a ``ValueError``.
        """
        size, seed = check_int("size", size, 1), check_int("seed", seed)
        fractions = check_fractions(fractions)
        n_val, n_test = (math.floor(f * size + 0.5) for f in fractions[1:])
        n_train = size - n_val - n_test
        for name, n, f in zip(PARTS, (n_train, n_val, n_test), fractions, strict=True):
            if f > 0 and n < 1:
                raise ValueError(
                    f"fractions: a {name} fraction of {f} of {size} items leaves the {name} part empty; "
                    "use more items or other fractions"
                )
        order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
        cuts = order.split([n_train, n_val, n_test])
        return cls(*(part.sort().values for part in cuts), seed=seed, method="random", size=size, fractions=fractions)

    def apply(self, items: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"train", "val", "test"}``: the rows of ``items`` (values or context, ``(size, ...)``) of each part."""
        if not isinstance(items, torch.Tensor) or items.dim() == 0 or len(items) != self.size:
            received = tuple(items.shape) if isinstance(items, torch.Tensor) else type(items).__name__
            raise ValueError(f"items: expected a tensor of {self.size} rows (the split's size), got {received}")
        return {name: items[getattr(self, name)] for name in PARTS}

    def to_dict(self) -> dict:
        """JSON-ready: method, seed, size, fractions, and each part as indices (a run as ``{"start", "stop"}``)."""
        fractions = list(self.fractions) if self.fractions is not None else None
        record = {"method": self.method, "seed": self.seed, "size": self.size, "fractions": fractions}
        return record | {name: _encode(getattr(self, name)) for name in PARTS}

    @classmethod
    def from_dict(cls, record: dict) -> Split:
        """The split written by :meth:`to_dict` (checked again: in range, disjoint)."""
        if not isinstance(record, dict):
            raise TypeError(f"record: expected a dict from Split.to_dict, got {type(record).__name__}")
        missing = {"method", "seed", "size", *PARTS} - set(record)
        if missing:
            raise ValueError(f"record: expected the keys of Split.to_dict, missing {sorted(missing)}")
        fractions = record.get("fractions")
        return cls(
            *(_decode(name, record[name]) for name in PARTS),
            seed=record["seed"],
            method=record["method"],
            size=record["size"],
            fractions=tuple(fractions) if fractions is not None else None,
        )
