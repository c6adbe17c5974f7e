"""Decoding filters (top-k, top-p, min-p) as exact truncations of a head's per-channel conditionals.

A filter maps the normalised log-probabilities ``(*N, K)`` of one channel's
conditional over its ``K`` levels to those of the truncated and renormalised
conditional (``-inf`` outside the kept set). Filters are small pure functions
of the log-probabilities, so the sampler and ``log_prob`` apply the very same
truncation and the filtered distribution's density is exact for its samples.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .checks import check_int
from .heads.base import gumbel_argmax

if TYPE_CHECKING:
    from .heads import Head

__all__ = ["Filter", "MinP", "TopK", "TopP", "filter_log_probs", "filtered_log_prob", "filtered_sample_channel"]


class Filter:
    """A truncation of one channel's conditional: which levels to keep."""

    def keep(self, log_probs: torch.Tensor) -> torch.Tensor | None:
        """Boolean mask ``(*N, K)`` of the kept levels of normalised ``log_probs (*N, K)``; None keeps all."""
        raise NotImplementedError

    @property
    def degenerate(self) -> bool:
        """Whether the filter always keeps exactly one level (then sampling draws no random numbers)."""
        return False


def _descending_ranks(log_probs: torch.Tensor) -> torch.Tensor:
    """Indices ``(*N, K)`` of the levels from most to least likely, ties to the lower level (as ``argmax``)."""
    return torch.sort(log_probs, dim=-1, descending=True, stable=True).indices


@dataclass(frozen=True)
class TopK(Filter):
    """The ``k`` most likely levels (ties broken towards the lower level, as ``argmax``); ``k >= K`` keeps all."""

    k: int

    def __post_init__(self) -> None:
        check_int("k", self.k, 1)

    def __str__(self) -> str:
        return f"top_k({self.k!r})"

    def keep(self, log_probs: torch.Tensor) -> torch.Tensor | None:
        if self.k >= log_probs.shape[-1]:
            return None
        if self.k == 1:
            index = log_probs.argmax(-1, keepdim=True)  # (*N, 1): the first of the largest
        else:
            index = _descending_ranks(log_probs)[..., : self.k]  # (*N, k)
        return torch.zeros_like(log_probs, dtype=torch.bool).scatter_(-1, index, True)

    @property
    def degenerate(self) -> bool:
        return self.k == 1


@dataclass(frozen=True)
class TopP(Filter):
    """Nucleus: the most likely levels until their mass reaches ``p`` (the smallest such set); ``p = 1`` keeps all."""

    p: float

    def __post_init__(self) -> None:
        _check_probability("p", self.p)

    def __str__(self) -> str:
        return f"top_p({self.p!r})"

    def keep(self, log_probs: torch.Tensor) -> torch.Tensor | None:
        if self.p >= 1.0:
            return None
        ranks = _descending_ranks(log_probs)  # (*N, K)
        sorted_probs = log_probs.gather(-1, ranks).exp()
        before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the more likely levels
        kept_sorted = before < self.p  # the first level always (before = 0 < p)
        return torch.zeros_like(kept_sorted).scatter_(-1, ranks, kept_sorted)


@dataclass(frozen=True)
class MinP(Filter):
    """The levels of probability ``>= p`` times the largest (ties kept); ``p = 1`` keeps the most likely ones."""

    p: float

    def __post_init__(self) -> None:
        _check_probability("p", self.p)

    def __str__(self) -> str:
        return f"min_p({self.p!r})"

    def keep(self, log_probs: torch.Tensor) -> torch.Tensor | None:
        threshold = log_probs.amax(-1, keepdim=True) + math.log(self.p)  # (*N, 1)
        return log_probs >= threshold


def _check_probability(name: str, value: object) -> float:
    """A float in ``(0, 1]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float in (0, 1], got {type(value).__name__} {value!r}")
    if not 0.0 < float(value) <= 1.0:  # NaN fails too
        raise ValueError(f"{name}: expected a float in (0, 1], got {value!r}")
    return float(value)


def filter_log_probs(log_probs: torch.Tensor, filters: tuple[Filter, ...]) -> torch.Tensor:
    r"""Apply ``filters`` in order to normalised ``log_probs (*N, K)``, renormalising after each.

    .. math:: \log q(x) = \log p(x) - \log \sum_{x' \in S} p(x') \quad (x \in S), \qquad -\infty \text{ otherwise}

    Each filter sees the distribution the filters before it left.
    """
    for f in filters:
        keep = f.keep(log_probs)
        if keep is not None:
            log_probs = torch.log_softmax(log_probs.masked_fill(~keep, -math.inf), dim=-1)
    return log_probs


def filtered_log_prob(
    head: Head, params: torch.Tensor, value: torch.Tensor, temperature: float, filters: tuple[Filter, ...]
) -> torch.Tensor:
    """Log-probability ``(*N,)`` of a step's values ``(*N, C)`` under the tempered, then filtered, conditionals.

    The channels of the step are filtered one by one, each given the step's
    channels before it (as they are drawn); the step's term is the sum.
    """
    channels = value.shape[-1]
    total = None
    for c in range(channels):
        log_probs = filter_log_probs(head.level_log_probs(params, value[..., :c], channels, temperature), filters)
        shape = torch.broadcast_shapes(log_probs.shape[:-1], value.shape[:-1])
        picked = log_probs.expand(shape + log_probs.shape[-1:]).gather(-1, value[..., c].expand(shape).unsqueeze(-1))
        total = picked.squeeze(-1) if total is None else total + picked.squeeze(-1)
    assert total is not None
    return total


def filtered_sample_channel(
    head: Head,
    params: torch.Tensor,
    prefix: torch.Tensor,
    channels: int,
    temperature: float,
    filters: tuple[Filter, ...],
) -> torch.Tensor:
    """Draw channel ``c = prefix.shape[-1]`` from its tempered, then filtered, conditional; ``(*N,)``.

    A degenerate filter (``top_k(1)``, as ``greedy``) takes the argmax and draws no random numbers.
    """
    log_probs = filter_log_probs(head.level_log_probs(params, prefix, channels, temperature), filters)
    if any(f.degenerate for f in filters):
        return log_probs.argmax(-1)
    return gumbel_argmax(log_probs)
