"""The Diagonal BiLSTM layer of PixelRNN: two LSTMs along the diagonals of a skewed map."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .grid_cache import GridCache
from .lstm_cell import gate_groups, lstm_cell
from .masked_conv import MaskedConv2d
from .pointwise import Pointwise2d

__all__ = ["DiagonalBiLSTMLayer", "DiagonalCache", "DiagonalConv", "both_directions", "skew", "unskew"]


def skew(x: torch.Tensor) -> torch.Tensor:
    """``(N, F, H, W)`` to ``(N, F, H, W + H - 1)`` with row ``i`` moved ``i`` positions to the right (zeros
    elsewhere): column ``s`` of the result is the diagonal ``i + j = s`` of ``x``."""
    N, F_, H, W = x.shape
    flat = F.pad(x, (0, H)).flatten(2)  # rows of W + H: row i starts at i (W + H), so (i, j) lands at i + j
    return flat[:, :, : H * (W + H - 1)].view(N, F_, H, W + H - 1)


def unskew(x: torch.Tensor, width: int) -> torch.Tensor:
    """The inverse of :func:`skew`: ``(N, F, H, W + H - 1)`` to ``(N, F, H, W)``."""
    N, F_, H, _ = x.shape
    flat = F.pad(x.flatten(2), (0, H))  # (N, F, H (W + H - 1) + H) = rows of W + H
    return flat.view(N, F_, H, width + H)[..., :width]


class DiagonalConv(nn.Conv1d):
    r"""The state-to-state convolution of a Diagonal LSTM: ``2 x 1`` down a column of the skewed map.

    On a column ``h (N, F, H)`` of the skewed map (a diagonal of the image) it
    gives :math:`W_0 h_{i-1} + W_1 h_i` at row :math:`i` (zero above the image):
    the states of the pixel above and of the pixel to the left, in image
    coordinates. The teacher-forced pass runs the two directions' convolutions
    as one (:func:`both_directions`, on whole columns); :meth:`at` is the same
    convolution at one position.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 2, bias=False)

    def at(self, above: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        """One position from the states above and to the left, each ``(N, F)``, to ``(N, out)``."""
        return F.conv1d(torch.stack([above, left], dim=-1), self.weight)[..., 0]


def both_directions(h: torch.Tensor, first: DiagonalConv, second: DiagonalConv) -> torch.Tensor:
    """Two directions' :class:`DiagonalConv` down a column at once: ``h (N, 2F, n + 1)`` (the first's
    states, then the second's; rows ``i - 1 .. i + n - 1``) to rows ``i .. i + n - 1``, ``(N, 2 out, n)``,
    one grouped convolution."""
    return F.conv1d(h, torch.cat([first.weight, second.weight]), groups=2)


@dataclass
class DiagonalCache:
    """What :meth:`DiagonalBiLSTMLayer.at` keeps: the states of both directions and the input term of the
    right-to-left one, and the pixels' features (the state's input grid, read once per row)."""

    inputs: GridCache
    h: GridCache
    cell: GridCache
    rl_in: GridCache
    rl_h: GridCache
    rl_cell: GridCache
    rl_row: int = -1  # the rows whose right-to-left states are computed: those above rl_row


class DiagonalBiLSTMLayer(nn.Module):
    r"""One Diagonal BiLSTM layer with its residual connection (van den Oord et al. 2016a, section 3.2).

    Two LSTMs run along the diagonals: the map is skewed (:func:`skew`), so that
    a column of the skewed map is a diagonal of the image, and each LSTM steps
    from column to column with a ``1 x 1`` masked (type B) input-to-state
    convolution and a ``2 x 1`` state-to-state convolution (:class:`DiagonalConv`).
    In image coordinates the left-to-right LSTM's state at :math:`(i, j)` reads
    the states at :math:`(i - 1, j)` and :math:`(i, j - 1)`; the right-to-left
    one runs on the mirrored map (states at :math:`(i - 1, j)` and
    :math:`(i, j + 1)`), and its output is shifted down one row so that row
    :math:`i` reads row :math:`i - 1` only. The layer returns
    ``x + W (h_lr + shift(h_rl))``.

    As the shifted right-to-left states are read only by the rows below, they
    may see every pixel of their own row: their input-to-state also reads the
    pixels' own values (``inputs``, a 1x1 convolution). Without that, the last
    pixel of a row, which no hidden unit of its own row sees (mask A, then
    mask B), would be invisible to most of the next row whatever the depth. So
    every earlier pixel in raster order reaches each output: no blind spot.

    :param channels: features in and out (``F``), also the hidden size of each direction.
    :param input_channels: features of the pixels' input map.
    :param groups: channel groups (channel masks).

    Example::

        >>> import torch
        >>> layer = DiagonalBiLSTMLayer(4, 1, 1)
        >>> layer(torch.randn(2, 4, 5, 6), torch.randn(2, 1, 5, 6)).shape
        torch.Size([2, 4, 5, 6])
    """

    def __init__(self, channels: int, input_channels: int, groups: int) -> None:
        super().__init__()
        self.input_to_state = MaskedConv2d(
            channels, 8 * channels, 1, "B", groups, out_groups=gate_groups(channels, groups, blocks=8)
        )  # [left-to-right o, f, i, g | right-to-left o, f, i, g]
        self.pixels_to_state = Pointwise2d(input_channels, 4 * channels, bias=False)  # right-to-left only
        self.left_to_right = DiagonalConv(channels, 4 * channels)
        self.right_to_left = DiagonalConv(channels, 4 * channels)
        self.output = MaskedConv2d(channels, channels, 1, "B", groups)
        with torch.no_grad():  # forget gates start open (bias 1), as is usual for LSTMs
            self.input_to_state.bias[channels : 2 * channels] = 1.0
            self.input_to_state.bias[5 * channels : 6 * channels] = 1.0

    def forward(self, x: torch.Tensor, inputs: torch.Tensor | None = None) -> torch.Tensor:
        """``x (N, F, H, W)`` and the pixels' features ``inputs (N, C', H, W)`` to ``(N, F, H, W)``."""
        if inputs is None:
            raise ValueError("inputs: a Diagonal BiLSTM layer reads the pixels' features, got None")
        W = x.shape[-1]
        lr_in, rl_in = self.input_to_state(x).chunk(2, dim=1)  # each (N, 4F, H, W)
        rl_in = rl_in + self.pixels_to_state(inputs)
        # both directions in one scan: the right-to-left one on the mirrored map
        states = unskew(self._scan(torch.cat([skew(lr_in), skew(rl_in.flip(-1))], dim=1)), W)  # (N, 2F, H, W)
        lr, rl = states.chunk(2, dim=1)
        rl = F.pad(rl.flip(-1), (0, 0, 1, 0))[:, :, :-1]  # shifted down: row i reads row i - 1
        return x + self.output(lr + rl)

    def _scan(self, gates: torch.Tensor) -> torch.Tensor:
        """Both LSTMs over the columns of skewed gates ``(N, 2 * 4F, H, S)`` (left-to-right, then
        right-to-left on the mirrored map): their hidden states ``(N, 2F, H, S)``.

        Column ``s`` holds the pixels ``(i, s - i)``; only the rows of those inside the image are
        computed. Below them (``j < 0``) the states are zero, as the skewed map's zero gates and
        zero neighbours give; above them (``j >= W``) they are never read and are left zero.
        """
        N, G, H, S = gates.shape
        width = S - H + 1
        h = gates.new_zeros(N, G // 4, H)
        cell = gates.new_zeros(N, 2, G // 8, H)
        states = []
        for s in range(S):
            lo, hi = max(0, s - width + 1), min(H, s + 1)  # the rows inside the image: lo .. hi - 1
            window = h[..., lo - 1 : hi] if lo else F.pad(h[..., :hi], (1, 0))  # and the row above them
            pre = gates[:, :, lo:hi, s] + both_directions(window, self.left_to_right, self.right_to_left)
            inside, cell = lstm_cell(pre.view(N, 2, G // 2, hi - lo), cell[..., lo:hi], dim=2)
            h = F.pad(inside.flatten(1, 2), (lo, H - hi))  # (N, 2F, H)
            cell = F.pad(cell, (lo, H - hi))
            states.append(h)
        return torch.stack(states, dim=-1)

    def cache(self, zero: torch.Tensor, height: int, width: int, inputs: GridCache) -> DiagonalCache:
        """An empty :class:`DiagonalCache` for ``zero (N, F, 1, 1)`` maps of ``height x width``."""
        gates = zero.new_zeros(zero.shape[0], 4 * zero.shape[1], 1, 1)

        def grid(like: torch.Tensor, keep: int) -> GridCache:
            return GridCache(like, height, width, keep)

        return DiagonalCache(inputs, grid(zero, 2), grid(zero, 1), grid(gates, 2), grid(zero, 2), grid(zero, 1))

    def at(self, cache: DiagonalCache, x: torch.Tensor, r: int, c: int) -> torch.Tensor:
        """:meth:`forward` at position ``(r, c)`` of ``x (N, F)``.

        The left-to-right state is one cell update here; the right-to-left
        states of the row above are computed when the row's first position
        comes (the row is then complete), right to left along that row.
        """
        if cache.rl_row != r:
            if r > 0:
                self._right_to_left_row(cache, r - 1)
            cache.rl_row = r
        lr_in, rl_in = self.input_to_state(x).chunk(2, dim=1)  # (N, 4F) each
        cache.rl_in.put(rl_in, r, c)
        gates = lr_in + self.left_to_right.at(cache.h.at(r - 1, c), cache.h.at(r, c - 1))
        h, cell = lstm_cell(gates, cache.cell.at(r, c - 1))
        cache.h.put(h, r, c)
        cache.cell.put(cell, r, c)
        return x + self.output(h + cache.rl_h.at(r - 1, c))

    def _right_to_left_row(self, cache: DiagonalCache, r: int) -> None:
        """The right-to-left states of the complete row ``r``, from its right end to its left."""
        pixels = self.pixels_to_state(cache.inputs.row(r))[:, :, 0]  # (N, 4F, W)
        for c in reversed(range(cache.h.width)):
            gates = cache.rl_in.at(r, c) + pixels[:, :, c]
            gates = gates + self.right_to_left.at(cache.rl_h.at(r - 1, c), cache.rl_h.at(r, c + 1))
            h, cell = lstm_cell(gates, cache.rl_cell.at(r, c + 1))
            cache.rl_h.put(h, r, c)
            cache.rl_cell.put(cell, r, c)
