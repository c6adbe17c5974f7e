"""The head protocol: per-step parameters to per-step log-probabilities and samples.

:class:`Head` is what every head does (score a step, draw it channel by
channel, be tempered); :class:`DiscreteHead` (levels ``0..K-1``, whose every
channel's conditional can be listed, so decoding filters can truncate it) and
:class:`ContinuousHead` (real values, reparameterised draws) are the two kinds.
"""

from __future__ import annotations

import copy
import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import torch
from torch.distributions import constraints

from ..checks import check_positive
from ..config import Registry, record_arguments, recorded_config

__all__ = [
    "HEAD_REGISTRY",
    "TEMPERATURE_RANGE",
    "ContinuousHead",
    "DiscreteHead",
    "Head",
    "check_no_spread",
    "full_precision",
    "gumbel_argmax",
    "head_from_config",
    "working_dtype",
]

_Method = TypeVar("_Method", bound=Callable[..., torch.Tensor])


class _Levels(constraints._IntegerInterval):
    """torch's ``integer_interval``, exact for every integer dtype.

    torch compares a tensor with a bound in the tensor's dtype, so an ``int8`` or
    ``uint8`` value checked against 299 meets a wrapped bound (43); integers and
    bools are checked as ``torch.long``.
    """

    def check(self, value: torch.Tensor) -> torch.Tensor:
        if not (value.dtype.is_floating_point or value.dtype.is_complex):
            value = value.long()
        return super().check(value)


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype heads compute in: ``float32`` for the half precisions (bfloat16, float16), else ``dtype``."""
    return torch.promote_types(dtype, torch.float32)


def full_precision(method: _Method) -> _Method:
    """Run a head method on ``params`` upcast to :func:`working_dtype`, with autocast off.

    Half-precision parameters (a bfloat16/float16 network, or one run under
    ``torch.autocast``) are rounded already; everything a head computes from them
    (log-softmax, Gumbel noise, logistic tails, sums over channels and
    components) is float32 at least, so the head adds no error of its own and
    its log-probabilities come back in float32 at least.
    """

    @functools.wraps(method)
    def wrapper(self: Head, params: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        device_type = params.device.type
        params = params.to(working_dtype(params.dtype))
        if not (torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type)):
            return method(self, params, *args, **kwargs)  # no context to enter: a few µs less per step
        with torch.autocast(device_type, enabled=False):
            return method(self, params, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


#: the temperatures (the product of every tempering) at which ``log_prob``, its gradient and samples
#: stay finite in float32 for head parameters and values up to 1e4 in size
TEMPERATURE_RANGE: tuple[float, float] = (1e-6, 1e6)

#: head classes by :func:`~pyro_autoregressive.config.registry_name` (nothing is executed from a file)
HEAD_REGISTRY: Registry[Head] = Registry("head")


class Head(ABC):
    """The conditional distribution of one generation step, ``p(x_i | x_<i)``.

    A step holds ``channels`` values (1 for sequences and MADE, ``C`` for an image
    pixel). The network emits a flat parameter vector of :meth:`num_params` numbers
    per step; the head turns it into a log-probability of the step's values and
    draws them, channel after channel, each given the ones before it
    (:meth:`sample_channel`). Heads hold no learnable parameters and know nothing
    of networks or of Pyro. A head is one of two kinds: :class:`DiscreteHead`
    or :class:`ContinuousHead`.

    A head is transformed, never changed: :meth:`tempered` returns a tempered
    copy, and :class:`~pyro_autoregressive.heads.Truncated` wraps a discrete head
    in decoding filters. A distribution's ``temper``, ``top_k``, ``top_p`` and
    ``min_p`` compose these transforms; a model keeps its own, untransformed head.

    Shapes: ``params`` is ``(*N, P)``, a step's value ``(*N, C)``.
    """

    #: whether ``params`` splits into ``C`` equal blocks, block ``c`` parametrising
    #: channel ``c`` alone; then a network may make block ``c`` depend on the
    #: channels ``< c`` of the same step (PixelCNN's channel masks)
    per_channel_params: ClassVar[bool] = False
    #: the temperature of the conditionals (:meth:`tempered`); 1 for a head as constructed
    temperature: float = 1.0

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
    def log_prob(self, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Log-probability ``(*N,)`` of a step's values ``(*N, C)`` under ``params (*N, P)``, at :attr:`temperature`."""

    @abstractmethod
    def sample_channel(self, params: torch.Tensor, prefix: torch.Tensor, channels: int) -> torch.Tensor:
        """Draw channel ``c = prefix.shape[-1]`` of a step given its channels ``< c``, at :attr:`temperature`.

        ``prefix`` is ``(*N, c)``; returns ``(*N,)``. Continuous heads draw with the
        reparameterisation trick, so the result is differentiable in ``params``
        (and in ``prefix``, through the channel coupling).
        """

    @property
    @abstractmethod
    def element_support(self) -> constraints.Constraint:
        """Support of one channel value."""

    @abstractmethod
    def value_dtype(self, float_dtype: torch.dtype) -> torch.dtype:
        """The dtype of values, for a model whose floats are ``float_dtype``."""

    @abstractmethod
    def encode(self, value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Values as network input, in ``dtype``."""

    def tempered(self, temperature: float) -> Head:
        """A copy of this head whose every conditional is tempered by ``temperature`` (multiplying :attr:`temperature`).

        Tempering is exact and normalised: logits are divided by it, and mixture
        component scales multiplied by it (each head says how; a new head must
        apply :attr:`temperature` in every method). The copy is a transform of
        the model's head for decoding: it cannot be saved (:meth:`config` refuses).

        :raises ValueError: if ``temperature`` is not a finite float ``> 0``, or
            the product of the temperatures is outside :data:`~pyro_autoregressive.heads.base.TEMPERATURE_RANGE`
            (``[1e-6, 1e6]``), beyond which logits divided by it overflow and
            scales multiplied by it underflow.
        """
        factor = check_positive("temperature", temperature)
        product = self.temperature * factor
        low, high = TEMPERATURE_RANGE
        if not low <= product <= high:
            raise ValueError(
                f"temperature: expected the tempered temperature ({self.temperature:g} x {factor:g} = {product:g}) "
                f"in [{low:g}, {high:g}], where log_prob, its gradient and samples stay finite"
            )
        new = copy.copy(self)
        new.temperature = product
        return new

    def neutral_params(self, channels: int, spread: float = 0.0) -> torch.Tensor:
        """The parameters ``(P,)`` (float64) of the head's neutral conditional of a step of ``channels`` values.

        The neutral conditional is the head's "know nothing" distribution, the
        same at every step and with independent channels: uniform levels for
        ``Categorical`` and ``Bernoulli``, ``N(0, 1)`` for ``Normal`` and
        ``NormalMixture``, a unit-scale logistic centred on the middle level for
        ``DiscretizedLogisticMixture``. :meth:`AutoregressiveModel.reset_to_neutral_
        <pyro_autoregressive.AutoregressiveModel.reset_to_neutral_>` makes every
        step of a model use it.

        :param spread: mixture heads: the components' locations are spread evenly
            over ``[-spread, spread]`` (identical components never separate under
            gradient descent); ``0`` (the default) keeps the neutral distribution exact.
        :raises NotImplementedError: for a head that defines no neutral parameters.
        """
        raise NotImplementedError(f"neutral_params: {type(self).__name__} defines no neutral parameters")

    def config(self) -> dict[str, Any]:
        """``{"type": ..., **constructor arguments}``, recorded generically from the constructor call.

        :raises ValueError: for a tempered head (a decoding transform, not a model's head).
        """
        if self.temperature != 1.0:
            raise ValueError(
                f"head: a tempered head ({self!r}) is a decoding transform and cannot be saved; save the model's "
                "own head and temper its distribution"
            )
        return recorded_config(self)

    def sample(self, params: torch.Tensor, channels: int, *, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Draw all ``channels`` values of a step, ``(*N, C)``, channel after channel.

        :param dtype: the values' dtype (default: :meth:`value_dtype` of the
            parameters' dtype); continuous draws are made in float32 at least and
            rounded to it.
        :raises ValueError: if ``params`` holds a NaN (a diverged network).
        """
        if torch.isnan(params).any():
            raise ValueError(f"params: expected no NaN in the head parameters of {self!r}, got NaN")
        dtype = self.value_dtype(params.dtype) if dtype is None else dtype
        value = params.new_zeros(params.shape[:-1] + (0,), dtype=dtype)
        for _ in range(channels):
            draw = self.sample_channel(params, value, channels)
            value = torch.cat([value, draw.unsqueeze(-1).to(dtype)], dim=-1)
        return value

    def _arguments(self) -> dict[str, Any]:
        """The constructor arguments, for :meth:`__repr__` and equality."""
        return {k: v for k, v in recorded_config(self).items() if k != "type"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._arguments().items())
        tempered = "" if self.temperature == 1.0 else f".tempered({self.temperature!r})"
        return f"{type(self).__name__}({args}){tempered}"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, Head)
            and self._arguments() == other._arguments()
            and self.temperature == other.temperature
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self._arguments().items())), self.temperature))


