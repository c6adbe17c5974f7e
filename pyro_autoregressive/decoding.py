"""Decoding filters (top-k, top-p, min-p): which levels of one channel's conditional to keep.

A filter maps the logits ``(*N, K)`` of one channel's conditional over its ``K``
levels (log-probabilities up to a constant per row) to the same logits with
``-inf`` at every level it drops; the truncated conditional is the softmax of
the result, renormalised over the levels kept. Filters are small pure functions
of the logits, and :class:`~pyro_autoregressive.heads.Truncated` applies the very
same ones when it draws and when it scores, so a filtered distribution's density
is exact for its samples. Every filter keeps the levels whose logit reaches a
threshold, so ties are kept (never an arbitrary pick), except ``top_k(1)``, which
keeps the first of the most likely levels, as ``argmax`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .checks import check_int, check_probability

__all__ = ["Filter", "MinP", "TopK", "TopP", "filter_log_probs", "filter_logits"]


class Filter:
    """A truncation of one channel's conditional: the levels to keep."""

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits (*N, K)`` with ``-inf`` at the levels this filter drops.

        ``logits`` are log-probabilities up to a constant per row (``-inf`` for
        levels that filters before this one dropped); every filter keeps at least
        the most likely level.
        """
        raise NotImplementedError

    @property
    def degenerate(self) -> bool:
        """Whether the filter always keeps exactly one level (then sampling draws no random numbers)."""
        return False


def _drop_below(logits: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """``logits`` with ``-inf`` wherever they are below ``threshold (*N, 1)``."""
    return logits.masked_fill(logits < threshold, -math.inf)


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

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if self.k >= logits.shape[-1]:
            return logits
        if self.k == 1:
            keep = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, logits.argmax(-1, keepdim=True), True)
            return logits.masked_fill(~keep, -math.inf)
        return _drop_below(logits, torch.topk(logits, self.k, dim=-1).values[..., -1:])  # the k-th largest

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

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if self.p >= 1.0:  # every level, even those whose mass the cumulative sum rounds away
            return logits
        ordered = torch.sort(logits, dim=-1, descending=True).values  # (*N, K)
        mass = torch.softmax(ordered, dim=-1).cumsum_(-1)  # the mass of the n most likely levels, n = 1..K
        # the nucleus holds the n most likely levels for the first n whose mass reaches p (all K if
        # rounding keeps the total below p)
        count = torch.searchsorted(mass, mass.new_full(mass.shape[:-1] + (1,), self.p)).clamp_(max=mass.shape[-1] - 1)
        return _drop_below(logits, ordered.gather(-1, count))  # the least likely logit kept, (*N, 1)


@dataclass(frozen=True)
class MinP(Filter):
    """The levels of probability ``>= p`` times the largest (ties kept); ``p = 1`` keeps the most likely ones."""

    p: float

    def __post_init__(self) -> None:
        check_probability("p", self.p)

    def __str__(self) -> str:
        return f"min_p({self.p!r})"

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return _drop_below(logits, logits.amax(-1, keepdim=True) + math.log(self.p))


def filter_logits(logits: torch.Tensor, filters: tuple[Filter, ...]) -> torch.Tensor:
    r"""Apply ``filters`` in order to ``logits (*N, K)``: ``-inf`` at every level a filter drops.

    Each filter sees the distribution the filters before it left (top-p measures
    the mass of the renormalised survivors). The result is not normalised;
    :func:`filter_log_probs` normalises it.
    """
    for f in filters:
        logits = f.apply(logits)
    return logits


def filter_log_probs(log_probs: torch.Tensor, filters: tuple[Filter, ...]) -> torch.Tensor:
    r"""The truncated and renormalised log-probabilities ``(*N, K)``.

    .. math:: \log q(x) = \log p(x) - \log \sum_{x' \in S} p(x') \quad (x \in S), \qquad -\infty \text{ otherwise}
    """
    return torch.log_softmax(filter_logits(log_probs, filters), dim=-1)
