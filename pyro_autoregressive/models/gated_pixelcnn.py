"""Gated PixelCNN: vertical and horizontal stacks without a blind spot, with row-cached sampling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..heads import Head
from ..layout import StepLayout
from ..model import AutoregressiveModel
from ..nn.masked_conv import MaskedConv2d, channel_groups
from ..nn.row_cache import DownShiftedConv2d, RowCache
from ..sampling import IncrementalState
from .pixelcnn import (
    channel_masking,
    check_image_shape,
    check_odd,
    check_positive,
    embed_pixel,
    fixed_image_layout,
    pick,
)

__all__ = ["GatedPixelCNN", "GatedPixelCNNState"]


def gate(x: torch.Tensor) -> torch.Tensor:
    """``tanh(a) * sigmoid(b)`` of the two halves of the channels: ``(N, 2F, ...) -> (N, F, ...)``."""
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedPixelCNN(AutoregressiveModel):
    r"""Gated PixelCNN (van den Oord et al. 2016): two stacks, gated units, no blind spot.

    .. math::
        p(x \mid c) = \prod_{i=1}^{H W} p\big(x_i \mid x_{<i}, c\big), \qquad
        y = \tanh(W_{f} * x + V_f^\top c) \odot \sigma(W_{g} * x + V_g^\top c)

    The *vertical stack* sees the rows strictly above a pixel through
    down-shifted convolutions (``first_kernel_size // 2`` rows in the first
    layer, then ``kernel_size // 2 + 1`` rows of the previous vertical layer,
    the full kernel width); the *horizontal stack* sees the pixels to the left on
    the same row through ``1 x (k // 2 + 1)`` masked convolutions (type A in the
    first layer, type B after), receives the vertical stack of its layer through
    a 1x1 convolution, and has residual connections from the second layer on.
    Together every earlier pixel inside the receptive field is seen. Two 1x1
    layers with ReLUs map the last horizontal layer to the head parameters.

    With a per-channel head (``Categorical``, ``Bernoulli``) and ``C > 1``, the
    horizontal stack carries channel masks (R, then G given R, then B given R and
    G) and ``couples_channels`` is set; the vertical stack needs none. With a
    mixture head the channels are coupled in the head.

    The global ``context`` (a class one-hot, a VAE latent) and the ``local_context``
    map ``(channels, H, W)`` (a PixelVAE decoder's features) are projected to a
    bias of every gate of both stacks (``V^T c`` above, a 1x1 convolution of the map).

    :param image_shape: ``(C, H, W)``.
    :param head: the per-pixel distribution.
    :param hidden_channels: gated features per layer (a multiple of ``C`` with a per-channel head).
    :param num_layers: gated layers (``>= 1``).
    :param context_size: size of the global context vector (0: none).
    :param local_context_channels: channels of the local context map (0: none).
    :param kernel_size: kernel of layers 2.. (odd).
    :param first_kernel_size: kernel of the first layer (odd, ``>= 3``).

    NOTE: the vertical stack here sees only rows strictly above from its first
    layer on, so it is not shifted down before entering the horizontal stack.

    References:
        van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves, Kavukcuoglu.
        Conditional Image Generation with PixelCNN Decoders. NeurIPS 2016.
        https://arxiv.org/abs/1606.05328

        Ramachandran et al. Fast Generation for Convolutional Autoregressive
        Models. ICLR workshop 2017. https://arxiv.org/abs/1704.06001

    Example::

        >>> import torch, pyro_autoregressive as par
        >>> model = par.GatedPixelCNN((1, 4, 4), par.heads.Bernoulli(), hidden_channels=8, num_layers=2,
        ...                           context_size=10)
        >>> d = model.condition(torch.eye(10)[:3])  # one class per image
        >>> d.sample().shape
        torch.Size([3, 1, 4, 4])
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        head: Head,
        hidden_channels: int = 64,
        num_layers: int = 8,
        context_size: int = 0,
        local_context_channels: int = 0,
        kernel_size: int = 3,
        first_kernel_size: int = 7,
    ) -> None:
        super().__init__(head, context_size=context_size, local_context_channels=local_context_channels)
        channels, _, _ = self.image_shape = check_image_shape(image_shape)
        check_positive("hidden_channels", hidden_channels)
        check_positive("num_layers", num_layers)
        check_odd("kernel_size", kernel_size)
        check_odd("first_kernel_size", first_kernel_size, minimum=3)
        self.couples_channels, groups = channel_masking(head, channels, hidden_channels)
        self._config = {
            "image_shape": list(self.image_shape),
            "hidden_channels": hidden_channels,
            "num_layers": num_layers,
            "context_size": context_size,
            "local_context_channels": local_context_channels,
            "kernel_size": kernel_size,
            "first_kernel_size": first_kernel_size,
        }
        self.hidden_channels, self.num_layers = hidden_channels, num_layers
        hid = hidden_channels
        num_features = channels  # embed: one feature per value
        gate_groups = channel_groups(hid, groups).repeat(2)  # (2 * hid,): halves [a, b], same group per pair
        r0, r = first_kernel_size // 2, kernel_size // 2
        self.v_convs = nn.ModuleList(
            [DownShiftedConv2d(num_features, 2 * hid, (r0, first_kernel_size), shift=1)]
            + [DownShiftedConv2d(hid, 2 * hid, (r + 1, kernel_size), shift=0) for _ in range(num_layers - 1)]
        )
        self.h_convs = nn.ModuleList(
            [MaskedConv2d(num_features, 2 * hid, (1, r0 + 1), "A", groups, center=(0, r0), out_groups=gate_groups)]
            + [
                MaskedConv2d(hid, 2 * hid, (1, r + 1), "B", groups, center=(0, r), out_groups=gate_groups)
                for _ in range(num_layers - 1)
            ]
        )
        # the vertical stack sees only rows above: it may feed every channel group
        self.v_to_h = nn.ModuleList(nn.Conv2d(2 * hid, 2 * hid, 1) for _ in range(num_layers))
        self.h_res = nn.ModuleList(MaskedConv2d(hid, hid, 1, "B", groups) for _ in range(num_layers))
        self.conv_out1 = MaskedConv2d(hid, hid, 1, "B", groups)
        self.conv_out2 = MaskedConv2d(hid, head.num_params(channels), 1, "B", groups)
        cond_size = num_layers * 4 * hid  # per layer: vertical and horizontal gate biases
        self.context_proj = nn.Linear(context_size, cond_size) if context_size else None
        self.local_proj = nn.Conv2d(local_context_channels, cond_size, 1) if local_context_channels else None

    def layout(self, length: int | None = None) -> StepLayout:
        return fixed_image_layout(self, length)

    def conditioning(
        self, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """Per layer, the vertical and horizontal gate biases ``(N, 2 * hidden, H or 1, W or 1)``."""
        total: torch.Tensor | None = None
        if self.context_proj is not None and context is not None:
            total = self.context_proj(context)[:, :, None, None]  # (N, L * 4 * hidden, 1, 1)
        if self.local_proj is not None and local_context is not None:
            local = self.local_proj(local_context)  # (N, L * 4 * hidden, H, W)
            total = local if total is None else total + local
        if total is None:
            return None
        return [tuple(layer.chunk(2, dim=1)) for layer in total.chunk(self.num_layers, dim=1)]  # type: ignore[misc]

    def network(
        self, h: torch.Tensor, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        N, C, H, W, F_ = h.shape
        x = h.permute(0, 1, 4, 2, 3).reshape(N, C * F_, H, W)  # channel-major feature groups
        cond = self.conditioning(context, local_context)
        v_in = h_in = x
        for layer in range(self.num_layers):
            v_pre = self.v_convs[layer](v_in)  # (N, 2 * hidden, H, W): rows above only
            if cond is not None:
                v_pre = v_pre + cond[layer][0]
            h_pre = self.h_convs[layer](h_in) + self.v_to_h[layer](v_pre)
            if cond is not None:
                h_pre = h_pre + cond[layer][1]
            v_in = gate(v_pre)  # (N, hidden, H, W)
            update = self.h_res[layer](gate(h_pre))
            h_in = update if layer == 0 else h_in + update
        y = self.conv_out2(torch.relu(self.conv_out1(torch.relu(h_in))))  # (N, P, H, W)
        return y.flatten(2).transpose(1, 2)  # (N, H * W, P) in raster order

    def incremental_state(
        self,
        layout: StepLayout,
        context: torch.Tensor | None,
        local_context: torch.Tensor | None,
        batch_size: int,
    ) -> IncrementalState:
        return GatedPixelCNNState(self, layout, context, local_context, batch_size)


def _pointwise(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor | None]:
    weight = conv.masked_weight() if isinstance(conv, MaskedConv2d) else conv.weight
    return weight[:, :, 0, 0], conv.bias  # (out, in)


class GatedPixelCNNState(IncrementalState):
    """Row caches for :class:`GatedPixelCNN` (Ramachandran et al. 2017).

    The vertical stack runs once per row, as one convolution per layer over the
    cached rows above; each pixel then costs one column of the horizontal stack,
    whose ``1 x (k // 2 + 1)`` convolutions read the current row's cached inputs
    (:class:`~pyro_autoregressive.nn.row_cache.RowCache`).
    """

    def __init__(
        self,
        model: GatedPixelCNN,
        layout: StepLayout,
        context: torch.Tensor | None,
        local_context: torch.Tensor | None,
        batch_size: int,
    ) -> None:
        self.model = model
        self.channels, _, self.width = model.image_shape
        self.batch_size = batch_size
        self.value_dtype = model.head.value_dtype(model.dtype)
        self.step = 0
        self.cond = model.conditioning(context, local_context)
        self.h_caches = [RowCache(c.masked_weight(), c.bias, c.center, self.width) for c in model.h_convs]
        self.v_to_h = [_pointwise(c) for c in model.v_to_h]
        self.h_res = [_pointwise(c) for c in model.h_res]
        self.out1, self.out2 = _pointwise(model.conv_out1), _pointwise(model.conv_out2)
        self.x_rows: list[torch.Tensor] = []  # complete input rows (N, C * F, W)
        self.x_cols: list[torch.Tensor] = []  # this row's inputs (N, C * F)
        self.v_rows: list[list[torch.Tensor]] = [[] for _ in range(model.num_layers)]  # gated vertical rows
        self.v_to_h_row: list[torch.Tensor] = []  # per layer (N, 2 * hidden, W) for the current row
        self._row = -1
        self._column: tuple[list[torch.Tensor], torch.Tensor] | None = None

    def _vertical_row(self, i: int) -> None:
        """Run the vertical stack for row ``i`` (inputs: the complete rows above)."""
        model = self.model
        self.v_to_h_row = []
        inputs = self.x_rows
        for layer, conv in enumerate(model.v_convs):
            if not inputs:  # first row and first layer: nothing above
                v_pre = conv.bias[None, :, None].expand(self.batch_size, -1, self.width)
            else:
                v_pre = conv.row(inputs)  # (N, 2 * hidden, W)
            if self.cond is not None:
                v_pre = v_pre + self.cond[layer][0][:, :, i if self.cond[layer][0].shape[2] > 1 else 0]
            weight, bias = self.v_to_h[layer]
            self.v_to_h_row.append(F.linear(v_pre.transpose(1, 2), weight, bias).transpose(1, 2))
            if layer + 1 < model.num_layers:
                kh = model.v_convs[layer + 1].kernel_size[0]  # rows the next vertical layer reads
                self.v_rows[layer] = [*self.v_rows[layer], gate(v_pre)][-kh:]  # each (N, hidden, W)
                inputs = self.v_rows[layer]
        self._row = i

    def _column_at(self, value: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Horizontal-stack inputs (one per layer) and head parameters ``(N, P)`` at the current pixel."""
        i, j = divmod(self.step, self.width)
        if self._row != i:
            self._vertical_row(i)
        h_in = embed_pixel(self.model, value)  # (N, C * F)
        inputs = []
        for layer, cache in enumerate(self.h_caches):
            inputs.append(h_in)
            h_pre = cache.output(h_in) + self.v_to_h_row[layer][..., j]
            if self.cond is not None:
                h_pre = h_pre + pick(self.cond[layer][1], i, j)
            update = F.linear(gate(h_pre), *self.h_res[layer])
            h_in = update if layer == 0 else h_in + update
        y = F.linear(torch.relu(F.linear(torch.relu(h_in), *self.out1)), *self.out2)
        return inputs, y  # (N, P)

    def _value(self, partial: torch.Tensor | None) -> torch.Tensor:
        known = 0 if partial is None else partial.shape[-1]
        zeros = torch.zeros(self.batch_size, self.channels - known, dtype=self.value_dtype, device=self.model.device)
        return zeros if partial is None or known == 0 else torch.cat([partial, zeros], dim=-1)

    def params(self, partial: torch.Tensor | None = None) -> torch.Tensor:
        known = 0 if partial is None else partial.shape[-1]
        column = self._column_at(self._value(partial))
        if not self.model.couples_channels or known == self.channels - 1:
            self._column = column  # nothing of this pixel is still unknown to any layer
        return column[1]

    def advance(self, value: torch.Tensor) -> None:
        if self._column is None:
            inputs = self._column_at(value)[0]
        else:
            inputs = [embed_pixel(self.model, value), *self._column[0][1:]]
        for cache, h_in in zip(self.h_caches, inputs, strict=True):
            cache.commit(h_in)
        self.x_cols.append(inputs[0])
        if len(self.x_cols) == self.width:
            kh = self.model.v_convs[0].kernel_size[0]
            self.x_rows = [*self.x_rows, torch.stack(self.x_cols, dim=-1)][-kh:]  # each (N, C * F, W)
            self.x_cols = []
        self._column = None
        self.step += 1
