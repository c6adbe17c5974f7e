"""A mixture of Gaussians for real-valued steps."""

from __future__ import annotations

import math

import torch

from .base import ContinuousHead
from .mixture import CoupledMixture

__all__ = ["NormalMixture"]


class NormalMixture(CoupledMixture, ContinuousHead):
    r"""Mixture of ``M`` Gaussians per step for real values.

    .. math::
        p(x) = \sum_m \pi_m \prod_c \mathcal N\Big(x_c;\ \mu_{c,m} + \sum_{c'<c} a_{c,c',m} x_{c'},\ s_{c,m}^2\Big)

    Sampling is reparameterised given the component (the component index itself
    is discrete), so ``rsample`` gives gradients of the component-conditional value.

    :param num_components: mixture components ``M``.
    """

    def _scaled(self, value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return value.to(dtype)

    def _coef(self, raw: torch.Tensor) -> torch.Tensor:
        return raw

    def _component_log_prob(self, value: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        z = (value - loc) * torch.exp(-log_scale)
        return -0.5 * z * z - log_scale - 0.5 * math.log(2.0 * math.pi)

    def _component_cdf(self, value: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        return torch.special.ndtr((value - loc) * torch.exp(-log_scale))

    def _component_sample(self, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(loc.shape, dtype=loc.dtype, device=loc.device)
        return loc + torch.exp(log_scale) * noise
