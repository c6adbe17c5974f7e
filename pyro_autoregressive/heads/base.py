"""The head protocol: per-step parameters to per-step log-probabilities and samples."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch.distributions import constraints

from ..config import Registry, record_arguments, recorded_config

__all__ = ["HEAD_REGISTRY", "Head", "gumbel_argmax", "head_from_config"]

#: head classes by :func:`~pyro_autoregressive.config.registry_name` (nothing is executed from a file)
HEAD_REGISTRY: Registry[Head] = Registry("head")


class Head(ABC):
    """The conditional distribution of one generation step, ``p(x_i | x_<i)``.

    A step holds ``channels`` values (1 for sequences and MADE, ``C`` for an image
    pixel). The network emits a flat parameter vector of :meth:`num_params` numbers
    per step; the head turns it into a log-probability of the step's values and
    draws them, channel after channel, each given the ones before it
    (:meth:`sample_channel`). Heads hold no learnable parameters and know nothing
    of networks or of Pyro.

    Shapes: ``params`` is ``(*N, P)``, a step's value ``(*N, C)``.
    """

    #: integer values on ``0..num_classes-1`` (True) or real values (False)
    is_discrete: ClassVar[bool]
    #: whether ``params`` splits into ``C`` equal blocks, block ``c`` parametrising
    #: channel ``c`` alone; then a network may make block ``c`` depend on the
    #: channels ``< c`` of the same step (PixelCNN's channel masks)
    per_channel_params: ClassVar[bool] = False
    num_classes: int | None = None

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        """Record every subclass's constructor arguments; register it for ``load`` unless ``abstract=True``."""
        super().__init_subclass__(**kwargs)
        record_arguments(cls)
        if not abstract:
            HEAD_REGISTRY.add(cls)

    @abstractmethod
    def num_params(self, channels: int) -> int:
        """Number of parameters per step for ``channels`` values per step."""

    @abstractmethod
    def log_prob(self, params: torch.Tensor, value: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Log-probability ``(*N,)`` of a step's values ``(*N, C)`` under ``params (*N, P)``.

        ``temperature`` tempers the conditional exactly: logits are divided by it
        and component scales multiplied by it, and the result is normalised.
        """

    @abstractmethod
    def sample_channel(
        self, params: torch.Tensor, prefix: torch.Tensor, channels: int, temperature: float = 1.0
    ) -> torch.Tensor:
        """Draw channel ``c = prefix.shape[-1]`` of a step given its channels ``< c``.

        ``prefix`` is ``(*N, c)``; returns ``(*N,)``. Continuous heads draw with the
        reparameterisation trick, so the result is differentiable in ``params``
        (and in ``prefix``, through the channel coupling).
        """

    def config(self) -> dict[str, Any]:
        """``{"type": ..., **constructor arguments}``, recorded generically from the constructor call."""
        return recorded_config(self)

    @property
    def element_support(self) -> constraints.Constraint:
        """Support of one channel value."""
        if self.is_discrete:
            assert self.num_classes is not None
            return constraints.integer_interval(0, self.num_classes - 1)
        return constraints.real

    def value_dtype(self, float_dtype: torch.dtype) -> torch.dtype:
        """The dtype of values: ``torch.long`` for discrete heads, else the model's float dtype."""
        return torch.long if self.is_discrete else float_dtype

    def encode(self, value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Values as network input: discrete levels rescaled to ``[-1, 1]``, reals unchanged."""
        if self.is_discrete:
            assert self.num_classes is not None
            return value.to(dtype) * (2.0 / max(self.num_classes - 1, 1)) - 1.0
        return value.to(dtype)

    def sample(self, params: torch.Tensor, channels: int, temperature: float = 1.0) -> torch.Tensor:
        """Draw all ``channels`` values of a step, ``(*N, C)``, channel after channel."""
        value = params.new_zeros(params.shape[:-1] + (0,), dtype=self.value_dtype(params.dtype))
        for _ in range(channels):
            draw = self.sample_channel(params, value, channels, temperature)
            value = torch.cat([value, draw.unsqueeze(-1)], dim=-1)
        return value

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Head) and self.config() == other.config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.config().items())))


def head_from_config(config: dict[str, Any]) -> Head:
    """Rebuild a head from :meth:`Head.config` (looked up by name; nothing is executed)."""
    config = dict(config)
    cls = HEAD_REGISTRY.get(config.pop("type", None), "head config")
    return cls(**config)


def gumbel_argmax(logits: torch.Tensor) -> torch.Tensor:
    """Index drawn from ``softmax(logits)`` over the last dim by the Gumbel-max trick.

    Uses ``torch.rand`` (the global generator), so a fixed ``torch.manual_seed``
    gives the same draw whatever computed ``logits``.
    """
    tiny = torch.finfo(logits.dtype).tiny
    uniform = torch.rand(logits.shape, dtype=logits.dtype, device=logits.device)
    gumbel = -torch.log(-torch.log(uniform.clamp(min=tiny)))
    return torch.argmax(logits + gumbel, dim=-1)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, accurate on the whole range (Maechler 2012)."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))
