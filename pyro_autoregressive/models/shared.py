"""Plumbing shared by the model families: argument checks, image shapes, pixel features, conditioning maps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..heads import Head
from ..layout import ImageLayout

if TYPE_CHECKING:
    from ..model import AutoregressiveModel

__all__ = [
    "at_position",
    "at_row",
    "channel_masking",
    "feature_map",
    "fixed_image_layout",
    "pixel_features",
    "summed_projection",
]


def fixed_image_layout(model: AutoregressiveModel, length: int | None) -> ImageLayout:
    """The raster layout of an image model; its shape is fixed, so a ``length`` is a ``TypeError``."""
    if length is not None:
        raise TypeError(f"length: {type(model).__name__} has a fixed image shape {model.image_shape}, got {length}")
    return ImageLayout(model.image_shape)


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


def feature_map(h: torch.Tensor) -> torch.Tensor:
    """Embedded images ``(N, C, H, W, F)`` as a convolution's input ``(N, C * F, H, W)``, channel-major."""
    N, C, H, W, F_ = h.shape
    return h.permute(0, 1, 4, 2, 3).reshape(N, C * F_, H, W)


def pixel_features(model: AutoregressiveModel, value: torch.Tensor) -> torch.Tensor:
    """One pixel's values ``(N, C)`` as the input features ``(N, C * F)`` the network sees there.

    One position of a generation step is a 2-d tensor ``(N, features)``; the
    layers that a cached state runs on one position take it as such.
    """
    return model.embed(value).flatten(1)  # (N, C, F) -> (N, C * F), channel-major as feature_map


def summed_projection(
    context_proj: nn.Module | None,
    context: torch.Tensor | None,
    local_proj: nn.Module | None,
    local_context: torch.Tensor | None,
) -> torch.Tensor | None:
    """The conditioning of an image model: ``context_proj(context)`` as a ``(N, F, 1, 1)`` map plus
    ``local_proj(local_context)`` ``(N, F, H, W)``; None where neither is given (or taken)."""
    total: torch.Tensor | None = None
    if context_proj is not None and context is not None:
        total = context_proj(context)[:, :, None, None]  # (N, F, 1, 1)
    if local_proj is not None and local_context is not None:
        local = local_proj(local_context)  # (N, F, H, W)
        total = local if total is None else total + local
    return total


def at_row(cond: torch.Tensor | None, r: int) -> torch.Tensor | None:
    """Row ``r`` of a conditioning map ``(N, F, H or 1, W or 1)`` as ``(N, F, 1, W or 1)`` (None stays None)."""
    if cond is None or cond.shape[2] == 1:
        return cond
    return cond[:, :, r : r + 1]


def at_position(cond: torch.Tensor | None, r: int, c: int) -> torch.Tensor | None:
    """Position ``(r, c)`` of a conditioning map ``(N, F, H or 1, W or 1)`` as ``(N, F)``."""
    if cond is None:
        return None
    return cond[:, :, r if cond.shape[2] > 1 else 0, c if cond.shape[3] > 1 else 0]
