"""Raster-causal 2D convolutions: PixelCNN's type A / type B masks with channel groups."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .buffer import padded
from .grid_cache import GridCache

__all__ = ["MaskedConv2d", "channel_groups", "conv_mask"]


def channel_groups(num_channels: int, groups: int) -> torch.Tensor:
    """Group index of each of ``num_channels`` channels split into ``groups`` contiguous blocks.

    Group ``g`` is the data channel (R = 0, G = 1, B = 2) that the features belong to.

    :raises ValueError: if ``num_channels`` is not a positive multiple of ``groups``.
    """
    if groups < 1 or num_channels < 1 or num_channels % groups:
        raise ValueError(
            f"num_channels: expected a positive multiple of the {groups} channel groups, got {num_channels}"
        )
    return torch.arange(num_channels) // (num_channels // groups)


def conv_mask(
    out_groups: torch.Tensor,
    in_groups: torch.Tensor,
    kernel_size: tuple[int, int],
    mask_type: str,
    center: tuple[int, int] | None = None,
) -> torch.Tensor:
    r"""The 0/1 mask ``(out, in, kh, kw)`` of a raster-causal convolution (van den Oord et al. 2016).

    Relative to the output pixel (the kernel's ``center``), taps before it in
    raster order (rows above, and the same row to the left) are open for every
    pair of channels; taps after it are closed. At the centre tap, output group
    ``g`` sees input group ``g'`` if

    .. math:: g' < g \ \text{(type A)}, \qquad g' \le g \ \text{(type B)},

    so with groups R, G, B the R features of a pixel see only the context, G
    also R, and B also R and G. Type A is for the first layer (the pixel must
    not see its own value), type B for the layers after it.

    :param out_groups: group index of each output channel, ``(out,)``.
    :param in_groups: group index of each input channel, ``(in,)``.
    :param kernel_size: ``(kh, kw)``.
    :param mask_type: ``"A"`` or ``"B"``.
    :param center: the tap aligned with the output pixel (default ``(kh // 2, kw // 2)``).
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type: expected 'A' or 'B', got {mask_type!r}")
    kh, kw = kernel_size
    ch, cw = center if center is not None else (kh // 2, kw // 2)
    if not (0 <= ch < kh and 0 <= cw < kw):
        raise ValueError(f"center: expected a tap inside the kernel {kernel_size}, got {(ch, cw)}")
    rows = torch.arange(kh)[:, None]
    cols = torch.arange(kw)[None, :]
    before = (rows < ch) | ((rows == ch) & (cols < cw))  # (kh, kw)
    at_center = (rows == ch) & (cols == cw)
    if mask_type == "A":
        sees = out_groups[:, None] > in_groups[None, :]
    else:
        sees = out_groups[:, None] >= in_groups[None, :]  # (out, in)
    mask = before[None, None] | (at_center[None, None] & sees[:, :, None, None])
    return mask.float()


class MaskedConv2d(nn.Conv2d):
    r"""A 2D convolution whose kernel is masked to be raster-causal (PixelCNN).

    The output at pixel :math:`(i, j)` is

    .. math::
        y_{o,i,j} = b_o + \sum_{c, u, v} (W \odot M)_{o,c,u,v}\, x_{c,\, i + u - c_h,\, j + v - c_w},

    with the mask :math:`M` of :func:`conv_mask` and zero padding that keeps the
    image size, so :math:`y_{i,j}` depends only on pixels before :math:`(i, j)`
    in raster order and, at :math:`(i, j)` itself, on the channel groups the mask
    type allows. The mask is a buffer, applied functionally on every call.

    :param in_channels: input channels (a multiple of ``data_channels``).
    :param out_channels: output channels (a multiple of ``data_channels``).
    :param kernel_size: ``k`` or ``(kh, kw)``.
    :param mask_type: ``"A"`` (first layer: no centre-tap self-connection) or ``"B"``.
    :param data_channels: number of channel groups (``C`` of the image for
        channel masks, 1 to treat all features of a pixel alike).
    :param center: the tap aligned with the output (default: the kernel's middle);
        ``(0, k - 1)`` on a ``(1, k)`` kernel gives a left-only row convolution.
    :param in_groups: explicit group of each input channel (default: contiguous blocks).
    :param out_groups: explicit group of each output channel (default: contiguous blocks).
    :param bias: whether to add a learnable bias.

    References:
        van den Oord, Kalchbrenner, Kavukcuoglu. Pixel Recurrent Neural Networks.
        ICML 2016. https://arxiv.org/abs/1601.06759

    Example::

        >>> import torch
        >>> conv = MaskedConv2d(3, 6, 7, mask_type="A", data_channels=3)
        >>> conv(torch.randn(2, 3, 8, 8)).shape
        torch.Size([2, 6, 8, 8])
    """

    mask: torch.Tensor

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        mask_type: str = "B",
        data_channels: int = 1,
        center: tuple[int, int] | None = None,
        in_groups: torch.Tensor | None = None,
        out_groups: torch.Tensor | None = None,
        bias: bool = True,
    ) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        super().__init__(in_channels, out_channels, (kh, kw), bias=bias)
        if in_groups is None:
            in_groups = channel_groups(in_channels, data_channels)
        if out_groups is None:
            out_groups = channel_groups(out_channels, data_channels)
        if in_groups.shape != (in_channels,) or out_groups.shape != (out_channels,):
            raise ValueError(
                f"in_groups/out_groups: expected shapes ({in_channels},) and ({out_channels},), "
                f"got {tuple(in_groups.shape)} and {tuple(out_groups.shape)}"
            )
        self.center = center if center is not None else (kh // 2, kw // 2)
        self.mask_type = mask_type
        self._memo: tuple[tuple[int, ...], tuple[torch.Tensor | None, torch.Tensor]] | None = None  # _step_weights
        # derived from the configuration at construction, never saved or loaded (see pyro_autoregressive.save)
        mask = conv_mask(out_groups, in_groups, (kh, kw), mask_type, self.center)
        self.register_buffer("mask", mask, persistent=False)
        ch, cw = self.center
        self._padding = (cw, kw - 1 - cw, ch, kh - 1 - ch)  # left, right, top, bottom

    def masked_weight(self) -> torch.Tensor:
        """``W * M``, shape ``(out, in, kh, kw)`` (a new tensor; the parameter is never modified)."""
        return self.weight * self.mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in, H, W)`` to ``(N, out, H, W)``; a 1x1 convolution also takes one position ``(N, in)``."""
        if x.dim() == 2:  # one position of a generation step: a matrix product
            if self.kernel_size != (1, 1):
                raise ValueError(f"x: a {self.kernel_size} kernel needs its window (see at), got one position")
            return F.linear(x, self._step_weights()[1], self._parameters["bias"])
        if any(self._padding):  # one zero-bordered buffer in x's memory format (F.pad's is contiguous)
            buffer, inside = padded(x, self.in_channels, self._padding)
            inside.copy_(x)
            x = buffer
        return F.conv2d(x, self.masked_weight(), self.bias)

    def at(self, grid: GridCache, r: int, c: int | None = None) -> torch.Tensor:
        r""":meth:`forward` at position ``(r, c)``, ``(N, out)``, from the window of ``grid`` it sees.

        The taps after the centre are masked, so the output splits into the rows
        above the centre, computed once per row for the whole row (one
        convolution, kept by the grid), and the centre row up to the centre, one
        small matrix product per position (Ramachandran et al. 2017):

        .. math::
            y_{i,j} = \underbrace{\textstyle\sum_{u < c_h} W_u * x_{i-c_h+u}}_{\text{rows above}}
            + \underbrace{\textstyle\sum_{v \le c_w} W_{c_h, v}\, x_{i,\, j - c_w + v}}_{\text{this row}} + b
        """
        if c is None:
            raise ValueError(f"c: a masked convolution runs one position at a time, got row {r} without a column")
        ch, cw = self.center
        above, row = self._step_weights()
        taps = grid.taps(r, c - cw, c)  # cw + 1 positions (N, in), up to the centre
        y = F.linear(torch.cat(taps, dim=1) if cw else taps[0], row, self._parameters["bias"])  # (N, out)
        if above is None:
            return y
        terms = grid.row_term(self, r)  # (N, out, W), once per row
        if terms is None:
            window = grid.window(r - ch, -cw, ch, grid.width + self.kernel_size[1] - 1)  # (N, in, ch, W + kw - 1)
            terms = grid.set_row_term(self, r, F.conv2d(window, above)[:, :, 0])
        return y + terms[:, :, c]

    def _step_weights(self) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The masked kernel split for :meth:`at`: rows above the centre ``(out, in, ch, kw)`` (None if
        ``ch = 0``) and the centre row up to the centre as a matrix ``(out, (cw + 1) * in)``, tap-major.

        Without autograd (sampling, evaluation) they are computed once and reused
        while neither the weight nor the mask changes (same storage, same version
        counter): a generation step runs a layer on one position, where slicing
        the kernel would cost as much as the layer. With autograd they are always
        computed anew (a kept tensor must never be saved for backward).
        """
        weight, mask = self._parameters["weight"], self._buffers["mask"]  # (skips nn.Module.__getattr__)
        assert weight is not None and mask is not None
        if torch.is_grad_enabled():
            return self._split(weight * mask)
        key = (weight.data_ptr(), weight._version, mask.data_ptr(), mask._version)
        if self._memo is None or self._memo[0] != key:
            self._memo = (key, self._split(weight * mask))
        return self._memo[1]

    def _split(self, weight: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        ch, cw = self.center
        above = weight[:, :, :ch].contiguous() if ch else None
        return above, weight[:, :, ch, : cw + 1].transpose(1, 2).flatten(1)  # tap-major, as the taps concatenated

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mask_type={self.mask_type!r}, center={self.center}"
