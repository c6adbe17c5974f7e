"""PixelCNN: a stack of raster-causal masked convolutions, with row-cached sampling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..heads import Head
from ..layout import ImageLayout, StepLayout
from ..model import AutoregressiveModel
from ..nn.masked_conv import MaskedConv2d
from ..nn.row_cache import RowCache
from ..sampling import IncrementalState

__all__ = ["PixelCNN", "PixelCNNState", "check_image_shape", "embed_pixel", "fixed_image_layout", "pick"]


def check_image_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    """``image_shape`` as a ``(C, H, W)`` tuple of positive ints, or a ``ValueError`` naming it."""
    shape = tuple(image_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and s >= 1 for s in shape):
        raise ValueError(f"image_shape: expected (C, H, W) of positive ints, got {shape!r}")
    return shape  # type: ignore[return-value]


def fixed_image_layout(model: AutoregressiveModel, length: int | None) -> ImageLayout:
    """The raster layout of an image model; its shape is fixed, so a ``length`` is a ``TypeError``."""
    if length is not None:
        raise TypeError(f"length: {type(model).__name__} has a fixed image shape {model.image_shape}, got {length}")
    return ImageLayout(model.image_shape)


def check_positive(name: str, value: object, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return value


def check_odd(name: str, value: object, minimum: int = 1) -> int:
    """An odd kernel size ``>= minimum`` (so that the kernel has a centre)."""
    if check_positive(name, value, minimum) % 2 == 0:
        raise ValueError(f"{name}: expected an odd int{f' >= {minimum}' if minimum > 1 else ''}, got {value}")
    return value


def channel_masking(head: Head, channels: int, hidden_channels: int) -> tuple[bool, int]:
    """``(couples_channels, groups)`` of a raster-order conv model with this head.

    Per-channel heads on multi-channel images use channel masks (``groups = C``, and
    ``hidden_channels`` must split into ``C`` groups); other heads couple the channels
    themselves (one group).
    """
    couples = head.per_channel_params and channels > 1
    groups = channels if couples else 1
    if hidden_channels % groups:
        raise ValueError(
            f"hidden_channels: expected a multiple of the {channels} image channels (channel masks), "
            f"got {hidden_channels}"
        )
    return couples, groups


def pick(cond: torch.Tensor | None, i: int, j: int) -> torch.Tensor | float:
    """Pixel ``(i, j)`` of a conditioning map ``(N, F, H or 1, W or 1)`` as ``(N, F)`` (0 for None)."""
    if cond is None:
        return 0.0
    return cond[:, :, i if cond.shape[2] > 1 else 0, j if cond.shape[3] > 1 else 0]


def embed_pixel(model: AutoregressiveModel, value: torch.Tensor) -> torch.Tensor:
    """Input features ``(N, C * F)`` of one pixel's values ``(N, C)``, as :meth:`network` sees them."""
    n, channels = value.shape
    return model.embed(value.reshape(n, channels, 1, 1)).reshape(n, -1)  # (N, C, 1, 1, F) -> (N, C * F)


class _ResidualBlock(nn.Module):
    """``x + 1x1(relu(kxk(relu(1x1(relu(x))))))``, every convolution masked type B."""

    def __init__(self, channels: int, kernel_size: int, groups: int) -> None:
        super().__init__()
        self.conv1 = MaskedConv2d(channels, channels, 1, "B", groups)
        self.conv2 = MaskedConv2d(channels, channels, kernel_size, "B", groups)
        self.conv3 = MaskedConv2d(channels, channels, 1, "B", groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(torch.relu(x))))))


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
        check_positive("hidden_channels", hidden_channels)
        check_positive("num_layers", num_layers, minimum=0)
        check_odd("kernel_size", kernel_size)
        check_odd("first_kernel_size", first_kernel_size)
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
        N, C, H, W, F_ = h.shape
        x = h.permute(0, 1, 4, 2, 3).reshape(N, C * F_, H, W)  # channel-major feature groups
        cond_first, cond_last = self.conditioning(context, local_context)
        y = self.conv_in(x)  # (N, hidden, H, W)
        if cond_first is not None:
            y = y + cond_first
        for block in self.blocks:
            y = block(y)
        y = self.conv_out1(torch.relu(y))
        if cond_last is not None:
            y = y + cond_last
        y = self.conv_out2(torch.relu(y))  # (N, P, H, W)
        return y.flatten(2).transpose(1, 2)  # (N, H * W, P) in raster order

    def incremental_state(
        self,
        layout: StepLayout,
        context: torch.Tensor | None,
        local_context: torch.Tensor | None,
        batch_size: int,
    ) -> IncrementalState:
        return PixelCNNState(self, layout, context, local_context, batch_size)


