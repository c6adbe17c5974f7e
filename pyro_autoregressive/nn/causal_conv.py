"""Causal (dilated) 1-d convolutions and the queues that run them one step at a time."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CausalConv1d", "ConvQueue", "shift_right"]


def shift_right(x: torch.Tensor, steps: int = 1) -> torch.Tensor:
    """Delay a sequence ``(N, C, T)`` by ``steps``: ``y[..., t] = x[..., t - steps]``, zeros before the start.

    Applied to a network's input it makes the next causal layers *strictly* causal:
    position ``t`` then sees only ``x_{<t}``.
    """
    if steps < 0:
        raise ValueError(f"steps: expected an int >= 0, got {steps}")
    length = x.shape[-1]
    return F.pad(x, (steps, 0))[..., :length]  # (N, C, T + steps) -> (N, C, T)


class CausalConv1d(nn.Conv1d):
    r"""A dilated convolution whose output at ``t`` sees the inputs ``t - d (k - 1), ..., t - d, t``.

    .. math:: y_t = b + \sum_{j=0}^{k-1} W_{:, :, j}\, x_{t - d (k - 1 - j)}

    The sequence is padded on the left with ``d (k - 1)`` zeros, so the output has
    the input's length. :meth:`step` computes one output from the ``k`` inputs it
    reads, for generation with a :class:`ConvQueue`.

    :param in_channels: input channels.
    :param out_channels: output channels.
    :param kernel_size: ``k``, the number of taps.
    :param dilation: ``d``, the spacing of the taps.

    Example::

        >>> import torch
        >>> conv = CausalConv1d(2, 3, kernel_size=2, dilation=4)
        >>> conv(torch.randn(5, 2, 10)).shape
        torch.Size([5, 3, 10])
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, bias: bool = True
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, bias=bias)

    @property
    def context_length(self) -> int:
        """The number of past inputs an output reads, ``d (k - 1)``."""
        return self.dilation[0] * (self.kernel_size[0] - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Whole sequences ``(N, in, T)`` to ``(N, out, T)``, left-padded with ``d (k - 1)`` zeros."""
        # (N, C_in, T) -> (N, C_in, T + d(k-1)) -> (N, C_out, T)
        y = F.conv1d(F.pad(x, (self.context_length, 0)), self.weight, dilation=self.dilation)
        # the bias is added apart: a dilated float64 convolution with a bias takes a ~10x slower kernel on CPU
        return y if self.bias is None else y + self.bias.unsqueeze(-1)

    def step(self, window: torch.Tensor) -> torch.Tensor:
        """One output ``(N, C_out)`` from its taps ``window (N, C_in, k)`` (oldest first)."""
        weight = self._parameters["weight"]  # (C_out, C_in, k); read from the dict: this runs at every step
        return F.linear(window.flatten(1), weight.view(weight.shape[0], -1), self._parameters["bias"])


class ConvQueue:
    """The last ``d (k - 1)`` inputs of a :class:`CausalConv1d`, for step-by-step generation.

    Paine et al. (2016): a dilated layer at time ``t`` reads its inputs at
    ``t - d, t - 2d, ...``, all computed before, so it keeps them in a queue
    instead of recomputing the receptive field. The queue is a ring of tensor
    references: pushing replaces a list entry and never writes into a tensor, so
    the tensors stay valid for autograd. :meth:`feed` and :meth:`prime` stand in
    for the convolution in a block's ``forward``, which makes that ``forward``
    the block's one-step method.

    :param initial: ``(N, C)`` value of the inputs before the start (zeros, as the
        padding of :meth:`CausalConv1d.forward`).

    References:
        Paine, Khorrami, Chang, Zhang, Ramachandran, Hasegawa-Johnson, Huang.
        Fast Wavenet Generation Algorithm. 2016. https://arxiv.org/abs/1611.09482
    """

    def __init__(self, initial: torch.Tensor, kernel_size: int, dilation: int) -> None:
        if kernel_size < 1 or dilation < 1:
            raise ValueError(f"kernel_size, dilation: expected ints >= 1, got {kernel_size}, {dilation}")
        self.kernel_size, self.dilation = kernel_size, dilation
        self._ring = [initial] * (dilation * (kernel_size - 1))  # inputs at t - d(k-1), ..., t - 1
        self._oldest = 0

    def __len__(self) -> int:
        return len(self._ring)

    def window(self, current: torch.Tensor) -> torch.Tensor:
        """The ``k`` inputs read at time ``t`` as ``(N, C, k)``, oldest first: ``t - d (k-1), ..., t - d``,
        then ``current (N, C)`` (the input of :meth:`CausalConv1d.step`)."""
        size = len(self._ring)
        taps = [self._ring[(self._oldest + j * self.dilation) % size] for j in range(self.kernel_size - 1)]
        return torch.stack([*taps, current], dim=-1)

    def push(self, current: torch.Tensor) -> None:
        """Enqueue the input ``(N, C)`` of time ``t`` and drop the one of ``t - d (k - 1)``."""
        if self._ring:
            self._ring[self._oldest] = current
            self._oldest = (self._oldest + 1) % len(self._ring)

    def fill(self, history: torch.Tensor) -> None:
        """Replace the queue by the last ``d (k - 1)`` inputs of ``history (N, C, t)`` (zeros before the start)."""
        size = len(self._ring)
        if size == 0:
            return
        history = F.pad(history, (max(size - history.shape[-1], 0), 0))[..., -size:]  # (N, C, size)
        self._ring = list(history.unbind(-1))
        self._oldest = 0

    def feed(self, conv: CausalConv1d) -> Callable[[torch.Tensor], torch.Tensor]:
        """``conv`` at the next step, as a function of its input there ``(N, C)``: reads the taps, pushes it."""

        def run(current: torch.Tensor) -> torch.Tensor:
            window = self.window(current)
            self.push(current)
            return conv.step(window)  # (N, C_out)

        return run

    def prime(self, conv: CausalConv1d) -> Callable[[torch.Tensor], torch.Tensor]:
        """``conv`` over a whole prefix ``(N, C, t)`` (its ``forward``), leaving the prefix's last inputs queued."""

        def run(history: torch.Tensor) -> torch.Tensor:
            self.fill(history)
            return conv(history)

        return run
