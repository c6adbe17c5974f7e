"""Row caches for fast raster-order generation with causal convolutions (tensors only, no Pyro)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DownShiftedConv2d", "RowCache"]


class DownShiftedConv2d(nn.Conv2d):
    r"""A convolution over the rows above a pixel (the vertical stack of Gated PixelCNN).

    Output row :math:`i` sees input rows :math:`i - s - k_h + 1, \dots, i - s`
    and columns :math:`j - \lfloor k_w/2 \rfloor, \dots, j + \lfloor k_w/2 \rfloor`:

    .. math:: y_{o,i,j} = b_o + \sum_{c,u,v} W_{o,c,u,v}\, x_{c,\, i - s - k_h + 1 + u,\, j - \lfloor k_w/2 \rfloor + v}

    With ``shift = 1`` a row sees only the rows strictly above it (the first
    layer); with ``shift = 0`` also its own row of the previous vertical layer.

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
        # (N, in, H, W) -> (N, out, H, W)
        height = x.shape[-2]
        kh, kw = self.kernel_size
        padded = F.pad(x, (kw // 2, kw // 2, kh - 1 + self.shift, 0))  # (N, in, H + kh - 1 + s, W + kw - 1)
        return F.conv2d(padded, self.weight, self.bias)[..., :height, :]

    def row(self, rows: list[torch.Tensor]) -> torch.Tensor:
        """One output row ``(N, out, W)`` from the last ``<= kh`` input rows it sees, each ``(N, in, W)``.

        Missing rows at the top of the image are zeros, as in :meth:`forward`.
        """
        kh, kw = self.kernel_size
        rows = rows[-kh:]
        window = torch.stack(rows, dim=-2)  # (N, in, r, W)
        window = F.pad(window, (kw // 2, kw // 2, kh - len(rows), 0))  # (N, in, kh, W + kw - 1)
        return F.conv2d(window, self.weight, self.bias)[..., 0, :]


class RowCache:
    r"""What a raster-causal convolution still needs while an image is generated (Ramachandran et al. 2017).

    For a kernel ``(kh, kw)`` whose centre tap is ``(ch, cw)`` and whose taps
    after the centre are masked, the output at :math:`(i, j)` splits into

    .. math::
        y_{i,j} = \underbrace{\textstyle\sum_{u < c_h} W_u * x_{i-c_h+u}}_{\text{rows above: once per row}}
        + \underbrace{\textstyle\sum_{v \le c_w} W_{c_h, v}\, x_{i,\, j - c_w + v}}_{\text{this row: per pixel}} + b.

    The cache keeps the last ``ch`` complete input rows and the current row's
    committed columns; the rows-above part is one convolution per row, the
    rest one small matrix product per pixel. Nothing is written in place, so
    autograd can differentiate through generation.

    :param weight: the masked weight ``(out, in, kh, kw)``.
    :param bias: ``(out,)`` or None.
    :param center: the centre tap ``(ch, cw)``; taps right of it must be masked.
    :param width: image width ``W``.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, center: tuple[int, int], width: int) -> None:
        kw = weight.shape[-1]  # weight: (out, in, kh, kw)
        ch, cw = center
        self.ch, self.cw, self.kw, self.width = ch, cw, kw, width
        self.above_weight = weight[:, :, :ch, :] if ch else None  # (out, in, ch, kw)
        self.row_weight = weight[:, :, ch, : cw + 1].flatten(1)  # (out, in * (cw + 1)), in-major
        self.bias = bias
        self.rows: list[torch.Tensor] = []  # complete input rows, each (N, in, W)
        self.cols: list[torch.Tensor] = []  # this row's committed inputs, each (N, in)
        self.above: torch.Tensor | None = None  # (N, out, W)
        self._new_row = True

    def _start_row(self) -> None:
        self._new_row = False
        if self.above_weight is None:
            return
        rows = self.rows[-self.ch :]
        if not rows:
            self.above = None  # first row: only zeros above
            return
        window = torch.stack(rows, dim=-2)  # (N, in, r, W)
        pad = (self.cw, self.kw - 1 - self.cw, self.ch - len(rows), 0)
        self.above = F.conv2d(F.pad(window, pad), self.above_weight)[..., 0, :]  # (N, out, W)

    def output(self, center: torch.Tensor) -> torch.Tensor:
        """Output ``(N, out)`` at the next pixel, given its input ``center (N, in)`` (not committed)."""
        if self._new_row:
            self._start_row()
        j = len(self.cols)
        zero = torch.zeros_like(center)
        taps = [self.cols[j - self.cw + v] if j - self.cw + v >= 0 else zero for v in range(self.cw)]
        patch = torch.stack([*taps, center], dim=-1).flatten(1)  # (N, in * (cw + 1))
        out = F.linear(patch, self.row_weight, self.bias)
        if self.above is not None:
            out = out + self.above[..., j]
        return out

    def commit(self, value: torch.Tensor) -> None:
        """Store the input ``(N, in)`` of the pixel just generated; a complete row moves to ``rows``."""
        self.cols.append(value)
        if len(self.cols) == self.width:
            if self.ch:
                self.rows = [*self.rows, torch.stack(self.cols, dim=-1)][-self.ch :]  # each (N, in, W)
            self.cols = []
            self._new_row = True
