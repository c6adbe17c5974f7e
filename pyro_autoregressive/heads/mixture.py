"""Shared machinery of the parametric heads: mixtures with linearly coupled channels."""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..checks import check_int, check_positive
from .base import Head, full_precision, gumbel_argmax

__all__ = ["CoupledMixture"]


class MixtureParams(NamedTuple):
    log_weights: torch.Tensor  # (*N, M), normalised
    loc: torch.Tensor  # (*N, C, M), before coupling
    log_scale: torch.Tensor  # (*N, C, M)
    coef: torch.Tensor  # (*N, C*(C-1)/2, M), pairs (c, c') with c' < c in row-major order


class CoupledMixture(Head, abstract=True):
    r"""A mixture of ``M`` components over the ``C`` channels of a step.

    Within component ``m`` the channels are drawn one after the other, the
    location of channel ``c`` moving linearly with the (scaled) values of the
    channels before it, as in PixelCNN++:

    .. math::
        p(x) = \sum_m \pi_m \prod_c f\Big(x_c;\ \mu_{c,m} + \sum_{c' < c} a_{c,c',m} \tilde x_{c'},\ s_{c,m}\Big)

    Parameters per step, in this order: ``M`` mixture logits (absent when the
    head has a single component), ``C*M`` locations, ``C*M`` log-scales and
    ``M*C*(C-1)/2`` coupling coefficients. Subclasses give the component
    density ``f`` and its sampler.

    Sampling channel ``c`` given channels ``< c`` first draws the component from
    its posterior given those channels, then the value from that component: the
    exact conditional, so sampling channel by channel draws from the joint.
    Tempering by ``T`` divides the mixture logits by ``T`` and multiplies every
    component scale by ``T``. Log-scales are clamped below at
    :attr:`min_log_scale` before tempering and above at :attr:`max_log_scale`
    after it, in :meth:`~pyro_autoregressive.heads.Head.log_prob` and in sampling alike.
    """

    #: lower bound of the log-scales before tempering (PixelCNN++ uses -7)
    min_log_scale: float = -7.0
    #: upper bound of the log-scales after tempering (a scale of ``e^80`` times any noise a draw
    #: can take stays finite in float32)
    max_log_scale: float = 80.0
    num_components: int

    def __init__(self, num_components: int) -> None:
        self.num_components = check_int("num_components", num_components, 1)

    @property
    def _has_weights(self) -> bool:
        return self.num_components > 1

    def num_params(self, channels: int) -> int:
        m = self.num_components
        return m * int(self._has_weights) + 2 * channels * m + m * channels * (channels - 1) // 2

    def neutral_params(self, channels: int, spread: float = 0.0) -> torch.Tensor:
        """Equal weights, locations 0, log-scales 0 and no coupling: independent channels, each the
        unit-scale component at 0 (``N(0, 1)``; for the logistic, on the levels' ``[-1, 1]`` scale).

        With ``spread > 0`` the ``M > 1`` components' locations are ``spread * linspace(-1, 1, M)`` in
        every channel (a single component stays at 0): ``M`` identical components would receive
        identical gradients and never separate.
        """
        channels = check_int("channels", channels, 1)
        spread = check_positive("spread", spread, allow_zero=True)
        m = self.num_components
        loc = torch.zeros(channels, m, dtype=torch.float64)
        if m > 1:
            loc += spread * torch.linspace(-1.0, 1.0, m, dtype=torch.float64)
        logits = torch.zeros(m * int(self._has_weights), dtype=torch.float64)
        log_scale = torch.zeros(channels * m, dtype=torch.float64)
        coef = torch.zeros(m * channels * (channels - 1) // 2, dtype=torch.float64)
        return torch.cat([logits, loc.flatten(), log_scale, coef])  # the order of _unpack

    @abstractmethod
    def _scaled(self, value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Values in the units of the locations, used for the coupling."""

    @abstractmethod
    def _coef(self, raw: torch.Tensor) -> torch.Tensor:
        """Coupling coefficients from their raw parameters."""

    @abstractmethod
    def _component_log_prob(self, value: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        """Per-channel component log-density; ``value`` broadcasts against ``loc``."""

    @abstractmethod
    def _component_sample(self, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        """One draw from the component with the given location and log-scale."""

    def _component_cdf(self, value: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        """Per-channel component CDF (continuous heads)."""
        raise NotImplementedError(f"channel_cdf: {type(self).__name__} has no continuous CDF")

    def _unpack(self, params: torch.Tensor, channels: int) -> MixtureParams:
        m = self.num_components
        num_weights = m * int(self._has_weights)
        num_pairs = channels * (channels - 1) // 2
        sizes = [num_weights, channels * m, channels * m, num_pairs * m]
        logits, loc, log_scale, coef = params.split(sizes, dim=-1)
        if self._has_weights:
            log_weights = F.log_softmax(logits / self.temperature, dim=-1)
        else:
            log_weights = params.new_zeros(params.shape[:-1] + (1,))
        log_scale = log_scale.clamp(min=self.min_log_scale) + math.log(self.temperature)
        log_scale = log_scale.clamp(max=self.max_log_scale)
        return MixtureParams(
            log_weights,
            loc.unflatten(-1, (channels, m)),
            log_scale.unflatten(-1, (channels, m)),
            self._coef(coef.unflatten(-1, (num_pairs, m))),
        )

    @staticmethod
    def _coupled_loc(p: MixtureParams, scaled: torch.Tensor) -> torch.Tensor:
        """Locations ``(*N, C', M)`` of the first ``C' = scaled.shape[-1] + 1`` channels (at most C)."""
        channels = p.loc.shape[-2]
        used = min(scaled.shape[-1] + 1, channels)
        rows, cols = torch.tril_indices(channels, channels, -1, device=p.loc.device)
        keep = rows < used
        # strictly lower-triangular coupling matrix per component: (*N, C', C'-1, M)
        matrix = p.coef.new_zeros(p.coef.shape[:-2] + (used, max(used - 1, 0), p.coef.shape[-1]))
        matrix[..., rows[keep], cols[keep], :] = p.coef[..., keep, :]
        shift = torch.einsum("...ckm,...k->...cm", matrix, scaled[..., : used - 1])
        return p.loc[..., :used, :] + shift

    def _component_terms(self, params: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixture log-weights ``(*N, M)`` and per-channel component log-densities ``(*N, C, M)`` of ``value``."""
        p = self._unpack(params, value.shape[-1])
        loc = self._coupled_loc(p, self._scaled(value, params.dtype)[..., :-1])  # (*N, C, M)
        return p.log_weights, self._component_log_prob(value.unsqueeze(-1), loc, p.log_scale)

    @full_precision
    def log_prob(self, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        log_weights, per_channel = self._component_terms(params, value)
        return torch.logsumexp(log_weights + per_channel.sum(-2), dim=-1)

    @full_precision
    def channel_log_prob(self, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        r"""Per-channel conditional log-densities ``(*N, C)`` of a step's values ``(*N, C)``.

        Entry ``c`` is :math:`\log p(x_c \mid x_{<c})`, the chain rule's factor of
        channel ``c``: the difference of the running joints

        .. math::
            \log p(x_{\le c}) = \log \sum_m \pi_m \prod_{c' \le c} f_{c',m}(x_{c'}),

        so it reads only channels ``<= c``, and the entries sum to :meth:`~pyro_autoregressive.heads.Head.log_prob`
        (up to rounding). Each entry is a normalised density (or mass) in
        :math:`x_c` for every prefix, which is how a multi-channel step's
        normalisation is checked one channel at a time.
        """
        log_weights, per_channel = self._component_terms(params, value)  # (*N, M), (*N, C, M)
        running = torch.logsumexp(log_weights.unsqueeze(-2) + per_channel.cumsum(-2), dim=-1)  # (*N, C)
        # log p(x_<0) = logsumexp(log_weights) = 0: the weights are normalised
        return torch.diff(running, dim=-1, prepend=running.new_zeros(running.shape[:-1] + (1,)))

    @full_precision
    def channel_cdf(
        self, params: torch.Tensor, prefix: torch.Tensor, value: torch.Tensor, channels: int
    ) -> torch.Tensor:
        """``P(X_c <= value | channels < c = prefix)`` for ``c = prefix.shape[-1]``; ``(*N,)``.

        The conditional of channel ``c`` is a mixture whose weights are the
        components' posterior given the prefix. Used for the Rosenblatt transform
        (probability integral transform) of samples and for calibration checks.
        """
        c = prefix.shape[-1]
        p = self._unpack(params, channels)
        loc = self._coupled_loc(p, self._scaled(prefix, params.dtype))  # (*N, c+1, M)
        log_scale = p.log_scale[..., : c + 1, :]
        evidence = self._component_log_prob(prefix.unsqueeze(-1), loc[..., :c, :], log_scale[..., :c, :])
        weights = torch.softmax(p.log_weights + evidence.sum(-2), dim=-1)  # (*N, M)
        cdf = self._component_cdf(value.unsqueeze(-1), loc[..., c, :], log_scale[..., c, :])
        return (weights * cdf).sum(-1)

    @full_precision
    def sample_channel(self, params: torch.Tensor, prefix: torch.Tensor, channels: int) -> torch.Tensor:
        c = prefix.shape[-1]
        p = self._unpack(params, channels)
        loc = self._coupled_loc(p, self._scaled(prefix, params.dtype))  # (*N, c+1, M)
        log_scale = p.log_scale[..., : c + 1, :]
        if self._has_weights:
            # the component's posterior given the channels already drawn
            evidence = self._component_log_prob(prefix.unsqueeze(-1), loc[..., :c, :], log_scale[..., :c, :])
            component = gumbel_argmax(p.log_weights + evidence.sum(-2)).unsqueeze(-1)  # (*N, 1)
            loc_c = loc[..., c, :].gather(-1, component).squeeze(-1)
            log_scale_c = log_scale[..., c, :].gather(-1, component).squeeze(-1)
        else:
            loc_c, log_scale_c = loc[..., c, 0], log_scale[..., c, 0]
        return self._component_sample(loc_c, log_scale_c)
