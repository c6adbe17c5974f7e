"""The base of every model: an ``nn.Module`` that is a Pyro ``ConditionalDistribution``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import torch
from pyro.distributions.conditional import ConditionalDistribution
from torch import nn

from .checks import check_int
from .config import Registry, record_arguments, recorded_config
from .heads import Head, Truncated
from .layout import StepLayout
from .sampling import IncrementalState, NaiveState

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover
    from typing_extensions import Self

if TYPE_CHECKING:
    from .distribution import AutoregressiveDistribution

__all__ = ["MODEL_REGISTRY", "AutoregressiveModel"]

#: model classes by :func:`~pyro_autoregressive.config.registry_name`, for :func:`pyro_autoregressive.load`
#: (nothing is executed from a file)
MODEL_REGISTRY: Registry[AutoregressiveModel] = Registry("model")


class AutoregressiveModel(nn.Module, ConditionalDistribution):
    r"""A network that maps a value to the head parameters of every step, teacher-forced.

    .. math:: p(x \mid c) = \prod_i p_\text{head}\big(x_i \mid \theta_i(x_{<i}, c)\big)

    Subclasses implement:

    * :meth:`layout` -- how the event splits into steps;
    * :meth:`network` -- ``(N, *event_shape, F)`` input features (and the
      contexts) to ``(N, num_steps, P)`` head parameters, where the parameters
      of step ``i`` depend only on the features of steps ``< i`` (and, when
      ``couples_channels`` is set, block ``c`` also on channels ``< c`` of step ``i``);
    * optionally :meth:`embed` (values to input features; default: the head's
      scaling to ``[-1, 1]``) and :attr:`state_class` (a cache for fast
      sampling; default: :class:`~pyro_autoregressive.sampling.NaiveState`).

    :meth:`condition` wraps the model as an
    :class:`~pyro_autoregressive.AutoregressiveDistribution`. Networks see one
    flat batch dimension ``N``; the distribution handles batch and sample shapes.
    """

    #: whether head parameters of channel ``c`` depend on channels ``< c`` of the same step
    couples_channels: bool = False
    #: the incremental state that :meth:`incremental_state` builds (no cache: the full network per step)
    state_class: type[IncrementalState] = NaiveState

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        """Record every subclass's constructor arguments; register it for ``load`` unless ``abstract=True``."""
        super().__init_subclass__(**kwargs)
        record_arguments(cls)
        if not abstract:
            MODEL_REGISTRY.add(cls)

    def __init__(self, head: Head, *, context_size: int = 0, local_context_channels: int = 0) -> None:
        super().__init__()
        if not isinstance(head, Head):
            raise TypeError(f"head: expected a pyro_autoregressive.heads.Head, got {type(head).__name__}")
        if isinstance(head, Truncated) or head.temperature != 1.0:
            raise ValueError(
                f"head: expected a head as constructed, got the decoding transform {head!r}; a model keeps its own "
                "head, and its distribution is tempered or filtered (temper, top_k, top_p, min_p)"
            )
        self.head = head
        self.context_size = check_int("context_size", context_size, 0)
        self.local_context_channels = check_int("local_context_channels", local_context_channels, 0)

    # -- to be provided by subclasses ---------------------------------------------------------

    def layout(self, length: int | None = None) -> StepLayout:
        """The step layout of the event (``length`` only for sequence models)."""
        raise NotImplementedError

    def network(
        self, h: torch.Tensor, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        """Input features ``(N, *event_shape, F)`` to head parameters ``(N, num_steps, P)``."""
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Values ``(N, *event_shape)`` to input features ``(N, *event_shape, F)``."""
        return self.head.encode(x, self.dtype).unsqueeze(-1)

    def local_context_shape(self, layout: StepLayout) -> tuple[int, ...] | None:
        """Trailing shape ``(channels, *positions)`` of ``local_context``, or None if not taken."""
        if self.local_context_channels == 0:
            return None
        return (self.local_context_channels, *layout.positions)

    def output_layers(self) -> tuple[nn.Module, ...]:
        """The network's last affine layers, whose outputs add up to the head parameters of every step.

        Each has a ``weight`` (and may have a ``bias``); the first one's bias holds
        the parameters of every step, ``P`` numbers or one block of ``P`` per
        position. Nothing but these layers' outputs may add to the parameters.
        :meth:`reset_to_neutral_` zeroes them; a network of your own names its
        output layers here to support it (the default raises ``NotImplementedError``).
        """
        raise NotImplementedError(
            f"output_layers: {type(self).__name__} does not name the layers that output its head parameters; "
            "override output_layers() to use reset_to_neutral_()"
        )

    @torch.no_grad()
    def reset_to_neutral_(self, spread: float = 0.0) -> Self:
        r"""Make every conditional the head's neutral distribution, in place; returns the model.

        It returns the model as ``requires_grad_`` does, so that it chains at construction.

        Zeroes the weights and biases of :meth:`output_layers` and writes
        :meth:`Head.neutral_params <pyro_autoregressive.heads.Head.neutral_params>`
        into the first one's bias, so that every step's parameters are the
        neutral ones whatever the values before and the contexts:

        .. math:: p(x \mid c) = \prod_i p_\text{head}(x_i;\ \theta_\text{neutral}),

        ``N(0, I)`` for a ``Normal`` or ``NormalMixture`` head, uniform levels for
        ``Categorical`` and ``Bernoulli``. A learned prior started this way is
        exactly the standard prior at the first step of training; the hidden
        layers keep their random weights, so the output layers' gradients are not zero.

        :param spread: mixture heads: spread the components' locations evenly over
            ``[-spread, spread]`` (see :meth:`Head.neutral_params
            <pyro_autoregressive.heads.Head.neutral_params>`); the default 0 is exact.

        Example::

            >>> import torch, pyro_autoregressive as par
            >>> prior = par.MADE(4, par.heads.Normal(), hidden_sizes=(16,)).reset_to_neutral_()
            >>> z = torch.randn(3, 4)
            >>> torch.allclose(prior.condition().log_prob(z), torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1))
            True
        """
        layers = self.output_layers()
        params = self.head.neutral_params(self.layout().channels, spread)  # (P,)
        bias = layers[0].bias
        if bias is None or bias.numel() % params.numel():  # checked before any weight changes
            raise ValueError(
                f"output_layers: the first output layer of {type(self).__name__} needs a bias of P = "
                f"{params.numel()} numbers per position, got {None if bias is None else tuple(bias.shape)}"
            )
        for layer in layers:
            layer.weight.zero_()
            if layer.bias is not None:
                layer.bias.zero_()
        bias.view(-1, params.numel()).copy_(params)  # every position's block
        return self

    def incremental_state(
        self,
        layout: StepLayout,
        context: torch.Tensor | None,
        local_context: torch.Tensor | None,
        batch_size: int,
    ) -> IncrementalState:
        """The state for cached sampling: an instance of :attr:`state_class`."""
        return self.state_class(self, layout, context, local_context, batch_size)

    # -- shared --------------------------------------------------------------------------------

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        local_context: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Teacher-forced head parameters ``(N, num_steps, P)`` of a flat batch ``x (N, *event_shape)``."""
        return self.network(self.embed(x), context, local_context)

    def condition(
        self,
        context: torch.Tensor | None = None,
        *,
        local_context: torch.Tensor | None = None,
        length: int | None = None,
        stop_value: int | None = None,
    ) -> AutoregressiveDistribution:
        """The distribution ``p(x | context, local_context)`` as a Pyro distribution.

        :param context: global conditioning ``(*B, context_size)``.
        :param local_context: per-position conditioning ``(*B, channels, *positions)``.
        :param length: ``T`` for sequence models (default: the model's length).
        :param stop_value: sequence models with a discrete head: the distribution
            over sequences that end at the first ``stop_value`` (inclusive), padded
            after it with ``stop_value`` (or run to ``T`` without one).
        """
        from .distribution import AutoregressiveDistribution

        layout = self.layout(length)
        return AutoregressiveDistribution(self, context, local_context, layout=layout, stop_value=stop_value)

    @property
    def dtype(self) -> torch.dtype:
        return _first_parameter(self).dtype

    @property
    def device(self) -> torch.device:
        return _first_parameter(self).device

    def upgrade_weights(self, weights: dict[str, torch.Tensor], version: int) -> dict[str, torch.Tensor]:
        """Weights saved by an earlier file format ``version``, laid out as this model's state dict.

        The default keeps them; a family whose layout changed converts them exactly.
        """
        return weights

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable), as saved by :func:`pyro_autoregressive.save`.

        Recorded generically from the constructor call (the head as its own
        config), so no argument can be left out of a saved file.
        """
        return recorded_config(self)


def _first_parameter(module: nn.Module) -> torch.Tensor:
    """``next(module.parameters())`` without building the generators (a generation step asks for the dtype)."""
    stack = [module]
    while stack:
        current = stack.pop()
        for p in current._parameters.values():
            if p is not None:
                return p
        stack.extend(reversed([m for m in current._modules.values() if m is not None]))  # pre-order
    raise ValueError(f"model: {type(module).__name__} has no parameters")
