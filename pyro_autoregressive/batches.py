"""Data for the trainer: in-memory tensors or any re-iterable of batches, as ``(value, context, local_context)``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

import torch
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler, TensorDataset

__all__ = ["Batch", "as_batches", "set_epoch", "to_device", "unpack"]


class Batch(NamedTuple):
    """One batch: ``value (N, *event_shape)``, ``context (N, context_size)`` or None, ``local_context`` or None."""

    value: torch.Tensor
    context: torch.Tensor | None = None
    local_context: torch.Tensor | None = None


def as_batches(
    name: str,
    data: torch.Tensor | Iterable,
    context: torch.Tensor | None = None,
    local_context: torch.Tensor | None = None,
    *,
    batch_size: int,
    shuffle: bool,
    pin_memory: bool = False,
    seed: int | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> Iterable:
    """A re-iterable of batches of ``data``, whichever form it comes in.

    A tensor ``data (N, *event_shape)`` (with ``context (N, ...)`` and
    ``local_context (N, ...)`` beside it) is served by a ``DataLoader`` over a
    ``TensorDataset`` that indexes whole batches at once; shuffled, it draws the
    same random numbers as ``DataLoader(TensorDataset(...), batch_size, shuffle=True)``
    and yields the same batches, so a user's loader over the same tensors trains
    identically under one seed; in order, it is served as slices and draws none. Anything else must be re-iterable (a
    ``DataLoader``, a list of batches): a one-shot iterator could serve one epoch only.

    With a ``seed`` (or more than one process), shuffled tensors are served by a
    ``DistributedSampler``: the order of epoch ``e`` is ``torch.randperm(N)`` under
    a ``torch.Generator`` seeded with ``seed + e`` (set by :func:`set_epoch`), and
    process ``rank`` of ``world_size`` takes its positions ``rank, rank + world_size, ...``
    (padded by repetition to a multiple of ``world_size``). The order then
    depends on nothing else (not the global generator), so a resumed run sees the
    batches an uninterrupted one would, and the ``world_size`` per-process batches of
    one step hold together the examples of one step of a single process with
    ``world_size`` times the batch size.

    :param name: the argument's name, for errors.
    :param seed: the data order's seed (see above); None: the global generator.
    :param rank: this process's index among ``world_size``; in order, it takes the
        positions ``rank, rank + world_size, ...`` (no padding: each example is served once).
    """
    if isinstance(data, torch.Tensor):
        tensors = [t for t in (data, context, local_context) if t is not None]
        for other, label in ((context, "context"), (local_context, "local_context")):
            if other is not None and (not isinstance(other, torch.Tensor) or len(other) != len(data)):
                got = f"length {len(other)}" if isinstance(other, torch.Tensor) else type(other).__name__
                raise ValueError(f"{name}_{label}: expected a tensor of length {len(data)} (as {name}), got {got}")
        if len(data) == 0:
            raise ValueError(f"{name}: expected at least one example, got an empty tensor of shape {tuple(data.shape)}")
        if not shuffle:  # slices, in order (no loader: it would draw a seed from the global generator)
            return _Slices(
                Batch(*(None if t is None else t[rank::world_size] for t in (data, context, local_context))), batch_size
            )
        dataset = TensorDataset(*tensors)
        if seed is None and world_size == 1:
            sampler = BatchSampler(RandomSampler(dataset), batch_size, drop_last=False)
            loader = DataLoader(dataset, batch_size=None, sampler=sampler, pin_memory=pin_memory)
            return _Unpacked(loader, context is not None, local_context is not None)
        order = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed or 0)
        sampler = BatchSampler(order, batch_size, drop_last=False)
        # the loader's own generator: its per-epoch draw (a base seed for workers) leaves the global one alone
        loader = DataLoader(
            dataset, batch_size=None, sampler=sampler, pin_memory=pin_memory, generator=torch.Generator()
        )
        return _Unpacked(loader, context is not None, local_context is not None, order)
    if context is not None or local_context is not None:
        raise ValueError(
            f"{name}_context: give the contexts inside the batches when {name} is a loader or an iterable, "
            f"as (value, context) or (value, context, local_context)"
        )
    if not isinstance(data, Iterable) or isinstance(data, (str, bytes)):
        raise TypeError(f"{name}: expected a tensor, a DataLoader or an iterable of batches, got {type(data).__name__}")
    if isinstance(data, Iterator):
        raise TypeError(
            f"{name}: expected a re-iterable (a DataLoader, a list of batches), got a one-shot {type(data).__name__}"
        )
    return data


def set_epoch(batches: Iterable, epoch: int) -> None:
    """Tell a seeded order (ours, or a user's ``DataLoader`` over a ``DistributedSampler``) which epoch begins."""
    for holder in (batches, getattr(batches, "sampler", None), getattr(batches, "batch_sampler", None)):
        for candidate in (holder, getattr(holder, "sampler", None)):
            if callable(getattr(candidate, "set_epoch", None)):
                candidate.set_epoch(epoch)
                return


def unpack(name: str, batch: object) -> Batch:
    """A batch from a loader: a tensor, or a tuple/list ``(value, context)`` / ``(value, context, local_context)``."""
    if isinstance(batch, torch.Tensor):
        return Batch(batch)
    if isinstance(batch, (tuple, list)) and 1 <= len(batch) <= 3 and isinstance(batch[0], torch.Tensor):
        if all(part is None or isinstance(part, torch.Tensor) for part in batch[1:]):
            return Batch(*batch)
    kind = (
        f"{type(batch).__name__} of length {len(batch)}" if isinstance(batch, (tuple, list)) else type(batch).__name__
    )
    raise TypeError(
        f"{name}: expected batches as a tensor or (value, context) / (value, context, local_context) "
        f"tuples of tensors (None for a missing context), got a {kind}"
    )


def to_device(batch: Batch, device: torch.device) -> Batch:
    """``batch`` on ``device``; copies to CUDA are ``non_blocking`` (overlapping when the memory is pinned)."""
    non_blocking = device.type == "cuda"
    return Batch(*(None if t is None else t.to(device, non_blocking=non_blocking) for t in batch))


class _Unpacked:
    """The batches of a ``TensorDataset`` loader as :class:`Batch`, with the absent contexts as None."""

    def __init__(
        self, loader: DataLoader, has_context: bool, has_local_context: bool, order: DistributedSampler | None = None
    ) -> None:
        self.loader, self.has_context, self.has_local_context = loader, has_context, has_local_context
        self.order = order

    def set_epoch(self, epoch: int) -> None:
        """The seeded order of epoch ``epoch`` (nothing to do for an order from the global generator)."""
        if self.order is not None:
            self.order.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        for parts in self.loader:
            parts = list(parts)
            value = parts.pop(0)
            context = parts.pop(0) if self.has_context else None
            local_context = parts.pop(0) if self.has_local_context else None
            yield Batch(value, context, local_context)


class _Slices:
    """Consecutive slices of ``batch_size`` examples of a :class:`Batch` of tensors, in order."""

    def __init__(self, whole: Batch, batch_size: int) -> None:
        self.whole, self.batch_size = whole, batch_size

    def __len__(self) -> int:
        return -(-len(self.whole.value) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        for start in range(0, len(self.whole.value), self.batch_size):
            yield Batch(*(None if t is None else t[start : start + self.batch_size] for t in self.whole))