def _pointwise(conv: MaskedConv2d) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A 1x1 masked convolution as a linear map: weight ``(out, in)`` and bias."""
    return conv.masked_weight()[:, :, 0, 0], conv.bias


class PixelCNNState(IncrementalState):
    """Row caches for :class:`PixelCNN`: each new pixel costs one column through the layers.

    Every ``k x k`` masked convolution keeps a :class:`~pyro_autoregressive.nn.row_cache.RowCache`
    (its last ``k // 2`` input rows and the current row's inputs); the part of
    its output that comes from the rows above is one convolution per row, the
    rest a small matrix product per pixel. 1x1 layers need no cache. With
    channel masks (``couples_channels``), ``params(partial)`` recomputes the
    pixel's column with the channels drawn so far.
    """

    def __init__(
        self,
        model: PixelCNN,
        layout: StepLayout,
        context: torch.Tensor | None,
        local_context: torch.Tensor | None,
        batch_size: int,
    ) -> None:
        self.model = model
        self.channels, _, self.width = model.image_shape
        self.step = 0
        self.value_dtype = model.head.value_dtype(model.dtype)
        self.batch_size = batch_size
        width = self.width
        self.cond_first, self.cond_last = model.conditioning(context, local_context)
        conv_in = model.conv_in
        self.in_cache = RowCache(conv_in.masked_weight(), conv_in.bias, conv_in.center, width)
        self.blocks = [
            (
                _pointwise(b.conv1),
                RowCache(b.conv2.masked_weight(), b.conv2.bias, b.conv2.center, width),
                _pointwise(b.conv3),
            )
            for b in model.blocks
        ]
        self.out1, self.out2 = _pointwise(model.conv_out1), _pointwise(model.conv_out2)
        self._column: tuple[list[torch.Tensor], torch.Tensor] | None = None  # a final column of this step

    def _column_at(self, value: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Layer inputs (one per cache) and head parameters ``(N, P)`` at the current pixel."""
        i, j = divmod(self.step, self.width)
        x = embed_pixel(self.model, value)  # (N, C * F)
        inputs = [x]
        y = self.in_cache.output(x) + pick(self.cond_first, i, j)  # (N, hidden)
        for (w1, b1), cache, (w3, b3) in self.blocks:
            r = torch.relu(F.linear(torch.relu(y), w1, b1))
            inputs.append(r)
            y = y + F.linear(torch.relu(cache.output(r)), w3, b3)
        y = F.linear(torch.relu(y), *self.out1) + pick(self.cond_last, i, j)
        return inputs, F.linear(torch.relu(y), *self.out2)  # (N, P)

    def _value(self, partial: torch.Tensor | None) -> torch.Tensor:
        """The current pixel's values ``(N, C)``: the drawn channels, zeros for the rest (never seen)."""
        known = 0 if partial is None else partial.shape[-1]
        zeros = torch.zeros(self.batch_size, self.channels - known, dtype=self.value_dtype, device=self.model.device)
        return zeros if partial is None or known == 0 else torch.cat([partial, zeros], dim=-1)

    def params(self, partial: torch.Tensor | None = None) -> torch.Tensor:
        known = 0 if partial is None else partial.shape[-1]
        column = self._column_at(self._value(partial))
        # the column is final when nothing of this pixel is still unknown to any block
        if not self.model.couples_channels or known == self.channels - 1:
            self._column = column
        return column[1]

    def advance(self, value: torch.Tensor) -> None:
        if self._column is None:
            inputs = self._column_at(value)[0]
        else:
            inputs = [embed_pixel(self.model, value), *self._column[0][1:]]
        self.in_cache.commit(inputs[0])
        for (_, cache, _), r in zip(self.blocks, inputs[1:], strict=True):
            cache.commit(r)
        self._column = None
        self.step += 1
