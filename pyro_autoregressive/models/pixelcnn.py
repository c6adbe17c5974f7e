"""PixelCNN: a stack of raster-causal masked convolutions, with cached sampling (a schedule over its one body)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..checks import check_int, check_odd
from ..heads import Head
from ..nn.grid_cache import GridCache
from ..nn.masked_conv import MaskedConv2d
from .pixel_network import PixelNetwork

__all__ = ["PixelCNN"]


class _ResidualBlock(nn.Module):
    """``x + 1x1(relu(kxk(relu(1x1(relu(x))))))``, every convolution masked type B."""

    def __init__(self, channels: int, kernel_size: int, groups: int) -> None:
        super().__init__()
        self.conv1 = MaskedConv2d(channels, channels, 1, "B", groups)
        self.conv2 = MaskedConv2d(channels, channels, kernel_size, "B", groups)
        self.conv3 = MaskedConv2d(channels, channels, 1, "B", groups)

    def forward(
        self,
        x: torch.Tensor,
        inputs: torch.Tensor | None = None,
        conv2: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``(N, F, H, W)`` to the same (``inputs`` unused); ``conv2`` stands in for the ``k x k`` convolution."""
        h = (conv2 or self.conv2)(torch.relu(self.conv1(torch.relu(x))))
        return x + self.conv3(torch.relu(h))

    def cache(self, zero: torch.Tensor, height: int, width: int, inputs: GridCache) -> GridCache:
        """What :meth:`at` keeps: the ``k x k`` convolution's input rows."""
        return GridCache(zero, height, width, keep=self.conv2.center[0] + 1)

    def at(self, grid: GridCache, x: torch.Tensor, r: int, c: int) -> torch.Tensor:
        """:meth:`forward` at position ``(r, c)`` of ``x (N, F)``; ``grid`` holds the ``k x k`` input."""
        return self.forward(x, conv2=grid.feed(self.conv2, r, c))


class PixelCNN(PixelNetwork):
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
    :param first_kernel_size: kernel of the type-A first layer (odd, >= 3: a 1x1 one would see no other pixel).

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
        num_layers = check_int("num_layers", num_layers, 0)
        kernel_size = check_odd("kernel_size", kernel_size)

        def blocks(groups: int) -> list[nn.Module]:
            return [_ResidualBlock(hidden_channels, kernel_size, groups) for _ in range(num_layers)]

        super().__init__(
            image_shape, head, hidden_channels, context_size, local_context_channels, first_kernel_size, blocks
        )
