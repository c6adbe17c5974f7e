"""The Row LSTM layer of PixelRNN: an LSTM down the rows, a whole row of gates at a time."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .gated_stack import DownShiftedConv2d
from .grid_cache import GridCache
from .lstm_cell import gate_groups, lstm_cell
from .masked_conv import MaskedConv2d

__all__ = ["RowLSTMCache", "RowLSTMLayer"]


@dataclass
class RowLSTMCache:
    """What :meth:`RowLSTMLayer.at` keeps: the layer's input along the current row, and the hidden and cell
    states of the row above and the current row."""

    x: GridCache
    h: GridCache
    cell: GridCache


class RowLSTMLayer(nn.Module):
    r"""One Row LSTM layer with its residual connection (van den Oord et al. 2016a, section 3.1).

    Row :math:`i` of the hidden and cell states is computed at once from the
    layer's input ``x`` along row :math:`i` and the hidden state of row :math:`i - 1`:

    .. math::
        [o, f, i, g]_i = K^{is} \circledast x_i + K^{ss} \circledast h_{i-1}, \qquad
        c_i = \sigma(f) \odot c_{i-1} + \sigma(i) \odot \tanh(g), \qquad
        h_i = \sigma(o) \odot \tanh(c_i),

    and the layer returns ``x + W h`` (``W`` a masked 1x1 convolution). The
    input-to-state :math:`K^{is}` is a ``1 x k`` convolution along the row,
    masked type B (the pixel itself and the ``k // 2`` to its left, with channel
    groups), computed for the whole map at once; the state-to-state
    :math:`K^{ss}` is an unmasked ``1 x k`` convolution over the row above
    (a :class:`~pyro_autoregressive.nn.gated_stack.DownShiftedConv2d`), which is
    entirely in the past. The hidden state at :math:`(i, j)` therefore sees a
    triangle: the row above from column :math:`j - k//2` to :math:`j + k//2`, two
    rows above :math:`k // 2` columns wider on each side, and so on; earlier
    pixels outside it (far to the right in the rows above, far to the left in
    the row itself) are not seen by this layer.

    :param channels: features in and out (``F``), also the hidden size.
    :param kernel_size: the odd ``k`` of both ``1 x k`` convolutions.
    :param groups: channel groups (channel masks).

    Example::

        >>> import torch
        >>> RowLSTMLayer(4, 3, 1)(torch.randn(2, 4, 5, 6)).shape
        torch.Size([2, 4, 5, 6])
    """

    def __init__(self, channels: int, kernel_size: int, groups: int) -> None:
        super().__init__()
        r = kernel_size // 2
        self.input_to_state = MaskedConv2d(
            channels, 4 * channels, (1, r + 1), "B", groups, center=(0, r), out_groups=gate_groups(channels, groups)
        )
        self.state_to_state = DownShiftedConv2d(channels, 4 * channels, (1, kernel_size), shift=1)
        self.output = MaskedConv2d(channels, channels, 1, "B", groups)
        with torch.no_grad():  # forget gates start open (bias 1), as is usual for LSTMs
            self.input_to_state.bias[channels : 2 * channels] = 1.0

    def forward(self, x: torch.Tensor, inputs: torch.Tensor | None = None) -> torch.Tensor:
        """``x (N, F, H, W)`` to the same, row by row (``inputs``, the pixels' features, unused)."""
        N, F_, H, W = x.shape
        from_input = self.input_to_state(x)  # (N, 4F, H, W), every row at once
        zero = x.new_zeros(N, F_, 1, 1)
        above = GridCache(zero, H, W, keep=1)  # the hidden state of the row above
        cell = zero.expand(-1, -1, -1, W)
        rows = []
        for r in range(H):
            h, cell = lstm_cell(from_input[:, :, r : r + 1] + self.state_to_state.at(above, r), cell)
            above.put(h, r)
            rows.append(h)
        return x + self.output(torch.cat(rows, dim=2))

    def cache(self, zero: torch.Tensor, height: int, width: int, inputs: GridCache) -> RowLSTMCache:
        """An empty :class:`RowLSTMCache` for ``zero (N, F, 1, 1)`` maps of ``height x width``."""
        return RowLSTMCache(GridCache(zero, height, width, keep=1), *(GridCache(zero, height, width, 2) for _ in "hc"))

    def at(self, cache: RowLSTMCache, x: torch.Tensor, r: int, c: int) -> torch.Tensor:
        """:meth:`forward` at position ``(r, c)`` of ``x (N, F)``: the row above's term once per row, then the
        cell at this position."""
        from_above = cache.h.row_term(self.state_to_state, r)  # (N, 4F, 1, W)
        if from_above is None:
            from_above = cache.h.set_row_term(self.state_to_state, r, self.state_to_state.at(cache.h, r))
        gates = cache.x.feed(self.input_to_state, r, c)(x) + from_above[:, :, 0, c]  # (N, 4F)
        h, cell = lstm_cell(gates, cache.cell.at(r - 1, c))
        cache.h.put(h, r, c)
        cache.cell.put(cell, r, c)
        return x + self.output(h)