class DiscreteHead(Head, abstract=True):
    """A head over the levels ``0..K-1`` of every channel (``K`` = :attr:`num_classes`).

    Every channel's conditional can be listed level by level
    (:meth:`level_logits`): decoding filters (``top_k``, ``top_p``, ``min_p``)
    truncate it and greedy decoding takes its argmax. Values are ``torch.long``;
    the network reads them rescaled to ``[-1, 1]``. A subclass applies
    :attr:`~Head.temperature` in :meth:`~Head.log_prob`, :meth:`level_logits` and
    its own sampler alike (``tests/test_heads.py`` checks the built-in heads).
    """

    #: the number of levels ``K`` of every channel
    num_classes: int

    @abstractmethod
    def level_logits(self, params: torch.Tensor, prefix: torch.Tensor, channels: int) -> torch.Tensor:
        """The log-probabilities ``(*N, K)`` of every level of channel ``c = prefix.shape[-1]``, up to a constant.

        The tempered conditional of channel ``c`` given the step's channels
        ``< c`` (``prefix (*N, c)``), up to an additive constant per row: a
        softmax over the last dim normalises it (:meth:`level_log_probs`), and the
        Gumbel-max trick draws from it as it is.
        """

    def level_log_probs(self, params: torch.Tensor, prefix: torch.Tensor, channels: int) -> torch.Tensor:
        """The normalised log-probabilities ``(*N, K)`` of every level of channel ``c = prefix.shape[-1]``."""
        return torch.log_softmax(self.level_logits(params, prefix, channels), dim=-1)

    @full_precision
    def log_prob(self, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """The sum over the step's channels of each one's :meth:`level_log_probs` at its value, given the channels
        before it (the chain rule inside the step); a head with a closed form overrides it."""
        total = None
        for c in range(value.shape[-1]):
            log_probs = self.level_log_probs(params, value[..., :c], value.shape[-1])  # (*N, K)
            shape = torch.broadcast_shapes(log_probs.shape[:-1], value.shape[:-1])
            index = value[..., c].expand(shape).unsqueeze(-1)
            picked = log_probs.expand(shape + log_probs.shape[-1:]).gather(-1, index).squeeze(-1)
            total = picked if total is None else total + picked
        assert total is not None, "a step has at least one channel"
        return total

    @full_precision
    def sample_channel(self, params: torch.Tensor, prefix: torch.Tensor, channels: int) -> torch.Tensor:
        """Channel ``c``'s level, drawn from :meth:`level_logits` by the Gumbel-max trick."""
        return gumbel_argmax(self.level_logits(params, prefix, channels))

    @property
    def element_support(self) -> constraints.Constraint:
        return _Levels(0, self.num_classes - 1)

    def value_dtype(self, float_dtype: torch.dtype) -> torch.dtype:
        """``torch.long``, whatever the model's floats."""
        return torch.long

    def encode(self, value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Levels rescaled to ``[-1, 1]``, in float32 at least and then rounded to ``dtype``.

        In float16 the level 65535 itself overflows (its largest finite value is 65504).
        """
        scaled = value.to(working_dtype(dtype)) * (2.0 / max(self.num_classes - 1, 1)) - 1.0
        return scaled.to(dtype)


class ContinuousHead(Head, abstract=True):
    """A head over real values: draws are reparameterised (``rsample``), values are the model's floats."""

    @property
    def element_support(self) -> constraints.Constraint:
        return constraints.real

    def value_dtype(self, float_dtype: torch.dtype) -> torch.dtype:
        """The model's float dtype."""
        return float_dtype

    def encode(self, value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The values themselves, in ``dtype``."""
        return value.to(dtype)


def head_from_config(config: dict[str, Any]) -> Head:
    """Rebuild a head from :meth:`Head.config` (looked up by name; nothing is executed)."""
    config = dict(config)
    cls = HEAD_REGISTRY.get(config.pop("type", None), "head config")
    return cls(**config)


def check_no_spread(head: Head, spread: object) -> None:
    """``spread`` of :meth:`Head.neutral_params` for a head without mixture components: 0 only."""
    if check_positive("spread", spread, allow_zero=True) != 0.0:
        raise ValueError(f"spread: {head!r} has no mixture components to spread, expected 0, got {spread!r}")


def gumbel_argmax(logits: torch.Tensor) -> torch.Tensor:
    """Index drawn from ``softmax(logits)`` over the last dim by the Gumbel-max trick.

    Uses ``torch.rand`` (the global generator), so a fixed ``torch.manual_seed``
    gives the same draw whatever computed ``logits``. The noise is drawn in
    float32 at least: in bfloat16 the uniforms take only 256 values and the
    Gumbel noise is so coarse that ties bias the draw towards the first classes.
    """
    logits = logits.to(working_dtype(logits.dtype))
    tiny = torch.finfo(logits.dtype).tiny
    uniform = torch.rand(logits.shape, dtype=logits.dtype, device=logits.device)
    minus_gumbel = uniform.clamp_(min=tiny).log_().neg_().log_()  # log(-log u) = -G, in place
    return torch.argmax(logits - minus_gumbel, dim=-1)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, accurate on the whole range (Maechler 2012).

    Each branch sees only the inputs it is used for, so the branch not taken
    cannot put an infinite gradient (times the zero of ``where``: NaN) into the result.
    """
    near_zero = x > -math.log(2.0)
    return torch.where(
        near_zero,
        torch.log(-torch.expm1(torch.where(near_zero, x, -1.0))),
        torch.log1p(-torch.exp(torch.where(near_zero, -1.0, x))),
    )
