"""Gated PixelCNN: vertical and horizontal stacks without a blind spot, with cached sampling."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..checks import check_image_shape, check_int, check_odd
from ..heads import Head
from ..layout import StepLayout
from ..model import AutoregressiveModel
from ..nn.buffer import channels_last
from ..nn.gated_stack import GatedLayer
from ..nn.grid_cache import GridCache
from ..nn.masked_conv import MaskedConv2d
from ..sampling import RasterState
from .shared import (
    at_position,
    at_row,
    channel_masking,
    feature_map,
    fixed_image_layout,
    pixel_features,
    summed_projection,
)

__all__ = ["GatedPixelCNN", "GatedPixelCNNState"]

Conditioning = list[tuple[torch.Tensor, torch.Tensor]] | None
Conv = Callable[[torch.Tensor | None], torch.Tensor]


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
        hidden_channels = check_int("hidden_channels", hidden_channels, 1)
        num_layers = check_int("num_layers", num_layers, 1)
        kernel_size = check_odd("kernel_size", kernel_size)
        first_kernel_size = check_odd("first_kernel_size", first_kernel_size, minimum=3)
        self.couples_channels, groups = channel_masking(head, channels, hidden_channels)
        self.hidden_channels, self.num_layers = hidden_channels, num_layers
        hid = hidden_channels
        num_features = channels  # embed: one feature per value
        rng = torch.get_rng_state()
        self.layers = nn.ModuleList(
            GatedLayer(num_features if first else hid, hid, k, first, groups)
            for first, k in [(True, first_kernel_size)] + [(False, kernel_size)] * (num_layers - 1)
        )
        # draw the initial weights kind by kind (every vertical convolution, then every horizontal one, ...), as
        # when each kind was its own list: a seed gives the same model as in file format 1
        torch.set_rng_state(rng)
        for kind in ("v_conv", "h_conv", "v_to_h", "h_res"):
            for layer in self.layers:
                getattr(layer, kind).reset_parameters()
        self.conv_out1 = MaskedConv2d(hid, hid, 1, "B", groups)
        self.conv_out2 = MaskedConv2d(hid, head.num_params(channels), 1, "B", groups)
        cond_size = num_layers * 4 * hid  # per layer: vertical and horizontal gate biases
        self.context_proj = nn.Linear(context_size, cond_size) if context_size else None
        self.local_proj = nn.Conv2d(local_context_channels, cond_size, 1) if local_context_channels else None

    def layout(self, length: int | None = None) -> StepLayout:
        return fixed_image_layout(self, length)

    def output_layers(self) -> tuple[nn.Module, ...]:
        return (self.conv_out2,)

    def conditioning(self, context: torch.Tensor | None, local_context: torch.Tensor | None) -> Conditioning:
        """Per layer, the vertical and horizontal gate biases ``(N, 2 * hidden, H or 1, W or 1)``."""
        total = summed_projection(self.context_proj, context, self.local_proj, local_context)  # (N, L * 4 * hidden, ..)
        if total is None:
            return None
        return [tuple(layer.chunk(2, dim=1)) for layer in total.chunk(self.num_layers, dim=1)]  # type: ignore[misc]

    def upgrade_weights(self, weights: dict[str, torch.Tensor], version: int) -> dict[str, torch.Tensor]:
        """Format 1 kept each kind of layer in its own list (``v_convs.k``, ``h_convs.k``, ...)."""
        if version >= 2:
            return weights
        names = {"v_convs": "v_conv", "h_convs": "h_conv", "v_to_h": "v_to_h", "h_res": "h_res"}
        upgraded = {}
        for name, tensor in weights.items():
            group, _, rest = name.partition(".")
            if group in names:
                k, _, leaf = rest.partition(".")
                name = f"layers.{k}.{names[group]}.{leaf}"
            upgraded[name] = tensor
        return upgraded

    def network(
        self, h: torch.Tensor, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        x = channels_last(feature_map(h))  # (N, C * F, H, W)
        cond = self.conditioning(context, local_context)
        y = self.horizontal_stack(x, self.vertical_stack(x, cond), cond)  # (N, P, H, W)
        return y.flatten(2).transpose(1, 2)  # (N, H * W, P) in raster order

    def vertical_stack(
        self, x: torch.Tensor | None, cond: Conditioning, convs: Sequence[Conv] | None = None
    ) -> list[torch.Tensor]:
        """Every layer's vertical term in the horizontal stack, ``(N, 2 * hidden, H, W)`` each.

        The cached state runs it one row at a time, with ``convs`` standing in for
        the vertical convolutions (the first reads the input rows above, so ``x``
        is then None).
        """
        v, from_v = x, []
        for k, layer in enumerate(self.layers):
            v, term = layer.vertical(v, None if cond is None else cond[k][0], None if convs is None else convs[k])
            from_v.append(term)
        return from_v

    def horizontal_stack(
        self, x: torch.Tensor, from_v: list[torch.Tensor], cond: Conditioning, convs: Sequence[Conv] | None = None
    ) -> torch.Tensor:
        """The horizontal stack and the output layers: head parameters ``(N, P, H, W)``."""
        h = x
        for k, layer in enumerate(self.layers):
            conv = None if convs is None else convs[k]
            h = layer.horizontal(h, from_v[k], None if cond is None else cond[k][1], conv)
        return self.conv_out2(torch.relu(self.conv_out1(torch.relu(h))))


class GatedPixelCNNState(RasterState):
    """Cached sampling for :class:`GatedPixelCNN` (Ramachandran et al. 2017).

    At the first pixel of a row the vertical stack runs for the whole row
    (:meth:`~pyro_autoregressive.GatedPixelCNN.vertical_stack`, each convolution's ``at`` reading the
    rows above from a :class:`~pyro_autoregressive.nn.grid_cache.GridCache`); each
    pixel then costs one position of the horizontal stack, whose ``1 x (k // 2 + 1)``
    convolutions read the current row's inputs from their grids.
    """

    def start(self) -> None:
        super().start()
        model: GatedPixelCNN = self.model  # type: ignore[assignment]
        self.cond = model.conditioning(self.context, self.local_context)
        factory = {"dtype": model.dtype, "device": model.device}

        def grid(channels: int, keep: int) -> GridCache:
            return GridCache(torch.zeros(self.batch_size, channels, 1, 1, **factory), self.height, self.width, keep)

        first = model.layers[0]
        # the input: the first horizontal convolution's row and the first vertical one's rows above
        self.x = grid(first.h_conv.in_channels, first.v_conv.kernel_size[0] + 1)
        self.v_grids = [grid(layer.v_conv.in_channels, layer.v_conv.kernel_size[0]) for layer in model.layers[1:]]
        self.h_grids = [grid(layer.h_conv.in_channels, 1) for layer in model.layers[1:]]
        self._row = -1
        self._from_v: list[torch.Tensor] = []  # (N, 2 * hidden, 1, W) per layer, of the current row

    def column(self, value: torch.Tensor) -> torch.Tensor:
        i, j = self.position
        model: GatedPixelCNN = self.model  # type: ignore[assignment]
        layers = list(model.layers)
        if self._row != i:  # the vertical stack of row i, from the rows above
            cond = None if self.cond is None else [(at_row(v, i), at_row(h, i)) for v, h in self.cond]
            convs = [grid.feed(layer.v_conv, i) for grid, layer in zip([self.x, *self.v_grids], layers, strict=True)]
            self._from_v = model.vertical_stack(None, cond, convs)
            self._row = i
        cond = None if self.cond is None else [(at_position(v, i, j), at_position(h, i, j)) for v, h in self.cond]
        convs = [grid.feed(layer.h_conv, i, j) for grid, layer in zip([self.x, *self.h_grids], layers, strict=True)]
        from_v = [term[:, :, 0, j] for term in self._from_v]  # (N, 2 * hidden) each
        return model.horizontal_stack(pixel_features(model, value), from_v, cond, convs)  # (N, P)

    def commit_input(self, value: torch.Tensor) -> None:
        self.x.put(pixel_features(self.model, value), *self.position)


GatedPixelCNN.state_class = GatedPixelCNNState
