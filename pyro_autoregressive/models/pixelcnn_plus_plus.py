"""PixelCNN++: shifted convolutions, a down/up hierarchy and the discretized logistic mixture."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..heads import DiscretizedLogisticMixture
from ..layout import StepLayout
from ..model import AutoregressiveModel
from .pixelcnn import check_image_shape, check_positive, fixed_image_layout

__all__ = ["PixelCNNPlusPlus", "concat_elu"]


def concat_elu(x: torch.Tensor) -> torch.Tensor:
    """``elu([x, -x])`` over the channels: ``(N, F, H, W) -> (N, 2F, H, W)``."""
    return F.elu(torch.cat([x, -x], dim=1))


def down_shift(x: torch.Tensor) -> torch.Tensor:
    """Move every row one down (a zero row on top): row ``i`` then holds row ``i - 1``."""
    return F.pad(x, (0, 0, 1, 0))[..., :-1, :]


def right_shift(x: torch.Tensor) -> torch.Tensor:
    """Move every column one right (a zero column on the left)."""
    return F.pad(x, (1, 0))[..., :-1]


class _ShiftedConv2d(nn.Conv2d):
    """Output ``(i, j)`` sees rows ``i - kh + 1 .. i``, columns centred on ``j`` (down) or ending at it (down-right)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int], right: bool, stride: int = 1):
        super().__init__(in_channels, out_channels, kernel, stride=stride)
        kh, kw = kernel
        self._padding = (kw - 1, 0, kh - 1, 0) if right else (kw // 2, kw // 2, kh - 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self._padding))


class _ShiftedDeconv2d(nn.ConvTranspose2d):
    """Stride-2 transposed convolution cropped so that it keeps the causal shift of :class:`_ShiftedConv2d`."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int], right: bool):
        super().__init__(in_channels, out_channels, kernel, stride=2, output_padding=1)
        self.right = right

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = super().forward(x)  # (N, out, 2h + kh - 1, 2w + kw - 1)
        kh, kw = self.kernel_size
        height, width = y.shape[-2] - kh + 1, y.shape[-1] - kw + 1
        left = 0 if self.right else (kw - 1) // 2
        return y[..., :height, left : left + width]  # (N, out, 2h, 2w)


class _GatedResnet(nn.Module):
    """``x + a * sigmoid(b)`` with ``[a, b] = conv(dropout(concat_elu(conv(concat_elu(x)) + nin(aux)))) + cond``."""

    def __init__(self, channels: int, right: bool, aux_channels: int, dropout: float) -> None:
        super().__init__()
        kernel = (2, 2) if right else (2, 3)
        self.conv1 = _ShiftedConv2d(2 * channels, channels, kernel, right)
        self.aux = nn.Conv2d(2 * aux_channels, channels, 1) if aux_channels else None
        self.dropout = nn.Dropout(dropout)
        self.conv2 = _ShiftedConv2d(2 * channels, 2 * channels, kernel, right)

    def forward(self, x: torch.Tensor, aux: torch.Tensor | None, cond: torch.Tensor | None) -> torch.Tensor:
        c = self.conv1(concat_elu(x))
        if self.aux is not None and aux is not None:
            c = c + self.aux(concat_elu(aux))
        c = self.conv2(self.dropout(concat_elu(c)))  # (N, 2F, H, W)
        if cond is not None:
            c = c + cond
        a, b = c.chunk(2, dim=1)
        return x + a * torch.sigmoid(b)


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

    NOTE: sampling uses the naive state (the full network per pixel) for both
    ``cache=True`` and ``cache=False``; a row cache for the hierarchy is not
    written yet. ``dropout`` defaults to 0 (the paper uses 0.5 on CIFAR-10), so
    that a model in training mode still has an exact, deterministic ``log_prob``.
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
        hid = check_positive("hidden_channels", hidden_channels)
        check_positive("num_resnet", num_resnet)
        check_positive("num_hierarchies", num_hierarchies)
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a float in [0, 1), got {dropout!r}")
        factor = 2 ** (num_hierarchies - 1)
        if height % factor or width % factor:
            raise ValueError(
                f"image_shape: expected H and W divisible by 2 ** (num_hierarchies - 1) = {factor}, "
                f"got {tuple(image_shape)}"
            )
        self._config = {
            "image_shape": list(self.image_shape),
            "num_components": num_components,
            "num_classes": num_classes,
            "hidden_channels": hidden_channels,
            "num_resnet": num_resnet,
            "num_hierarchies": num_hierarchies,
            "dropout": float(dropout),
            "context_size": context_size,
            "local_context_channels": local_context_channels,
        }
        self.num_resnet, self.num_hierarchies = num_resnet, num_hierarchies
        inputs = channels + 1  # the values and a channel of ones (marks the zero padding)
        self.u_init = _ShiftedConv2d(inputs, hid, (2, 3), right=False)
        self.ul_init_up = _ShiftedConv2d(inputs, hid, (1, 3), right=False)
        self.ul_init_left = _ShiftedConv2d(inputs, hid, (2, 1), right=True)

        def blocks(count: int, u_aux: int, ul_aux: int) -> tuple[nn.ModuleList, nn.ModuleList]:
            u = nn.ModuleList(_GatedResnet(hid, False, u_aux, dropout) for _ in range(count))
            ul = nn.ModuleList(_GatedResnet(hid, True, ul_aux, dropout) for _ in range(count))
            return u, ul

        up = [blocks(num_resnet, 0, hid) for _ in range(num_hierarchies)]
        self.up_u = nn.ModuleList(u for u, _ in up)
        self.up_ul = nn.ModuleList(ul for _, ul in up)
        # down pass: the top level mirrors num_resnet blocks, the others also the downsampling's output
        down = [blocks(num_resnet + (level < num_hierarchies - 1), hid, 2 * hid) for level in range(num_hierarchies)]
        self.down_u = nn.ModuleList(u for u, _ in down)
        self.down_ul = nn.ModuleList(ul for _, ul in down)
        self.downsample_u = nn.ModuleList(
            _ShiftedConv2d(hid, hid, (2, 3), False, stride=2) for _ in range(num_hierarchies - 1)
        )
        self.downsample_ul = nn.ModuleList(
            _ShiftedConv2d(hid, hid, (2, 2), True, stride=2) for _ in range(num_hierarchies - 1)
        )
        self.upsample_u = nn.ModuleList(_ShiftedDeconv2d(hid, hid, (2, 3), False) for _ in range(num_hierarchies - 1))
        self.upsample_ul = nn.ModuleList(_ShiftedDeconv2d(hid, hid, (2, 2), True) for _ in range(num_hierarchies - 1))
        self.out = nn.Conv2d(hid, head.num_params(channels), 1)
        num_blocks = 2 * (2 * num_resnet * num_hierarchies + num_hierarchies - 1)  # u and ul, up and down
        self._cond_size = 2 * hid
        self.context_proj = nn.Linear(context_size, num_blocks * 2 * hid) if context_size else None
        self.local_proj = nn.Conv2d(local_context_channels, num_blocks * 2 * hid, 1) if local_context_channels else None

    def layout(self, length: int | None = None) -> StepLayout:
        return fixed_image_layout(self, length)

    def _conditioning(
        self, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> tuple[list[torch.Tensor] | None, list[torch.Tensor] | None]:
        """Per block, the global bias ``(N, 2F, 1, 1)`` and the full-resolution local map ``(N, 2F, H, W)``."""
        glob = loc = None
        if self.context_proj is not None and context is not None:
            glob = list(self.context_proj(context)[:, :, None, None].split(self._cond_size, dim=1))
        if self.local_proj is not None and local_context is not None:
            loc = list(self.local_proj(local_context).split(self._cond_size, dim=1))
        return glob, loc

    def network(
        self, h: torch.Tensor, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        N, C, H, W, F_ = h.shape
        x = h.permute(0, 1, 4, 2, 3).reshape(N, C * F_, H, W)
        x = torch.cat([x, x.new_ones(N, 1, H, W)], dim=1)  # (N, C + 1, H, W)
        glob, loc = self._conditioning(context, local_context)
        counter = iter(range(10**9))

        def cond(level: int) -> torch.Tensor | None:
            k = next(counter)
            total = None if glob is None else glob[k]
            if loc is not None:
                pooled = F.avg_pool2d(loc[k], 2**level) if level else loc[k]  # (N, 2F, H / 2^l, W / 2^l)
                total = pooled if total is None else total + pooled
            return total

        u = down_shift(self.u_init(x))  # rows strictly above
        ul = down_shift(self.ul_init_up(x)) + right_shift(self.ul_init_left(x))  # above, and left on the row
        us, uls = [u], [ul]
        for level in range(self.num_hierarchies):
            for block_u, block_ul in zip(self.up_u[level], self.up_ul[level], strict=True):
                u = block_u(u, None, cond(level))
                ul = block_ul(ul, u, cond(level))
                us.append(u)
                uls.append(ul)
            if level < self.num_hierarchies - 1:
                u, ul = self.downsample_u[level](u), self.downsample_ul[level](ul)
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        for level in reversed(range(self.num_hierarchies)):
            for block_u, block_ul in zip(self.down_u[level], self.down_ul[level], strict=True):
                u = block_u(u, us.pop(), cond(level))
                ul = block_ul(ul, torch.cat([u, uls.pop()], dim=1), cond(level))
            if level > 0:
                u, ul = self.upsample_u[level - 1](u), self.upsample_ul[level - 1](ul)
        params = self.out(F.elu(ul))  # (N, P, H, W)
        return params.flatten(2).transpose(1, 2)  # (N, H * W, P)
