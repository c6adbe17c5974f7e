"""PixelRNN (van den Oord et al. 2016a): the Row LSTM and the Diagonal BiLSTM, exact and cached."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..checks import check_image_shape, check_int, check_odd
from ..heads import Head
from ..nn.diagonal_lstm import DiagonalBiLSTMLayer
from ..nn.row_lstm import RowLSTMLayer
from .pixel_network import PixelNetwork

__all__ = ["DiagonalBiLSTM", "RowLSTM"]


class RowLSTM(PixelNetwork):
    r"""PixelRNN's Row LSTM: LSTM layers that process an image row by row, top to bottom.

    .. math:: p(x) = \prod_{i=1}^{H W} \prod_k p\big(x_{i,k} \mid x_{i,<k}, x_{<i}\big)

    A ``first_kernel_size`` (7x7) type-A masked convolution, ``num_layers``
    residual Row LSTM layers (:class:`~pyro_autoregressive.nn.row_lstm.RowLSTMLayer`:
    a ``1 x k`` masked input-to-state convolution along the row for the whole
    image at once, a ``1 x k`` state-to-state convolution over the row above,
    the four gates of a row at once), then ReLU and two 1x1 type-B convolutions
    to the head parameters (van den Oord et al. 2016a, table 1). Channel masks,
    heads, ``context`` and ``local_context`` are as for :class:`PixelCNN`.

    NOTE: the receptive field is a triangle. Each layer's state at :math:`(i, j)`
    reads the row above from column :math:`j - \lfloor k/2 \rfloor` to
    :math:`j + \lfloor k/2 \rfloor`, so the pixels seen widen by that much per
    row upwards; earlier pixels outside the triangle (far to the right in the
    rows just above, far to the left in the pixel's own row) are never seen.
    :class:`DiagonalBiLSTM` sees them all.

    Cached sampling (:class:`~pyro_autoregressive.models.pixel_network.PixelNetworkState`)
    computes the state-to-state term of a row once, when the row above is
    complete, and the cell of each pixel once.

    :param image_shape: ``(C, H, W)``.
    :param head: the per-pixel distribution.
    :param hidden_channels: features per layer and LSTM hidden size (a multiple of ``C`` with a per-channel head).
    :param num_layers: Row LSTM layers (``>= 1``).
    :param context_size: size of the global context vector (0: none).
    :param local_context_channels: channels of the local context map (0: none).
    :param kernel_size: the odd ``k`` of the ``1 x k`` convolutions.
    :param first_kernel_size: kernel of the type-A first layer (odd, >= 3: a 1x1 one would see no other pixel).

    References:
        van den Oord, Kalchbrenner, Kavukcuoglu. Pixel Recurrent Neural Networks.
        ICML 2016. https://arxiv.org/abs/1601.06759

    Example::

        >>> import pyro_autoregressive as par
        >>> model = par.RowLSTM((1, 4, 4), par.heads.Categorical(4), hidden_channels=8, num_layers=1)
        >>> d = model.condition()
        >>> x = d.sample((3,))
        >>> x.shape, d.log_prob(x).shape
        (torch.Size([3, 1, 4, 4]), torch.Size([3]))
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        head: Head,
        hidden_channels: int = 32,
        num_layers: int = 2,
        context_size: int = 0,
        local_context_channels: int = 0,
        kernel_size: int = 3,
        first_kernel_size: int = 7,
    ) -> None:
        num_layers = check_int("num_layers", num_layers, 1)
        kernel_size = check_odd("kernel_size", kernel_size)

        def blocks(groups: int) -> list[nn.Module]:
            return [RowLSTMLayer(hidden_channels, kernel_size, groups) for _ in range(num_layers)]

        super().__init__(
            image_shape, head, hidden_channels, context_size, local_context_channels, first_kernel_size, blocks
        )


class DiagonalBiLSTM(PixelNetwork):
    r"""PixelRNN's Diagonal BiLSTM: two LSTMs along the image's diagonals, every earlier pixel in view.

    A ``first_kernel_size`` (7x7) type-A masked convolution, ``num_layers``
    residual Diagonal BiLSTM layers
    (:class:`~pyro_autoregressive.nn.diagonal_lstm.DiagonalBiLSTMLayer`: the map
    skewed so that diagonals are columns, a 1x1 masked input-to-state and a
    ``2 x 1`` state-to-state convolution in each direction, the right-to-left
    output shifted down one row), then ReLU and two 1x1 type-B convolutions to
    the head parameters (van den Oord et al. 2016a, section 3.2 and table 1).
    Channel masks, heads, ``context`` and ``local_context`` are as for :class:`PixelCNN`.

    The right-to-left direction also reads the pixels' own values (its output is
    read only by the rows below), so every earlier pixel in raster order reaches
    every output at any depth: no blind spot.

    Cached sampling (:class:`~pyro_autoregressive.models.pixel_network.PixelNetworkState`):
    the left-to-right states are one cell update per pixel and layer; the
    right-to-left states of a row are computed once, right to left, when the
    row is complete (they need all of it), so generation costs about one more
    cell update per pixel and layer than the left-to-right direction alone.

    :param image_shape: ``(C, H, W)``.
    :param head: the per-pixel distribution.
    :param hidden_channels: features per layer and hidden size of each direction
        (a multiple of ``C`` with a per-channel head).
    :param num_layers: Diagonal BiLSTM layers (``>= 1``).
    :param context_size: size of the global context vector (0: none).
    :param local_context_channels: channels of the local context map (0: none).
    :param first_kernel_size: kernel of the type-A first layer (odd, >= 3: a 1x1 one would see no other pixel).

    References:
        van den Oord, Kalchbrenner, Kavukcuoglu. Pixel Recurrent Neural Networks.
        ICML 2016. https://arxiv.org/abs/1601.06759

    Example::

        >>> import pyro_autoregressive as par
        >>> model = par.DiagonalBiLSTM((1, 4, 4), par.heads.Bernoulli(), hidden_channels=8, num_layers=1)
        >>> model.condition().sample((2,)).shape
        torch.Size([2, 1, 4, 4])
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        head: Head,
        hidden_channels: int = 32,
        num_layers: int = 2,
        context_size: int = 0,
        local_context_channels: int = 0,
        first_kernel_size: int = 7,
    ) -> None:
        num_layers = check_int("num_layers", num_layers, 1)
        channels = check_image_shape(image_shape)[0]

        def blocks(groups: int) -> list[nn.Module]:
            return [DiagonalBiLSTMLayer(hidden_channels, channels, groups) for _ in range(num_layers)]

        super().__init__(
            image_shape, head, hidden_channels, context_size, local_context_channels, first_kernel_size, blocks
        )
