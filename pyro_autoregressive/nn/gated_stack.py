"""Gated PixelCNN's layer: a vertical stack over the rows above and a horizontal stack along the row."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .buffer import padded
from .grid_cache import GridCache
from .masked_conv import MaskedConv2d, channel_groups
from .pointwise import Pointwise2d

__all__ = ["DownShiftedConv2d", "GatedLayer", "gate"]

Conv = Callable[[torch.Tensor | None], torch.Tensor]


def gate(x: torch.Tensor) -> torch.Tensor:
    """``tanh(a) * sigmoid(b)`` of the two halves of the channels: ``(N, 2F, ...) -> (N, F, ...)``."""
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class DownShiftedConv2d(nn.Conv2d):
    r"""A convolution over the rows above a pixel (the vertical stack of Gated PixelCNN).

    Output row :math:`i` sees input rows :math:`i - s - k_h + 1, \dots, i - s`
    and columns :math:`j - \lfloor k_w/2 \rfloor, \dots, j + \lfloor k_w/2 \rfloor`:

    .. math:: y_{o,i,j} = b_o + \sum_{c,u,v} W_{o,c,u,v}\, x_{c,\, i - s - k_h + 1 + u,\, j - \lfloor k_w/2 \rfloor + v}

    With ``shift = 1`` a row sees only the rows strictly above it (the first
    layer); with ``shift = 0`` also its own row of the previous vertical layer.
    :meth:`at` computes one output row from a :class:`~pyro_autoregressive.nn.grid_cache.GridCache` of the input.

    :param in_channels: input channels.
    :param out_channels: output channels.
    :param kernel_size: ``(kh, kw)``, ``kw`` odd.
    :param shift: 0 or 1 (see above).

    References:
        van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves, Kavukcuoglu.
        Conditional Image Generation with PixelCNN Decoders. NeurIPS 2016.
        https://arxiv.org/abs/1606.05328

    Example::

        >>> import torch
        >>> DownShiftedConv2d(2, 4, (2, 3), shift=1)(torch.randn(1, 2, 5, 5)).shape
        torch.Size([1, 4, 5, 5])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], shift: int = 1) -> None:
        kh, kw = kernel_size
        if kw % 2 == 0 or kh < 1:
            raise ValueError(f"kernel_size: expected (kh >= 1, odd kw), got {tuple(kernel_size)}")
        if shift not in (0, 1):
            raise ValueError(f"shift: expected 0 or 1, got {shift!r}")
        super().__init__(in_channels, out_channels, (kh, kw))
        self.shift = shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Whole maps ``(N, in, H, W)`` to ``(N, out, H, W)``, each output row from the rows above it."""
        # (N, in, H, W) -> (N, out, H, W)
        height = x.shape[-2]
        kh, kw = self.kernel_size
        buffer, inside = padded(x, self.in_channels, (kw // 2, kw // 2, kh - 1 + self.shift, 0))
        inside.copy_(x)  # buffer: (N, in, H + kh - 1 + s, W + kw - 1) in x's memory format
        return F.conv2d(buffer, self.weight, self.bias)[..., :height, :]

    def at(self, grid: GridCache, r: int, c: int | None = None) -> torch.Tensor:
        """Row ``r`` of :meth:`forward`, ``(N, out, 1, W)``, from the complete rows of ``grid`` it reads."""
        if c is not None:
            raise ValueError(f"c: a down-shifted convolution runs a row at a time, got column {c}")
        kh, kw = self.kernel_size
        window = grid.window(r - self.shift - kh + 1, -(kw // 2), kh, grid.width + kw - 1)  # (N, in, kh, W + kw - 1)
        return F.conv2d(window, self.weight, self.bias)


class GatedLayer(nn.Module):
    r"""One layer of Gated PixelCNN (van den Oord et al. 2016b, figure 2).

    .. math::
        v' &= \tanh(W_{v,f} * v + c_{v,f}) \odot \sigma(W_{v,g} * v + c_{v,g}) \\
        h' &= h + W_r \big[\tanh(a_f) \odot \sigma(a_g)\big], \qquad
        a = W_h * h + U (W_v * v + c_v) + c_h

    The vertical convolution (:class:`DownShiftedConv2d`) sees the rows above;
    the horizontal one is a ``1 x (k // 2 + 1)`` masked convolution along the
    row (type A in the first layer, type B after, with ``groups`` channel groups);
    ``U`` is a 1x1 convolution from the vertical to the horizontal stack and
    ``W_r`` a masked 1x1 convolution. The first layer has no residual connection.

    :meth:`vertical` and :meth:`horizontal` are the layer's two halves; they take
    an optional stand-in for their convolution, so the cached state runs the
    same body a row (vertical) or a position (horizontal) at a time.

    :param in_channels: input features (the first layer) or ``hidden``.
    :param hidden: gated features.
    :param kernel_size: the layer's odd kernel size ``k``.
    :param first: the first layer (rows strictly above, type-A mask, no residual).
    :param groups: channel groups of the horizontal stack (channel masks).
    """

    def __init__(self, in_channels: int, hidden: int, kernel_size: int, first: bool, groups: int) -> None:
        super().__init__()
        r = kernel_size // 2
        v_kernel = (r, kernel_size) if first else (r + 1, kernel_size)
        self.v_conv = DownShiftedConv2d(in_channels, 2 * hidden, v_kernel, shift=1 if first else 0)
        gate_groups = channel_groups(hidden, groups).repeat(2)  # (2 * hidden,): halves [a, b], same group per pair
        self.h_conv = MaskedConv2d(
            in_channels, 2 * hidden, (1, r + 1), "A" if first else "B", groups, center=(0, r), out_groups=gate_groups
        )
        self.v_to_h = Pointwise2d(2 * hidden, 2 * hidden)  # the vertical stack sees only rows above: any group
        self.h_res = MaskedConv2d(hidden, hidden, 1, "B", groups)
        self.residual = not first

    def vertical(
        self, v: torch.Tensor | None, cond: torch.Tensor | None, conv: Conv | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The vertical stack: ``v (N, in, H, W)`` to its output ``(N, hidden, H, W)`` and its term in the
        horizontal stack ``(N, 2 hidden, H, W)``; ``conv`` stands in for ``v_conv``."""
        pre = (conv or self.v_conv)(v)  # type: ignore[arg-type]
        if cond is not None:
            pre = pre + cond
        return gate(pre), self.v_to_h(pre)

    def horizontal(
        self, h: torch.Tensor, from_v: torch.Tensor, cond: torch.Tensor | None, conv: Conv | None = None
    ) -> torch.Tensor:
        """The horizontal stack: ``h (N, in, H, W)`` and the vertical term to ``(N, hidden, H, W)``."""
        pre = (conv or self.h_conv)(h) + from_v
        if cond is not None:
            pre = pre + cond
        update = self.h_res(gate(pre))
        return h + update if self.residual else update
