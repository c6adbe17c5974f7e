"""A histogram over ``K`` levels for each channel of a step."""

from __future__ import annotations

import torch

from ..checks import check_int
from .base import DiscreteHead, check_no_spread, full_precision, gumbel_argmax

__all__ = ["Categorical"]


class Categorical(DiscreteHead):
    r"""Categorical distribution over ``0..K-1`` per channel: a histogram over levels.

    .. math::
        p(x_{i} \mid x_{<i}) = \prod_{c} \mathrm{softmax}(\ell_{i,c})[x_{i,c}]

    Parameters per step: ``C * K`` logits, one block of ``K`` per channel; tempering
    by ``T`` divides them by ``T``. Channels
    of a step are made dependent by the network (block ``c`` may depend on the
    channels ``< c`` of the same step, as PixelCNN's channel masks do).

    :param num_classes: the number of levels ``K`` (256 for 8-bit pixels, 17 for
        scikit-learn's digits, the vocabulary size for tokens).

    Example::

        >>> import pyro_autoregressive as par
        >>> made = par.MADE(4, par.heads.Categorical(3), hidden_sizes=(8,))
        >>> made.condition().sample((2,)).shape
        torch.Size([2, 4])
    """

    per_channel_params = True

    def __init__(self, num_classes: int) -> None:
        self.num_classes = check_int("num_classes", num_classes, 2)

    def num_params(self, channels: int) -> int:
        return channels * self.num_classes

    def neutral_params(self, channels: int, spread: float = 0.0) -> torch.Tensor:
        """Zero logits: every channel uniform over the ``K`` levels (``spread`` must be 0: no components)."""
        check_no_spread(self, spread)
        return torch.zeros(self.num_params(check_int("channels", channels, 1)), dtype=torch.float64)

    def _logits(self, params: torch.Tensor) -> torch.Tensor:
        return params.unflatten(-1, (-1, self.num_classes))  # (*N, C*K) -> (*N, C, K)

    @full_precision
    def log_prob(self, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        logits = self._logits(params)  # (*N, C, K)
        if self.temperature != 1.0:
            logits = logits / self.temperature
        # log softmax at the value only: the picked logit minus the log-normaliser (no (*N, C, K) output)
        shape = torch.broadcast_shapes(logits.shape[:-1], value.shape)
        index = value.expand(shape).unsqueeze(-1)  # (*N, C, 1)
        picked = logits.expand(shape + logits.shape[-1:]).gather(-1, index).squeeze(-1)  # (*N, C)
        return (picked - torch.logsumexp(logits, dim=-1)).sum(-1)

    def _channel_logits(self, params: torch.Tensor, prefix: torch.Tensor, channels: int) -> torch.Tensor:
        """Channel ``c = prefix.shape[-1]``'s own block of logits, tempered; ``params`` already upcast.

        The network, not the head, couples the channels. One channel: the
        parameters themselves, without a reshape (the per-step fast path).
        """
        logits = params if channels == 1 else self._logits(params)[..., prefix.shape[-1], :]  # (*N, K)
        return logits if self.temperature == 1.0 else logits / self.temperature

    @full_precision
    def level_logits(self, params: torch.Tensor, prefix: torch.Tensor, channels: int) -> torch.Tensor:
        return self._channel_logits(params, prefix, channels)

    @full_precision
    def sample_channel(self, params: torch.Tensor, prefix: torch.Tensor, channels: int) -> torch.Tensor:
        return gumbel_argmax(self._channel_logits(params, prefix, channels))  # one upcast per draw, not two
