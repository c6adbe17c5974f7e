"""MADE: the masked autoencoder for distribution estimation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_bool, check_int
from ..heads import DiscreteHead, Head
from ..layout import PermutedLayout, StepLayout
from ..model import AutoregressiveModel
from ..nn.masked_linear import MaskedLinear, made_masks

__all__ = ["MADE"]


class MADE(AutoregressiveModel):
    r"""Masked Autoencoder for Distribution Estimation (Germain et al. 2015).

    A dense network whose weight masks make output ``d`` depend only on the
    inputs that come before ``d`` in the generation order, so one pass gives
    every conditional:

    .. math:: p(x) = \prod_{k=0}^{D-1} p\big(x_{o_k} \mid x_{o_0}, \dots, x_{o_{k-1}}\big)

    Hidden layers use ReLU; a masked direct input-to-output connection is added.
    A global ``context`` enters the first hidden layer and the output unmasked.

    :param event_size: ``D``, the number of dimensions of the event ``(D,)``.
    :param head: the per-dimension distribution (any head of :mod:`pyro_autoregressive.heads`).
    :param hidden_sizes: widths of the masked hidden layers.
    :param context_size: size of the global context vector (0: none).
    :param order: the generation order: ``None`` for ``0..D-1``, a permutation of
        ``range(D)`` (``order[k]`` is the dimension generated at step ``k``), or
        ``"random"`` for a permutation drawn from torch's global generator.
    :param one_hot: feed discrete values as one-hot vectors instead of a scalar
        in ``[-1, 1]`` (more capacity for histogram heads).

    NOTE: MADE keeps no cache, so sampling takes ``D`` full network passes, for
    ``cache=True`` and ``cache=False`` alike. Only one order and one set of masks
    are used (no order-agnostic ensembles).

    References:
        Germain, Gregor, Murray, Larochelle. MADE: Masked Autoencoder for
        Distribution Estimation. ICML 2015. https://arxiv.org/abs/1502.03509

    Example::

        >>> import torch, pyro_autoregressive as par
        >>> made = par.MADE(3, par.heads.Categorical(4), hidden_sizes=(16, 16), order=[2, 0, 1])
        >>> x = made.condition().sample((5,))
        >>> made.condition().log_prob(x).shape
        torch.Size([5])
    """

    def __init__(
        self,
        event_size: int,
        head: Head,
        hidden_sizes: Sequence[int] = (256, 256),
        context_size: int = 0,
        order: Sequence[int] | str | None = None,
        one_hot: bool = False,
    ) -> None:
        super().__init__(head, context_size=context_size)
        event_size = check_int("event_size", event_size, 1)
        one_hot = check_bool("one_hot", one_hot)
        if isinstance(hidden_sizes, (str, bytes)) or not isinstance(hidden_sizes, Sequence):
            raise TypeError(f"hidden_sizes: expected a sequence of ints >= 1, got {type(hidden_sizes).__name__}")
        hidden_sizes = tuple(check_int(f"hidden_sizes[{k}]", h, 1) for k, h in enumerate(hidden_sizes))
        if one_hot and not isinstance(head, DiscreteHead):
            raise ValueError(f"one_hot: needs a discrete head, got {head!r}")
        if order is None:
            order = list(range(event_size))
        elif isinstance(order, str):
            if order != "random":
                raise ValueError(f"order: expected None, a permutation or 'random', got {order!r}")
            order = torch.randperm(event_size).tolist()
            self._resolved_arguments = {"order": order}  # saved as the permutation drawn
        order = [check_int(f"order[{k}]", i) for k, i in enumerate(order)]
        if sorted(order) != list(range(event_size)):
            raise ValueError(f"order: expected a permutation of 0..{event_size - 1}, got {order}")
        self.event_size = event_size
        self.order = order
        self.one_hot = one_hot

        num_features = head.num_classes if one_hot else 1
        num_params = head.num_params(1)
        rank = torch.empty(event_size, dtype=torch.long)
        rank[torch.tensor(order)] = torch.arange(event_size)  # step at which dimension d is drawn
        input_degrees = rank.repeat_interleave(num_features)  # (D*F,), dimension-major
        output_degrees = rank.repeat_interleave(num_params)  # (D*P,)
        masks, direct = made_masks(input_degrees, hidden_sizes, output_degrees)
        self.layers = nn.ModuleList(MaskedLinear(mask) for mask in masks)
        self.direct = MaskedLinear(direct, bias=False)
        # the context enters the first layer and, past hidden layers, the output, unmasked
        self.context_in = nn.Linear(context_size, masks[0].shape[0]) if context_size else None
        self.context_out = None
        if context_size and hidden_sizes:
            self.context_out = nn.Linear(context_size, output_degrees.numel(), bias=False)

    def layout(self, length: int | None = None) -> StepLayout:
        if length is not None:
            raise TypeError(f"length: MADE has a fixed event size ({self.event_size}), got length={length}")
        return PermutedLayout(self.order)

    def output_layers(self) -> tuple[nn.Module, ...]:
        """The last masked layer, the direct connection and the context's paths to the output."""
        layers = [self.layers[-1], self.direct, self.context_out]
        if len(self.layers) == 1:  # no hidden layer: the context enters the output layer itself
            layers.append(self.context_in)
        return tuple(layer for layer in layers if layer is not None)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if self.one_hot:
            assert isinstance(self.head, DiscreteHead), "checked in __init__"
            return F.one_hot(x, self.head.num_classes).to(self.dtype)  # (N, D, K)
        return super().embed(x)  # (N, D, 1)

    def network(
        self, h: torch.Tensor, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        N, D, F_ = h.shape
        x = h.reshape(N, D * F_)  # dimension-major, matching the input degrees
        out = x
        for i, layer in enumerate(self.layers):
            out = layer(out)
            if i == 0 and self.context_in is not None and context is not None:
                out = out + self.context_in(context)
            if i < len(self.layers) - 1:
                out = torch.relu(out)
        if self.context_out is not None and context is not None:
            out = out + self.context_out(context)
        out = out + self.direct(x)  # (N, D*P)
        return out.unflatten(-1, (D, -1))[:, self.order]  # (N, D, P) in step order (N may be 0)
