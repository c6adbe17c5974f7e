"""A Bernoulli per channel of a step, for binary data."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..checks import check_int
from .base import DiscreteHead, check_no_spread, full_precision

__all__ = ["Bernoulli"]


class Bernoulli(DiscreteHead):
    r"""Bernoulli distribution over ``{0, 1}`` per channel (binarised images).

    .. math::
        \log p(x \mid \ell) = x\,\ell - \operatorname{softplus}(\ell)

    Parameters per step: ``C`` logits; tempering by ``T`` divides them by ``T``.
    Written with ``softplus`` so that it is finite for every logit in float32.

    Example::

        >>> import pyro_autoregressive as par
        >>> made = par.MADE(4, par.heads.Bernoulli(), hidden_sizes=(8,))
        >>> made.condition().sample().dtype
        torch.int64
    """

    per_channel_params = True
    num_classes = 2

    def num_params(self, channels: int) -> int:
        return channels

    def neutral_params(self, channels: int, spread: float = 0.0) -> torch.Tensor:
        """Zero logits: every channel 0 or 1 with probability 1/2 (``spread`` must be 0: no components)."""
        check_no_spread(self, spread)
        return torch.zeros(self.num_params(check_int("channels", channels, 1)), dtype=torch.float64)

    def _tempered_logits(self, params: torch.Tensor) -> torch.Tensor:
        return params if self.temperature == 1.0 else params / self.temperature

    @full_precision
    def log_prob(self, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        logits = self._tempered_logits(params)
        return (value.to(params.dtype) * logits - F.softplus(logits)).sum(-1)

    @full_precision
    def sample_channel(self, params: torch.Tensor, prefix: torch.Tensor, channels: int) -> torch.Tensor:
        logits = self._tempered_logits(params[..., prefix.shape[-1]])
        uniform = torch.rand(logits.shape, dtype=logits.dtype, device=logits.device)
        # u < sigmoid(l)  <=>  log(u) < logsigmoid(l): no overflow for any logit
        return (torch.log(uniform) < F.logsigmoid(logits)).long()

    @full_precision
    def level_logits(self, params: torch.Tensor, prefix: torch.Tensor, channels: int) -> torch.Tensor:
        logits = self._tempered_logits(params[..., prefix.shape[-1]])
        # levels 0 and 1: log p = -softplus(l) and l - softplus(l), up to the constant softplus(l)
        return torch.stack([torch.zeros_like(logits), logits], dim=-1)  # (*N, 2)
