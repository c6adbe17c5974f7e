"""PixelCNN++: shifted convolutions, a down/up hierarchy and the discretized logistic mixture, with cached sampling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_fraction, check_image_shape, check_int
from ..heads import DiscretizedLogisticMixture
from ..layout import StepLayout
from ..model import AutoregressiveModel
from ..nn.buffer import channels_last
from ..nn.grid_cache import GridCache
from ..nn.pointwise import Pointwise2d
from ..nn.shifted_conv import (
    GatedResnet,
    ShiftedConv2d,
    ShiftedDeconv2d,
    concat_elu,
    down_shift,
    right_shift,
)
from ..sampling import IncrementalState
from .shared import feature_map, fixed_image_layout, pixel_features

__all__ = ["PixelCNNPlusPlus", "PixelCNNPlusPlusState", "concat_elu"]


class PixelCNNPlusPlus(AutoregressiveModel):
    r"""PixelCNN++ (Salimans et al. 2017) with its discretized logistic mixture likelihood.

    .. math::
        p(x) = \prod_{i} \sum_m \pi_{i,m} \prod_{c} \mathrm{DLogistic}\Big(x_{i,c};\
        \mu_{i,c,m} + \textstyle\sum_{c' < c} a_{i,c,c',m} \tilde x_{i,c'},\ s_{i,c,m}\Big)

    Two streams replace the masked convolutions: ``u`` sees the rows above a
    pixel through down-shifted ``2x3`` convolutions, ``ul`` also the pixels to
    its left through down-right-shifted ``2x2`` ones. An up pass of
    ``num_hierarchies`` levels of ``num_resnet`` gated ResNet blocks (concat_elu,
    dropout, gated output), separated by stride-2 downsampling, feeds a mirrored
    down pass through skip connections, with stride-2 transposed convolutions
    between levels; ``ul`` receives ``u`` at every block. The head is built
    internally: :class:`~pyro_autoregressive.heads.DiscretizedLogisticMixture`
    ``(num_components, num_classes)``, which couples the channels R -> G -> B.

    A global ``context`` is projected to a bias of every block; a ``local_context``
    map is projected by a 1x1 convolution and average-pooled to each level.

    Sampling with ``cache=True``
    (:class:`~pyro_autoregressive.models.pixelcnn_plus_plus.PixelCNNPlusPlusState`) computes every
    activation of every level once, as soon as the pixels it depends on are
    known (Ramachandran et al. 2017): the ``u`` stream one row at a time, the
    ``ul`` stream one position at a time; in evaluation mode it gives exactly
    the parameters of the teacher-forced pass.

    ``dropout`` defaults to 0 (the paper uses 0.5 on CIFAR-10), so that a model in
    training mode still has an exact, deterministic ``log_prob``.
    ``H`` and ``W`` must be divisible by ``2 ** (num_hierarchies - 1)``.

    :param image_shape: ``(C, H, W)``.
    :param num_components: mixture components per pixel.
    :param num_classes: levels per channel.
    :param hidden_channels: features of both streams.
    :param num_resnet: gated ResNet blocks per level of the up pass.
    :param num_hierarchies: resolution levels.
    :param dropout: dropout probability inside the blocks (active in training mode).
    :param context_size: size of the global context vector (0: none).
    :param local_context_channels: channels of the local context map (0: none).

    References:
        Salimans, Karpathy, Chen, Kingma. PixelCNN++: Improving the PixelCNN with
        Discretized Logistic Mixture Likelihood and Other Modifications. ICLR 2017.
        https://arxiv.org/abs/1701.05517

        Ramachandran, Paine, Khorrami, Babaeizadeh, Chang, Zhang, Hasegawa-Johnson,
        Campbell, Huang. Fast Generation for Convolutional Autoregressive Models.
        ICLR workshop 2017. https://arxiv.org/abs/1704.06001

    Example::

        >>> import pyro_autoregressive as par
        >>> model = par.PixelCNNPlusPlus((3, 4, 4), num_components=2, num_classes=16, hidden_channels=8,
        ...                              num_resnet=1, num_hierarchies=2)
        >>> d = model.condition()
        >>> d.log_prob(d.sample((2,))).shape
        torch.Size([2])
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        num_components: int = 10,
        num_classes: int = 256,
        hidden_channels: int = 160,
        num_resnet: int = 5,
        num_hierarchies: int = 3,
        dropout: float = 0.0,
        context_size: int = 0,
        local_context_channels: int = 0,
    ) -> None:
        head = DiscretizedLogisticMixture(num_components, num_classes)
        super().__init__(head, context_size=context_size, local_context_channels=local_context_channels)
        channels, height, width = self.image_shape = check_image_shape(image_shape)
        hid = hidden_channels = check_int("hidden_channels", hidden_channels, 1)
        num_resnet = check_int("num_resnet", num_resnet, 1)
        num_hierarchies = check_int("num_hierarchies", num_hierarchies, 1)
        dropout = check_fraction("dropout", dropout)
        factor = 2 ** (num_hierarchies - 1)
        if height % factor or width % factor:
            raise ValueError(
                f"image_shape: expected H and W divisible by 2 ** (num_hierarchies - 1) = {factor}, "
                f"got {tuple(image_shape)}"
            )
        self.hidden_channels, self.num_resnet, self.num_hierarchies = hid, num_resnet, num_hierarchies
        inputs = channels + 1  # the values and a channel of ones (marks the zero padding)
        self.u_init = ShiftedConv2d(inputs, hid, (2, 3), right=False)
        self.ul_init_up = ShiftedConv2d(inputs, hid, (1, 3), right=False)
        self.ul_init_left = ShiftedConv2d(inputs, hid, (2, 1), right=True)

        def blocks(count: int, u_aux: int, ul_aux: int) -> tuple[nn.ModuleList, nn.ModuleList]:
            u = nn.ModuleList(GatedResnet(hid, False, u_aux, dropout) for _ in range(count))
            ul = nn.ModuleList(GatedResnet(hid, True, ul_aux, dropout) for _ in range(count))
            return u, ul

        up = [blocks(num_resnet, 0, hid) for _ in range(num_hierarchies)]
        self.up_u = nn.ModuleList(u for u, _ in up)
        self.up_ul = nn.ModuleList(ul for _, ul in up)
        # down pass: the top level mirrors num_resnet blocks, the others also the downsampling's output
        down = [blocks(num_resnet + (level < num_hierarchies - 1), hid, 2 * hid) for level in range(num_hierarchies)]
        self.down_u = nn.ModuleList(u for u, _ in down)
        self.down_ul = nn.ModuleList(ul for _, ul in down)
        self.downsample_u = nn.ModuleList(
            ShiftedConv2d(hid, hid, (2, 3), False, stride=2) for _ in range(num_hierarchies - 1)
        )
        self.downsample_ul = nn.ModuleList(
            ShiftedConv2d(hid, hid, (2, 2), True, stride=2) for _ in range(num_hierarchies - 1)
        )
        self.upsample_u = nn.ModuleList(ShiftedDeconv2d(hid, hid, (2, 3), False) for _ in range(num_hierarchies - 1))
        self.upsample_ul = nn.ModuleList(ShiftedDeconv2d(hid, hid, (2, 2), True) for _ in range(num_hierarchies - 1))
        self.out = Pointwise2d(hid, head.num_params(channels))
        num_blocks = 2 * (2 * num_resnet * num_hierarchies + num_hierarchies - 1)  # u and ul, up and down
        self._cond_size = 2 * hid
        self.context_proj = nn.Linear(context_size, num_blocks * 2 * hid) if context_size else None
        self.local_proj = nn.Conv2d(local_context_channels, num_blocks * 2 * hid, 1) if local_context_channels else None

    def layout(self, length: int | None = None) -> StepLayout:
        return fixed_image_layout(self, length)

    def _blocks(self) -> list[tuple[int, GatedResnet]]:
        """Every gated block with its level, in the order :meth:`network` runs them."""
        order = []
        for level in range(self.num_hierarchies):  # up pass
            for pair in zip(self.up_u[level], self.up_ul[level], strict=True):
                order += [(level, block) for block in pair]
        for level in reversed(range(self.num_hierarchies)):  # down pass
            for pair in zip(self.down_u[level], self.down_ul[level], strict=True):
                order += [(level, block) for block in pair]
        return order

    def _conditioning(
        self, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> list[torch.Tensor | None]:
        """Per block (order of :meth:`_blocks`), its additive term or None.

        The global bias ``(N, 2F, 1, 1)`` plus the local map average-pooled to the
        block's level ``(N, 2F, H / 2^l, W / 2^l)``.
        """
        glob = loc = None
        if self.context_proj is not None and context is not None:
            glob = self.context_proj(context)[:, :, None, None].split(self._cond_size, dim=1)
        if self.local_proj is not None and local_context is not None:
            loc = self.local_proj(local_context).split(self._cond_size, dim=1)
        terms: list[torch.Tensor | None] = []
        for k, (level, _) in enumerate(self._blocks()):
            total = None if glob is None else glob[k]
            if loc is not None:
                pooled = F.avg_pool2d(loc[k], 2**level) if level else loc[k]  # (N, 2F, H / 2^l, W / 2^l)
                total = pooled if total is None else total + pooled
            terms.append(total)
        return terms

    def network(
        self, h: torch.Tensor, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        x = feature_map(h)  # (N, C * F, H, W)
        x = channels_last(torch.cat([x, x.new_ones(x.shape[0], 1, *x.shape[2:])], dim=1))  # (N, C * F + 1, H, W)
        cond = iter(self._conditioning(context, local_context))  # one term per block, in order
        u = down_shift(self.u_init(x))  # rows strictly above
        ul = down_shift(self.ul_init_up(x)) + right_shift(self.ul_init_left(x))  # above, and left on the row
        us, uls = [u], [ul]
        for level in range(self.num_hierarchies):
            for block_u, block_ul in zip(self.up_u[level], self.up_ul[level], strict=True):
                u = block_u(u, None, next(cond))
                ul = block_ul(ul, u, next(cond))
                us.append(u)
                uls.append(ul)
            if level < self.num_hierarchies - 1:
                u, ul = self.downsample_u[level](u), self.downsample_ul[level](ul)
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        for level in reversed(range(self.num_hierarchies)):
            for block_u, block_ul in zip(self.down_u[level], self.down_ul[level], strict=True):
                u = block_u(u, us.pop(), next(cond))
                ul = block_ul(ul, torch.cat([u, uls.pop()], dim=1), next(cond))
            if level > 0:
                u, ul = self.upsample_u[level - 1](u), self.upsample_ul[level - 1](ul)
        return self.output(ul).flatten(2).transpose(1, 2)  # (N, P, H, W) -> (N, H * W, P)

    def output_layers(self) -> tuple[nn.Module, ...]:
        return (self.out,)

    def output(self, ul: torch.Tensor) -> torch.Tensor:
        """The last ``ul`` activation ``(N, F, ...)`` to head parameters ``(N, P, ...)`` (whole maps or one pixel)."""
        return self.out(F.elu(ul))


class PixelCNNPlusPlusState(IncrementalState):
    r"""Exact cached sampling for :class:`PixelCNNPlusPlus` (Ramachandran et al. 2017).

    Every activation of PixelCNN++, at every level, is causal in raster order:
    once the pixels it depends on are known it is final. The state computes each
    one once, at the first step where it can, and keeps the input of every
    convolution in a :class:`~pyro_autoregressive.nn.grid_cache.GridCache` for as
    long as the convolution still reads it:

    * the ``u`` stream (down-shifted, rows strictly above) at the start of image
      row ``i``: one row of every ``u`` layer of level ``l`` for each ``l`` with
      :math:`2^l \mid i`, up pass, down pass and upsampling (``_u_rows``);
    * the ``ul`` stream (down-right-shifted) at pixel ``(i, j)``: one position of
      every ``ul`` layer of level ``l`` for each ``l`` with :math:`2^l \mid i` and
      :math:`2^l \mid j` (``_ul_at``), then the head parameters of the pixel.

    A stride-2 convolution at level ``l + 1`` reads rows ``2r - 1 .. 2r`` of level
    ``l``, so its row ``r`` is computable with row ``2r``; an upsampling maps row
    ``r`` (position ``(r, c)``) to rows ``2r, 2r + 1`` (the block at ``(2r, 2c)``),
    which are written ahead. :meth:`advance` writes the pixel into the input grid
    and computes the next pixel; :meth:`params` returns what was computed.

    In evaluation mode the parameters equal the teacher-forced pass. In training
    mode with ``dropout > 0`` each value is computed once with its own dropout mask
    (one fixed mask for the whole network), while ``cache=False`` draws new masks
    for the whole image at every step, so the two paths differ.
    """

    def start(self) -> None:
        super().start()
        model: PixelCNNPlusPlus = self.model  # type: ignore[assignment]
        _, height, width = model.image_shape
        self.width = width
        top = model.num_hierarchies - 1
        factory = {"dtype": model.dtype, "device": model.device}

        def grid(channels: int, level: int) -> GridCache:
            zero = torch.zeros(self.batch_size, channels, 1, 1, **factory)
            return GridCache(zero, height >> level, width >> level)

        hid = model.hidden_channels
        self.x = grid(model.u_init.in_channels, 0)  # the values and the channel of ones
        self._ones = torch.ones(self.batch_size, 1, **factory)
        blocks = model._blocks()
        self.cond = dict(
            zip((block for _, block in blocks), model._conditioning(self.context, self.local_context), strict=True)
        )
        self.grids = {block: (grid(2 * hid, level), grid(2 * hid, level)) for level, block in blocks}
        # inputs of the downsampling out of level l, outputs of the upsampling into level l (l < top)
        self.down_in = [(grid(hid, level), grid(hid, level)) for level in range(top)]
        self.up_out = [(grid(hid, level), grid(hid, level)) for level in range(top)]
        # per level, the current row of the u stream after each up and down block (aux of the ul blocks)
        self.u_up: list[list[torch.Tensor]] = [[] for _ in range(top + 1)]
        self.u_down: list[list[torch.Tensor]] = [[] for _ in range(top + 1)]
        self._zero_u = torch.zeros(self.batch_size, hid, 1, width, **factory)
        self._zero_ul = torch.zeros(self.batch_size, hid, 1, 1, **factory)
        self._ul_above: torch.Tensor | None = None  # down_shift(ul_init_up(x)) on the current row
        self._compute()

    def _cond(self, block: GatedResnet, r: int, c: int | None = None) -> torch.Tensor | None:
        """The block's conditioning term at its row ``r`` (position ``(r, c)``), or None."""
        cond = self.cond[block]
        if cond is not None and cond.shape[-2] > 1:
            cond = cond[..., r : r + 1, :]
        if cond is not None and c is not None and cond.shape[-1] > 1:
            cond = cond[..., c : c + 1]
        return cond

    def _u_rows(self, i: int) -> None:
        """The ``u`` stream at image row ``i`` (it sees rows ``< i`` only); follows :meth:`PixelCNNPlusPlus.network`."""
        m = self.model
        top = m.num_hierarchies - 1
        levels = [level for level in range(top + 1) if i % 2**level == 0]
        u = m.u_init.at(self.x, i - 1) if i else self._zero_u  # down_shift: row i is row i - 1
        self._ul_above = m.ul_init_up.at(self.x, i - 1) if i else None
        skips: dict[int, list[torch.Tensor]] = {}  # us, per level
        for level in levels:
            r = i >> level
            if level:
                u = m.downsample_u[level - 1].at(self.down_in[level - 1][0], r)
            skips[level] = [u]
            for block in m.up_u[level]:
                u = block.at(self.grids[block], u, None, self._cond(block, r), r)
                skips[level].append(u)
            self.u_up[level] = skips[level][1:]
            if level < top:
                self.down_in[level][0].put(u, r)
        for level in reversed(levels):
            r = i >> level
            u = skips[level].pop() if level == top else self.up_out[level][0].row(r)
            self.u_down[level] = []
            for block in m.down_u[level]:
                u = block.at(self.grids[block], u, skips[level].pop(), self._cond(block, r), r)
                self.u_down[level].append(u)
            if level:
                self.up_out[level - 1][0].put(m.upsample_u[level - 1](u), 2 * r)  # rows 2r, 2r + 1

    def _ul_at(self, i: int, j: int) -> torch.Tensor:
        """The ``ul`` stream at pixel ``(i, j)`` (it sees the pixels before it); returns level 0 ``(N, F, 1, 1)``."""
        m = self.model
        top = m.num_hierarchies - 1
        levels = [level for level in range(top + 1) if i % 2**level == 0 and j % 2**level == 0]
        ul = self._zero_ul  # down_shift(ul_init_up(x)) + right_shift(ul_init_left(x))
        if self._ul_above is not None:
            ul = ul + self._ul_above[..., j : j + 1]
        if j:
            ul = ul + m.ul_init_left.at(self.x, i, j - 1)
        skips: dict[int, list[torch.Tensor]] = {}  # uls, per level
        for level in levels:
            r, c = i >> level, j >> level
            if level:
                ul = m.downsample_ul[level - 1].at(self.down_in[level - 1][1], r, c)
            skips[level] = [ul]
            for block, u in zip(m.up_ul[level], self.u_up[level], strict=True):
                ul = block.at(self.grids[block], ul, u[..., c : c + 1], self._cond(block, r, c), r, c)
                skips[level].append(ul)
            if level < top:
                self.down_in[level][1].put(ul, r, c)
        for level in reversed(levels):
            r, c = i >> level, j >> level
            ul = skips[level].pop() if level == top else self.up_out[level][1].at(r, c)[:, :, None, None]
            for block, u in zip(m.down_ul[level], self.u_down[level], strict=True):
                aux = torch.cat([u[..., c : c + 1], skips[level].pop()], dim=1)
                ul = block.at(self.grids[block], ul, aux, self._cond(block, r, c), r, c)
            if level:
                self.up_out[level - 1][1].put(m.upsample_ul[level - 1](ul), 2 * r, 2 * c)  # the 2x2 block
        return ul

    def _compute(self) -> None:
        """Everything that becomes computable at the current pixel, and its head parameters."""
        i, j = divmod(self.step, self.width)
        if j == 0:
            self._u_rows(i)
        ul = self._ul_at(i, j)  # (N, F, 1, 1)
        self._params = self.model.output(ul)[:, :, 0, 0]  # (N, P)

    def params(self, partial: torch.Tensor | None = None) -> torch.Tensor:
        return self._params  # the head couples the channels: one call per pixel

    def advance(self, value: torch.Tensor) -> None:
        i, j = divmod(self.step, self.width)
        self.x.put(torch.cat([pixel_features(self.model, value), self._ones], dim=1), i, j)  # (N, C * F + 1)
        self.step += 1
        if self.step < self.layout.num_steps:
            self._compute()


PixelCNNPlusPlus.state_class = PixelCNNPlusPlusState
