"""Decoding filters (top-k, top-p, min-p) as exact truncations of a head's per-channel conditionals.

A filter maps the log-probabilities ``(*N, K)`` of one channel's conditional
over its ``K`` levels to the set of levels it keeps; the truncated conditional
is renormalised over that set. Filters are small pure functions of the
log-probabilities, so the sampler and ``log_prob`` apply the very same
truncation and the filtered distribution's density is exact for its samples.
Ties are kept (a threshold, never an arbitrary pick), except by ``top_k(1)``,
which keeps the first of the most likely levels, as ``argmax`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .checks import check_int, check_probability
from .heads.base import gumbel_argmax

if TYPE_CHECKING:
    from .heads import Head

__all__ = [
    "Filter",
    "MinP",
    "TopK",
    "TopP",
    "filter_log_probs",
    "filter_logits",
    "filtered_log_prob",
    "filtered_sample_channel",
]


class Filter:
    """A truncation of one channel's conditional: which levels to keep."""

    def keep(self, logits: torch.Tensor) -> torch.Tensor:
        """Boolean mask ``(*N, K)`` of the levels kept from ``logits (*N, K)``.

        ``logits`` are log-probabilities up to a constant per row (``-inf`` for
        levels that filters before this one dropped); every filter keeps at least
        the most likely level.
        """
        raise NotImplementedError

    @property
    def degenerate(self) -> bool:
        """Whether the filter always keeps exactly one level (then sampling draws no random numbers)."""
        return False


@dataclass(frozen=True)
class TopK(Filter):
    """The ``k`` most likely levels; ties at the ``k``-th probability are all kept.

    ``k = 1`` is greedy decoding: the first of the most likely levels (as
    ``argmax``), ties included, so the filtered conditional is degenerate.
    """

    k: int

    def __post_init__(self) -> None:
        check_int("k", self.k, 1)

    def __str__(self) -> str:
        return f"top_k({self.k!r})"

    def keep(self, logits: torch.Tensor) -> torch.Tensor:
        if self.k == 1:
            index = logits.argmax(-1, keepdim=True)  # (*N, 1): the first of the largest
            return torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, index, True)
        k = min(self.k, logits.shape[-1])
        threshold = torch.topk(logits, k, dim=-1, sorted=False).values.amin(-1, keepdim=True)  # (*N, 1)
        return logits >= threshold

    @property
    def degenerate(self) -> bool:
        return self.k == 1


@dataclass(frozen=True)
class TopP(Filter):
    """Nucleus: the most likely levels until their mass reaches ``p``; ties at the last one are all kept.

    The smallest set of most likely levels of mass ``>= p`` (when no two
    probabilities tie at its edge); ``p = 1`` keeps every level.
    """

    p: float

    def __post_init__(self) -> None:
        check_probability("p", self.p)

    def __str__(self) -> str:
        return f"top_p({self.p!r})"

    def keep(self, logits: torch.Tensor) -> torch.Tensor:
        if self.p >= 1.0:  # every level, even those whose mass the cumulative sum rounds away
            return torch.ones_like(logits, dtype=torch.bool)
        probs = torch.softmax(logits, dim=-1)
        ordered = torch.sort(probs, dim=-1, descending=True).values  # (*N, K)
        before = ordered.cumsum(-1) - ordered  # mass of the more likely levels
        count = (before < self.p).sum(-1, keepdim=True)  # >= 1: before = 0 < p for the first level
        threshold = ordered.gather(-1, count - 1)  # (*N, 1): the least likely kept probability
        return probs >= threshold


@dataclass(frozen=True)
class MinP(Filter):
    """The levels of probability ``>= p`` times the largest (ties kept); ``p = 1`` keeps the most likely ones."""

    p: float

    def __post_init__(self) -> None:
        check_probability("p", self.p)

    def __str__(self) -> str:
        return f"min_p({self.p!r})"

    def keep(self, logits: torch.Tensor) -> torch.Tensor:
        threshold = logits.amax(-1, keepdim=True) + math.log(self.p)  # (*N, 1)
        return logits >= threshold


def filter_logits(logits: torch.Tensor, filters: tuple[Filter, ...]) -> torch.Tensor:
    r"""Apply ``filters`` in order to ``logits (*N, K)``: ``-inf`` at every level a filter drops.

    Each filter sees the distribution the filters before it left (top-p measures
    the mass of the renormalised survivors). The result is not normalised;
    :func:`filter_log_probs` normalises it.
    """
    for f in filters:
        logits = logits.masked_fill(~f.keep(logits), -math.inf)
    return logits


def filter_log_probs(log_probs: torch.Tensor, filters: tuple[Filter, ...]) -> torch.Tensor:
    r"""The truncated and renormalised log-probabilities ``(*N, K)``.

    .. math:: \log q(x) = \log p(x) - \log \sum_{x' \in S} p(x') \quad (x \in S), \qquad -\infty \text{ otherwise}
    """
    return torch.log_softmax(filter_logits(log_probs, filters), dim=-1)


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
    logits = filter_logits(head.level_log_probs(params, prefix, channels, temperature), filters)
    if any(f.degenerate for f in filters):
        return logits.argmax(-1)
    return gumbel_argmax(logits)  # the Gumbel-max trick needs no normalisation
