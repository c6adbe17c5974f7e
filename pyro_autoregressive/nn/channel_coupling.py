"""Dependence between the channels of one step: a small MADE over a pixel's channels."""

from __future__ import annotations

import torch
from torch import nn

from .masked_linear import MaskedLinear, made_masks

__all__ = ["ChannelCoupling"]


class ChannelCoupling(nn.Module):
    r"""Per-channel parameter blocks where block ``c`` sees only the step's channels ``< c``.

    A one-hidden-layer MADE (Germain et al. 2015) over the ``C`` channels of one
    step, whose hidden layer also receives an unmasked summary ``z`` of the past
    steps (e.g. a Transformer's output at this step):

    .. math::
        \theta_c = W^{o}_{c}\, \operatorname{relu}\big(W^{h} (u \odot \text{mask}) + V z\big)
                   + W^{d}_{c}\, u_{<c}

    With ``u`` the features of the current step's channels, ``theta_c`` depends on
    ``u_{<c}`` and ``z`` only. Add it to the parameters predicted from ``z``.

    :param channels: ``C``.
    :param features: input features per channel (``F``; ``u`` is ``(*, C*F)``, channel-major).
    :param params_per_channel: parameters per channel block (output ``(*, C*P_c)``).
    :param context_features: width of ``z``.
    :param hidden: hidden units.

    References:
        Germain, Gregor, Murray, Larochelle. MADE. ICML 2015. https://arxiv.org/abs/1502.03509
    """

    def __init__(
        self, channels: int, features: int, params_per_channel: int, context_features: int, hidden: int
    ) -> None:
        super().__init__()
        if channels < 2:
            raise ValueError(f"channels: expected an int >= 2 (one channel needs no coupling), got {channels}")
        input_degrees = torch.arange(channels).repeat_interleave(features)  # (C*F,)
        output_degrees = torch.arange(channels).repeat_interleave(params_per_channel)  # (C*P_c,)
        (hidden_mask, output_mask), direct_mask = made_masks(input_degrees, (hidden,), output_degrees)
        self.hidden = MaskedLinear(hidden_mask)
        self.context = nn.Linear(context_features, hidden, bias=False)
        self.out = MaskedLinear(output_mask, bias=False)
        self.direct = MaskedLinear(direct_mask, bias=False)

    def forward(self, u: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``u (*, C*F)`` and ``z (*, context_features)`` to ``(*, C*P_c)``."""
        h = torch.relu(self.hidden(u) + self.context(z))  # (*, hidden)
        return self.out(h) + self.direct(u)
