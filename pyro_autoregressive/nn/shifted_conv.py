"""The layers of PixelCNN++: down- and down-right-shifted convolutions and gated resnet blocks.

Causal by shifting instead of masking (Salimans et al. 2017): a ``down`` convolution's output
``(i, j)`` sees rows above and including ``i``, a ``down-right`` one also only columns up to ``j``;
the model shifts the streams once more so that no output sees its own pixel. Each layer has
``forward`` (the whole image) and ``at`` (one row or one position, from a
:class:`~pyro_autoregressive.nn.grid_cache.GridCache`), which the cached sampler uses.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .buffer import padded
from .grid_cache import GridCache
from .pointwise import Pointwise2d

__all__ = ["GatedResnet", "ShiftedConv2d", "ShiftedDeconv2d", "concat_elu", "down_shift", "right_shift"]

Conv = Callable[..., torch.Tensor]


def concat_elu(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    r"""``elu([x, -x])`` over the channels: ``(N, F, H, W) -> (N, 2F, H, W)``, written into ``out`` if given.

    ``out`` (any strides, e.g. the inside of a padded convolution input) takes one
    exponential per input value instead of two: with :math:`e = \operatorname{expm1}(-|x|)`,

    .. math::
        \operatorname{elu}(x) = \max(x, e), \qquad \operatorname{elu}(-x) = \max(-x, e),

    exactly, since :math:`\operatorname{expm1}(y) \ge y` (``elu`` is ``expm1`` on the negative side).
    """
    if out is None:
        return F.elu(torch.cat([x, -x], dim=1))
    channels = x.shape[1]
    e = torch.expm1(x.abs().neg_())
    if torch.is_grad_enabled() and (x.requires_grad or out.requires_grad):  # out= records no gradient
        out[:, :channels] = torch.maximum(x, e)
        out[:, channels:] = torch.maximum(-x, e)
    else:
        torch.maximum(x, e, out=out[:, :channels])
        torch.maximum(x.neg(), e, out=out[:, channels:])
    return out


def down_shift(x: torch.Tensor) -> torch.Tensor:
    """Move every row one down (a zero row on top): row ``i`` then holds row ``i - 1``."""
    shifted, inside = padded(x[..., :-1, :], x.shape[1], (0, 0, 1, 0))
    inside.copy_(x[..., :-1, :])
    return shifted


def right_shift(x: torch.Tensor) -> torch.Tensor:
    """Move every column one right (a zero column on the left)."""
    shifted, inside = padded(x[..., :-1], x.shape[1], (1, 0, 0, 0))
    inside.copy_(x[..., :-1])
    return shifted


class ShiftedConv2d(nn.Conv2d):
    """Output ``(i, j)`` sees rows ``i - kh + 1 .. i``, columns centred on ``j`` (down) or ending at it (down-right)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int], right: bool, stride: int = 1):
        super().__init__(in_channels, out_channels, kernel, stride=stride)
        kh, kw = kernel
        self._padding = (kw - 1, 0, kh - 1, 0) if right else (kw // 2, kw // 2, kh - 1, 0)

    def forward(self, x: torch.Tensor, pre: Conv | None = None) -> torch.Tensor:
        """``conv(pad(pre(x)))`` on whole maps, ``(N, C, H, W) -> (N, out, H', W')``; ``pre`` None: the identity.

        The padded input is one buffer in ``x``'s memory format; ``pre(x, out=inside)`` writes
        its ``(N, in, H, W)`` result straight into it (no separate padding copy).
        """
        buffer, inside = padded(x, self.in_channels, self._padding)
        if pre is None:
            inside.copy_(x)
        else:
            pre(x, out=inside)
        return super().forward(buffer)

    def at(self, grid: GridCache, r: int, c: int | None = None) -> torch.Tensor:
        """One output row or position of :meth:`forward`, from the input window it sees in ``grid``.

        Row ``r`` ``(N, out, 1, W_out)`` when ``c`` is None, else position ``(r, c)``
        ``(N, out, 1, 1)``; the window has zeros outside the image, as the padding.
        """
        kh, kw = self.kernel_size
        stride = self.stride[0]
        left, right, top, _ = self._padding
        if c is None:
            window = grid.window(r * stride - top, -left, kh, grid.width + left + right)  # (N, in, kh, W + kw - 1)
            return super().forward(window)
        patch = grid.patch(r * stride - top, c * stride - left, kh, kw)  # (N, in * kh * kw)
        return F.linear(patch, self.weight.flatten(1), self.bias)[:, :, None, None]  # one position


class ShiftedDeconv2d(nn.ConvTranspose2d):
    """Stride-2 transposed convolution cropped so that it keeps the causal shift of :class:`ShiftedConv2d`.

    Input row ``a`` reaches output rows ``2a`` and ``2a + 1`` only (``kh = 2``), and with the ``(2, 2)``
    kernel input ``(a, b)`` the ``2 x 2`` block at ``(2a, 2b)`` only: :meth:`forward` on one input row
    (position) gives exactly those output rows (that block), which the cached state uses.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int], right: bool):
        super().__init__(in_channels, out_channels, kernel, stride=2, output_padding=1)
        self.right = right

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``(N, in, h, w)`` to ``(N, out, 2h, 2w)``: the transposed convolution, cropped to keep the shift."""
        y = super().forward(x)  # (N, out, 2h + kh - 1, 2w + kw - 1)
        kh, kw = self.kernel_size
        height, width = y.shape[-2] - kh + 1, y.shape[-1] - kw + 1
        left = 0 if self.right else (kw - 1) // 2
        return y[..., :height, left : left + width]  # (N, out, 2h, 2w)


class GatedResnet(nn.Module):
    """``x + a * sigmoid(b)`` with ``[a, b] = conv(dropout(concat_elu(conv(concat_elu(x)) + nin(aux)))) + cond``."""

    def __init__(self, channels: int, right: bool, aux_channels: int, dropout: float) -> None:
        super().__init__()
        kernel = (2, 2) if right else (2, 3)
        self.conv1 = ShiftedConv2d(2 * channels, channels, kernel, right)
        self.aux = Pointwise2d(2 * aux_channels, channels) if aux_channels else None
        self.dropout = nn.Dropout(dropout)
        self.conv2 = ShiftedConv2d(2 * channels, 2 * channels, kernel, right)

    def forward(
        self,
        x: torch.Tensor,
        aux: torch.Tensor | None,
        cond: torch.Tensor | None,
        convs: tuple[Conv, Conv] | None = None,
    ) -> torch.Tensor:
        """``x (N, F, H, W)`` to the same; ``convs`` stand in for the two shifted convolutions (see :meth:`at`)."""
        conv1, conv2 = convs or (self.conv1, self.conv2)
        c = conv1(x, concat_elu)  # conv1(concat_elu(x))
        if self.aux is not None and aux is not None:
            c = c + self.aux(aux, concat_elu)  # aux(concat_elu(aux))
        c = conv2(c, self._dropped_concat_elu)  # (N, 2F, H, W)
        if cond is not None:
            c = c + cond
        a, b = c.chunk(2, dim=1)
        return x + a * torch.sigmoid(b)

    def _dropped_concat_elu(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """``dropout(concat_elu(x))``, written into ``out`` if given."""
        y = concat_elu(x, out)
        if not (self.training and self.dropout.p):
            return y
        dropped = self.dropout(y)
        return dropped if out is None else out.copy_(dropped)

    def at(
        self,
        grids: tuple[GridCache, GridCache],
        x: torch.Tensor,
        aux: torch.Tensor | None,
        cond: torch.Tensor | None,
        r: int,
        c: int | None = None,
    ) -> torch.Tensor:
        """:meth:`forward` at row ``r`` (``c`` None) or position ``(r, c)``, given ``x``, ``aux`` and ``cond`` there.

        The convolutions' inputs are written to ``grids`` (one per convolution) and
        their windows read back, so earlier rows (positions) must have been computed.
        """
        inputs, middle = grids
        return self.forward(x, aux, cond, (inputs.feed(self.conv1, r, c), middle.feed(self.conv2, r, c)))
