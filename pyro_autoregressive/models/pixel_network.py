"""The frame that PixelCNN and the PixelRNNs share: a mask-A first layer, a stack of blocks, 1x1 mask-B outputs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial

import torch
from torch import nn

from ..checks import check_image_shape, check_int, check_odd
from ..heads import Head
from ..layout import StepLayout
from ..model import AutoregressiveModel
from ..nn.buffer import channels_last
from ..nn.grid_cache import GridCache
from ..nn.masked_conv import MaskedConv2d
from ..sampling import RasterState
from .shared import at_position, channel_masking, feature_map, fixed_image_layout, pixel_features, summed_projection

__all__ = ["PixelNetwork", "PixelNetworkState"]


class PixelNetwork(AutoregressiveModel, abstract=True):
    r"""The architecture of van den Oord et al. (2016a, section 3.4 and table 1), with its blocks left open.

    A ``first_kernel_size`` (7x7) type-A masked convolution from the pixels'
    input features to ``hidden_channels``, ``blocks`` that keep the map's shape
    and its raster causality (PixelCNN's masked residual blocks, Row LSTM or
    Diagonal BiLSTM layers), then ReLU, a 1x1 type-B convolution, ReLU and a
    1x1 type-B convolution to the head parameters. The global ``context`` and
    the ``local_context`` map are projected and added after the first layer and
    before the last. With a per-channel head on ``C > 1`` channels every layer
    is split into ``C`` channel groups (channel masks; ``couples_channels``).

    A block implements ``forward(x, inputs)`` on whole maps and ``at(cache, x, r, c)``
    at one position (its one-step method), with ``cache(zero, height, width, inputs)``
    making what ``at`` keeps between positions; ``inputs`` is the map of the
    pixels' input features (a :class:`~pyro_autoregressive.nn.grid_cache.GridCache`
    of it when sampling), which most blocks ignore.

    :param make_blocks: ``groups -> blocks``, called between the first and the output layers
        (so that parameters are drawn in the order of the network).
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        head: Head,
        hidden_channels: int,
        context_size: int,
        local_context_channels: int,
        first_kernel_size: int,
        make_blocks: Callable[[int], Iterable[nn.Module]],
    ) -> None:
        super().__init__(head, context_size=context_size, local_context_channels=local_context_channels)
        channels, _, _ = self.image_shape = check_image_shape(image_shape)
        hidden_channels = check_int("hidden_channels", hidden_channels, 1)
        # a 1x1 type-A layer has no open tap: no pixel would ever see another one
        first_kernel_size = check_odd("first_kernel_size", first_kernel_size, 3)
        self.couples_channels, groups = channel_masking(head, channels, hidden_channels)
        self.hidden_channels = hidden_channels
        self.conv_in = MaskedConv2d(channels, hidden_channels, first_kernel_size, "A", groups)
        self.blocks = nn.ModuleList(make_blocks(groups))
        self.conv_out1 = MaskedConv2d(hidden_channels, hidden_channels, 1, "B", groups)
        self.conv_out2 = MaskedConv2d(hidden_channels, head.num_params(channels), 1, "B", groups)
        # conditioning enters after the first layer and after the first output layer
        self.context_proj = nn.Linear(context_size, 2 * hidden_channels) if context_size else None
        self.local_proj = nn.Conv2d(local_context_channels, 2 * hidden_channels, 1) if local_context_channels else None

    def layout(self, length: int | None = None) -> StepLayout:
        return fixed_image_layout(self, length)

    def output_layers(self) -> tuple[nn.Module, ...]:
        return (self.conv_out2,)

    def conditioning(
        self, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Additive terms after the first layer and before the last, each ``(N, hidden, H or 1, W or 1)``."""
        total = summed_projection(self.context_proj, context, self.local_proj, local_context)
        if total is None:
            return None, None
        first, last = total.chunk(2, dim=1)
        return first, last

    def network(
        self, h: torch.Tensor, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        x = channels_last(feature_map(h))
        y = self.trunk(x, self.conditioning(context, local_context), inputs=x)  # (N, P, H, W)
        return y.flatten(2).transpose(1, 2)  # (N, H * W, P) in raster order

    def trunk(
        self,
        x: torch.Tensor,
        cond: tuple[torch.Tensor | None, torch.Tensor | None],
        conv_in: Callable[[torch.Tensor], torch.Tensor] | None = None,
        blocks: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
        inputs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The layers: input features ``(N, C * F, H, W)`` to head parameters ``(N, P, H, W)``.

        The cached state runs the same body on one position ``(N, C * F)``, with
        ``conv_in`` and ``blocks`` standing in for the first layer and the blocks
        (which then read ``inputs`` from their caches).
        """
        cond_first, cond_last = cond
        y = (conv_in or self.conv_in)(x)  # (N, hidden, H, W)
        if cond_first is not None:
            y = y + cond_first
        for block in [partial(block, inputs=inputs) for block in self.blocks] if blocks is None else blocks:
            y = block(y)
        y = self.conv_out1(torch.relu(y))
        if cond_last is not None:
            y = y + cond_last
        return self.conv_out2(torch.relu(y))


class PixelNetworkState(RasterState):
    """Cached sampling for a :class:`PixelNetwork`: each new pixel costs one position through the layers.

    The first layer's input (the pixels' features) lives in a
    :class:`~pyro_autoregressive.nn.grid_cache.GridCache` that keeps the rows
    its kernel reads; each block keeps what its one-step method needs (its
    ``cache``). :meth:`column` runs :meth:`PixelNetwork.trunk` at the current
    pixel with the layers' one-step methods (``at``) standing in (Ramachandran
    et al. 2017).
    """

    def start(self) -> None:
        super().start()
        model: PixelNetwork = self.model  # type: ignore[assignment]
        self.cond = model.conditioning(self.context, self.local_context)
        zero = torch.zeros(self.batch_size, model.conv_in.in_channels, 1, 1, dtype=model.dtype, device=model.device)
        # the rows the first kernel reads, and the row above (blocks that read the last complete row)
        self.x = GridCache(zero, self.height, self.width, keep=model.conv_in.center[0] + 2)
        hidden = zero.new_zeros(self.batch_size, model.hidden_channels, 1, 1)
        self.caches = [block.cache(hidden, self.height, self.width, self.x) for block in model.blocks]

    def column(self, value: torch.Tensor) -> torch.Tensor:
        i, j = self.position
        model: PixelNetwork = self.model  # type: ignore[assignment]
        cond = (at_position(self.cond[0], i, j), at_position(self.cond[1], i, j))
        blocks = [partial(block.at, cache, r=i, c=j) for block, cache in zip(model.blocks, self.caches, strict=True)]
        return model.trunk(pixel_features(model, value), cond, self.x.feed(model.conv_in, i, j), blocks)  # (N, P)

    def commit_input(self, value: torch.Tensor) -> None:
        self.x.put(pixel_features(self.model, value), *self.position)


PixelNetwork.state_class = PixelNetworkState
