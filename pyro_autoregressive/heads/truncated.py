"""A discrete head whose every channel's conditional is truncated by decoding filters."""

from __future__ import annotations

from typing import Any

import torch

from ..decoding import Filter, filter_logits
from .base import DiscreteHead, gumbel_argmax

__all__ = ["Truncated"]


class Truncated(DiscreteHead, abstract=True):
    r"""The conditionals of ``base``, each channel's truncated by ``filters`` in order and renormalised.

    .. math:: q(x_c \mid x_{<c}) = \frac{p(x_c \mid x_{<c})\, [x_c \in S_c]}{\sum_{k \in S_c} p(k \mid x_{<c})}

    where :math:`S_c` is the set of levels the filters keep from channel ``c``'s
    conditional (given the channels drawn before it): what
    :meth:`~pyro_autoregressive.AutoregressiveDistribution.top_k`, ``top_p`` and
    ``min_p`` build. Scoring (:meth:`DiscreteHead.log_prob
    <pyro_autoregressive.heads.DiscreteHead.log_prob>`, the chain rule over the
    channels' truncated conditionals) and drawing apply the very same filters to
    the very same logits, so the density is exact for the draws (``-inf`` outside
    the truncated support). A degenerate filter (``top_k(1)``)
    makes every conditional a point mass: the draw is the argmax and no random
    numbers are drawn.

    Tempering applies before the filters, whatever the order of the calls:
    :meth:`tempered` tempers ``base``. A decoding transform, never a model's
    head: it is not registered and cannot be saved.

    :param base: the discrete head whose conditionals are truncated (itself
        possibly tempered).
    :param filters: the filters, applied in order (an empty tuple keeps ``base``'s conditionals).

    Example::

        >>> import torch
        >>> from pyro_autoregressive.decoding import TopK
        >>> from pyro_autoregressive.heads import Categorical, Truncated
        >>> head = Truncated(Categorical(4), (TopK(2),))
        >>> head.log_prob(torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]])), torch.tensor([[3]])).exp()
        tensor([0.5714])
    """

    def __init__(self, base: DiscreteHead, filters: tuple[Filter, ...]) -> None:
        if not isinstance(base, DiscreteHead):
            raise ValueError(
                "head: decoding filters and greedy decoding need a head over enumerable levels (Categorical, "
                f"Bernoulli, DiscretizedLogisticMixture), got the continuous head {base!r}"
            )
        if isinstance(base, Truncated):
            base, filters = base.base, base.filters + tuple(filters)
        self.base = base
        self.filters = tuple(filters)
        self.num_classes = base.num_classes
        self.per_channel_params = base.per_channel_params  # type: ignore[misc]
        self._degenerate = any(f.degenerate for f in self.filters)

    @property  # type: ignore[override]
    def temperature(self) -> float:
        """The temperature of ``base`` (applied before the filters)."""
        return self.base.temperature

    def tempered(self, temperature: float) -> Truncated:
        """The same filters over ``base`` tempered by ``temperature``: the temperature applies first."""
        return Truncated(self.base.tempered(temperature), self.filters)

    def num_params(self, channels: int) -> int:
        return self.base.num_params(channels)

    def level_logits(self, params: torch.Tensor, prefix: torch.Tensor, channels: int) -> torch.Tensor:
        return filter_logits(self.base.level_logits(params, prefix, channels), self.filters)

    def sample_channel(self, params: torch.Tensor, prefix: torch.Tensor, channels: int) -> torch.Tensor:
        # base.level_logits upcasts (full_precision); the filters and the draw run on its float32 result
        if self._degenerate:  # one level kept, the first most likely (whatever the other filters): no random numbers
            return self.base.level_logits(params, prefix, channels).argmax(-1)
        return gumbel_argmax(self.level_logits(params, prefix, channels))  # the Gumbel-max trick needs no normalising

    def config(self) -> dict[str, Any]:
        """Refused: a truncated head is a decoding transform, not a model's head."""
        raise ValueError(
            f"head: a truncated head ({self!r}) is a decoding transform and cannot be saved; save the model's own "
            "head and filter its distribution"
        )

    def __repr__(self) -> str:
        return f"Truncated({self.base!r}, [{', '.join(map(str, self.filters))}])"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Truncated) and self.base == other.base and self.filters == other.filters

    def __hash__(self) -> int:
        return hash((self.base, self.filters))
