"""1x1 convolutions that run as a matrix product on the one position (or row) of a generation step.

On one position a matrix product is several times faster than a convolution (batch 64:
about 4x on CPU); on whole maps the convolution is kept.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .buffer import padded

__all__ = ["Pointwise1d", "Pointwise2d"]


def _one_position(conv: nn.Conv1d | nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution on one position ``(N, in)`` as a matrix product (parameters read from the module's
    dicts: this runs once per layer and generation step)."""
    weight = conv._parameters["weight"]
    return F.linear(x, weight.view(weight.shape[0], -1), conv._parameters["bias"])


class Pointwise1d(nn.Conv1d):
    """A 1x1 ``Conv1d`` (same parameters) that also takes one step ``(N, in)`` (a matrix product)."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _one_position(self, x) if x.dim() == 2 else super().forward(x)


class Pointwise2d(nn.Conv2d):
    """A 1x1 ``Conv2d`` (same parameters) that takes one position ``(N, in)`` or one row ``(N, in, 1, W)``
    as a matrix product (several times faster than a convolution there)."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor, pre: Callable[..., torch.Tensor] | None = None) -> torch.Tensor:
        """The convolution of ``pre(x)`` (``pre`` None: the identity); on whole maps ``(N, C, H, W)``,
        ``pre(x, out=buffer)`` writes into a buffer ``(N, in, H, W)`` in ``x``'s memory format."""
        if pre is not None and x.dim() == 4 and x.shape[-2] > 1:
            x = pre(x, out=padded(x, self.in_channels, (0, 0, 0, 0))[0])
        elif pre is not None:
            x = pre(x)
        if x.dim() == 2:
            return _one_position(self, x)
        if x.shape[-2] == 1:  # a row or a position of a generation step: (N, in, 1, W)
            return F.linear(x.movedim(1, -1), self.weight[:, :, 0, 0], self.bias).movedim(-1, 1)
        return super().forward(x)
