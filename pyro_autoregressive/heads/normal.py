"""A Gaussian for real-valued steps."""

from __future__ import annotations

from .normal_mixture import NormalMixture

__all__ = ["Normal"]


class Normal(NormalMixture):
    r"""Gaussian per step; channels of a step are jointly Gaussian through the coupling.

    .. math::
        p(x_c \mid x_{<c}) = \mathcal N\Big(x_c;\ \mu_c + \sum_{c'<c} a_{c,c'} x_{c'},\ s_c^2\Big)

    Parameters per step: ``C`` locations, ``C`` log-scales (clamped below at
    ``min_log_scale``) and ``C*(C-1)/2`` coupling coefficients. Sampling is fully
    reparameterised.
    """

    def __init__(self) -> None:
        super().__init__(num_components=1)
