"""PixelCNN: a stack of raster-causal masked convolutions, with cached sampling (a schedule over its one body)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
from .shared import (
    at_position,
    channel_masking,
    feature_map,
    fixed_image_layout,
    pixel_features,
)

__all__ = ["PixelCNN", "PixelCNNState"]


class _ResidualBlock(nn.Module):
    """``x + 1x1(relu(kxk(relu(1x1(relu(x))))))``, every convolution masked type B."""

    def __init__(self, channels: int, kernel_size: int, groups: int) -> None:
        super().__init__()
        self.conv1 = MaskedConv2d(channels, channels, 1, "B", groups)
        self.conv2 = MaskedConv2d(channels, channels, kernel_size, "B", groups)
        self.conv3 = MaskedConv2d(channels, channels, 1, "B", groups)

    def forward(self, x: torch.Tensor, conv2: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """``(N, F, H, W)`` to the same; ``conv2`` stands in for the ``k x k`` convolution (see :meth:`at`)."""
        h = (conv2 or self.conv2)(torch.relu(self.conv1(torch.relu(x))))
        return x + self.conv3(torch.relu(h))

    def at(self, grid: GridCache, x: torch.Tensor, r: int, c: int) -> torch.Tensor:
        """:meth:`forward` at position ``(r, c)`` of ``x (N, F)``; ``grid`` holds the ``k x k`` input."""
        return self.forward(x, grid.feed(self.conv2, r, c))


class PixelCNN(AutoregressiveModel):
    r"""PixelCNN (van den Oord et al. 2016): masked convolutions over an image in raster order.

    .. math::
        p(x \mid c) = \prod_{i=1}^{H W} p\big(x_i \mid x_{<i}, c\big), \qquad
        p(x_i \mid x_{<i}) = \prod_{k} p(x_{i,k} \mid x_{i,<k}, x_{<i})

    A ``first_kernel_size`` (7x7) type-A masked convolution, ``num_layers``
    residual blocks (1x1, ``kernel_size`` and 1x1 type-B masked convolutions
    with ReLUs), then two 1x1 type-B layers to the head parameters. With a
    per-channel head (``Categorical``, ``Bernoulli``) and ``C > 1`` channels,
    channel masks make the parameters of channel ``k`` depend on channels
    ``< k`` of the same pixel (R, then G given R, then B given R and G) and
    ``couples_channels`` is set; with a mixture head
    (``DiscretizedLogisticMixture``, ``Normal``, ``NormalMixture``) the
    parameters of a pixel depend only on earlier pixels and the head couples
    the channels.

    The global ``context`` and the ``local_context`` map ``(channels, H, W)`` are
    projected and added after the first layer and before the last.

    NOTE: the blind spot. Stacked masked ``k x k`` convolutions grow the receptive
    field by one column to the right per row upwards, so a pixel never sees the
    triangle of earlier pixels above and to the right that lies outside that cone:
    e.g. pixel :math:`(i - 1, j + r_0 + 1)` with :math:`r_0 = \lfloor 7/2 \rfloor`
    is invisible to :math:`(i, j)` whatever the depth, while
    :math:`(i - 2, j + r_0 + 1)` is seen (van den Oord et al. 2016b, figure 1).
    :class:`GatedPixelCNN` removes it. The residual bottleneck keeps
    ``hidden_channels`` features (the paper halves them).

    :param image_shape: ``(C, H, W)``.
    :param head: the per-pixel distribution.
    :param hidden_channels: features per layer (a multiple of ``C`` with a per-channel head).
    :param num_layers: residual blocks after the first layer (``>= 0``).
    :param context_size: size of the global context vector (0: none).
    :param local_context_channels: channels of the local context map (0: none).
    :param kernel_size: kernel of the residual blocks (odd).
    :param first_kernel_size: kernel of the type-A first layer (odd).

    References:
        van den Oord, Kalchbrenner, Kavukcuoglu. Pixel Recurrent Neural Networks.
        ICML 2016. https://arxiv.org/abs/1601.06759

        Ramachandran, Paine, Khorrami, Babaeizadeh, Chang, Zhang, Hasegawa-Johnson,
        Campbell, Huang. Fast Generation for Convolutional Autoregressive Models.
        ICLR workshop 2017. https://arxiv.org/abs/1704.06001

    Example::

        >>> import pyro_autoregressive as par
        >>> model = par.PixelCNN((1, 4, 4), par.heads.Categorical(4), hidden_channels=8, num_layers=1)
        >>> d = model.condition()
        >>> x = d.sample((3,))
        >>> x.shape, d.log_prob(x).shape
        (torch.Size([3, 1, 4, 4]), torch.Size([3]))
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        head: Head,
        hidden_channels: int = 64,
        num_layers: int = 5,
        context_size: int = 0,
        local_context_channels: int = 0,
        kernel_size: int = 3,
        first_kernel_size: int = 7,
    ) -> None:
        super().__init__(head, context_size=context_size, local_context_channels=local_context_channels)
        channels, _, _ = self.image_shape = check_image_shape(image_shape)
        hidden_channels = check_int("hidden_channels", hidden_channels, 1)
        num_layers = check_int("num_layers", num_layers, 0)
        kernel_size = check_odd("kernel_size", kernel_size)
        first_kernel_size = check_odd("first_kernel_size", first_kernel_size)
        self.couples_channels, groups = channel_masking(head, channels, hidden_channels)
        self.hidden_channels = hidden_channels
        num_features = channels * self._features_per_value()
        self.conv_in = MaskedConv2d(num_features, hidden_channels, first_kernel_size, "A", groups)
        self.blocks = nn.ModuleList(_ResidualBlock(hidden_channels, kernel_size, groups) for _ in range(num_layers))
        self.conv_out1 = MaskedConv2d(hidden_channels, hidden_channels, 1, "B", groups)
        self.conv_out2 = MaskedConv2d(hidden_channels, head.num_params(channels), 1, "B", groups)
        # conditioning enters after the first layer and after the first output layer
        self.context_proj = nn.Linear(context_size, 2 * hidden_channels) if context_size else None
        self.local_proj = nn.Conv2d(local_context_channels, 2 * hidden_channels, 1) if local_context_channels else None

    def _features_per_value(self) -> int:
        return 1  # embed: the head's scaling to [-1, 1]

    def layout(self, length: int | None = None) -> StepLayout:
        return fixed_image_layout(self, length)

    def conditioning(
        self, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Additive terms after the first layer and before the last, each ``(N, hidden, H or 1, W or 1)``."""
        total: torch.Tensor | None = None
        if self.context_proj is not None and context is not None:
            total = self.context_proj(context)[:, :, None, None]  # (N, 2 * hidden, 1, 1)
        if self.local_proj is not None and local_context is not None:
            local = self.local_proj(local_context)  # (N, 2 * hidden, H, W)
            total = local if total is None else total + local
        if total is None:
            return None, None
        first, last = total.chunk(2, dim=1)
        return first, last

    def network(
        self, h: torch.Tensor, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        y = self.trunk(channels_last(feature_map(h)), self.conditioning(context, local_context))  # (N, P, H, W)
        return y.flatten(2).transpose(1, 2)  # (N, H * W, P) in raster order

    def trunk(
        self,
        x: torch.Tensor,
        cond: tuple[torch.Tensor | None, torch.Tensor | None],
        conv_in: Callable[[torch.Tensor], torch.Tensor] | None = None,
        blocks: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """The layers: input features ``(N, C * F, H, W)`` to head parameters ``(N, P, H, W)``.

        The cached state runs the same body on one position, with ``conv_in`` and
        ``blocks`` standing in for the first layer and the residual blocks.
        """
        cond_first, cond_last = cond
        y = (conv_in or self.conv_in)(x)  # (N, hidden, H, W)
        if cond_first is not None:
            y = y + cond_first
        for block in self.blocks if blocks is None else blocks:
            y = block(y)
        y = self.conv_out1(torch.relu(y))
        if cond_last is not None:
            y = y + cond_last
        return self.conv_out2(torch.relu(y))


class PixelCNNState(RasterState):
    """Cached sampling for :class:`PixelCNN`: each new pixel costs one position through the layers.

    The input of every ``k x k`` masked convolution (the first layer's, each
    residual block's) lives in a :class:`~pyro_autoregressive.nn.grid_cache.GridCache`
    that keeps the rows the kernel reads; :meth:`column` runs
    :meth:`PixelCNN.trunk` at the current pixel with the layers' one-step
    methods (``at``), which read their windows from the grids (Ramachandran et
    al. 2017). 1x1 layers need no cache.
    """

    def start(self) -> None:
        super().start()
        model: PixelCNN = self.model  # type: ignore[assignment]
        self.cond = model.conditioning(self.context, self.local_context)

        def grid(conv: MaskedConv2d) -> GridCache:
            zero = torch.zeros(self.batch_size, conv.in_channels, 1, 1, dtype=model.dtype, device=model.device)
            return GridCache(zero, self.height, self.width, keep=conv.center[0] + 1)

        self.x = grid(model.conv_in)
        self.grids = [grid(block.conv2) for block in model.blocks]

    def column(self, value: torch.Tensor) -> torch.Tensor:
        i, j = self.position
        model: PixelCNN = self.model  # type: ignore[assignment]
        cond = (at_position(self.cond[0], i, j), at_position(self.cond[1], i, j))
        blocks = [partial(block.at, grid, r=i, c=j) for block, grid in zip(model.blocks, self.grids, strict=True)]
        return model.trunk(pixel_features(model, value), cond, self.x.feed(model.conv_in, i, j), blocks)  # (N, P)

    def commit_input(self, value: torch.Tensor) -> None:
        self.x.put(pixel_features(self.model, value), *self.position)


PixelCNN.state_class = PixelCNNState
