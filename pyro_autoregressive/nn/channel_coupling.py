"""Dependence between the channels of one step: a small MADE over a pixel's channels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .masked_linear import MaskedLinear, made_masks

__all__ = ["ChannelCoupling"]


class ChannelCoupling(nn.Module):
    r"""Per-channel parameter blocks where block ``c`` sees only the step's channels ``< c``.

    A one-hidden-layer MADE (Germain et al. 2015) over the ``C`` discrete channels
    of one step, whose hidden layer also receives an unmasked summary ``z`` of the
    past steps (e.g. a Transformer's output at this step):

    .. math::
        \theta_c = W^{o}_{c}\, \operatorname{relu}\big(W^{h} (u \odot \text{mask}) + V z\big)
                   + W^{d}_{c}\, u_{<c}

    With ``u`` the one-hot values of the current step's channels, ``theta_c``
    depends on ``u_{<c}`` and ``z`` only. Add it to the parameters predicted from ``z``.

    A product with a one-hot vector is a sum of weight columns, so the values are
    embedded by index: :meth:`embed` looks up, for each channel, its columns of
    :math:`W^h` and :math:`W^d` (``F.embedding``, unmasked), and :meth:`forward`
    applies each channel's masks and sums over channels. Same parameters, same
    function as the masked products with ``u``; the masks act in :meth:`forward`,
    so a gradient test on the embedded features sees them.

    :param channels: ``C``.
    :param num_classes: levels per channel ``K`` (the layers' inputs are the ``C*K``
        one-hot features, channel-major).
    :param params_per_channel: parameters per channel block (output ``(*, C*P_c)``).
    :param context_features: width of ``z``.
    :param hidden: hidden units.

    References:
        Germain, Gregor, Murray, Larochelle. MADE. ICML 2015. https://arxiv.org/abs/1502.03509
    """

    def __init__(
        self, channels: int, num_classes: int, params_per_channel: int, context_features: int, hidden: int
    ) -> None:
        super().__init__()
        if channels < 2:
            raise ValueError(f"channels: expected an int >= 2 (one channel needs no coupling), got {channels}")
        self.channels, self.num_classes = channels, num_classes
        input_degrees = torch.arange(channels).repeat_interleave(num_classes)  # (C*K,)
        output_degrees = torch.arange(channels).repeat_interleave(params_per_channel)  # (C*P_c,)
        (hidden_mask, output_mask), direct_mask = made_masks(input_degrees, (hidden,), output_degrees)
        self.hidden = MaskedLinear(hidden_mask)
        self.context = nn.Linear(context_features, hidden, bias=False)
        self.out = MaskedLinear(output_mask, bias=False)
        self.direct = MaskedLinear(direct_mask, bias=False)

    @property
    def num_features(self) -> int:
        """Features per channel that :meth:`embed` gives: ``hidden + C*P_c``."""
        return self.hidden.out_features + self.direct.out_features

    def embed(self, values: torch.Tensor) -> torch.Tensor:
        """Channel values ``(*, C)`` to their unmasked weight columns ``(*, C, hidden + C*P_c)``."""
        offsets = torch.arange(self.channels, device=values.device) * self.num_classes  # (C,)
        columns = torch.cat([self.hidden.weight, self.direct.weight]).t()  # (C*K, hidden + C*P_c)
        return F.embedding(values + offsets, columns)

    def forward(self, features: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Embedded channels ``(*, C, hidden + C*P_c)`` and ``z (*, context_features)`` to ``(*, C*P_c)``."""
        K, H = self.num_classes, self.hidden.out_features
        # a channel's columns share its mask: (C*K, out) -> (C, out), one row per channel
        hidden_mask = self.hidden.mask.t()[::K]  # (C, hidden)
        direct_mask = self.direct.mask.t()[::K]  # (C, C*P_c)
        pre = (features[..., :H] * hidden_mask).sum(-2) + self.hidden.bias  # (*, hidden): W^h (u * mask) + b
        h = torch.relu(pre + self.context(z))  # (*, hidden)
        return self.out(h) + (features[..., H:] * direct_mask).sum(-2)  # (*, C*P_c)
