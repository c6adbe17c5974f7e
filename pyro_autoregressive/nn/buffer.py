"""Activation buffers in the memory format of a layer's input, for a layer that writes its input's activation itself."""

from __future__ import annotations

import torch

__all__ = ["padded"]


def padded(x: torch.Tensor, channels: int, padding: tuple[int, int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A zero-bordered buffer ``(N, channels, H + top + bottom, W + left + right)`` in ``x``'s memory format
    (channels-last stays channels-last) and its inside ``(N, channels, H, W)``, left to be written."""
    n, _, h, w = x.shape
    left, right, top, bottom = padding
    shape = (n, channels, h + top + bottom, w + left + right)
    last = x.stride(1) < x.stride(3)  # channels innermost: channels-last (also a view of such a map)
    buffer = torch.empty(
        shape, dtype=x.dtype, device=x.device, memory_format=torch.channels_last if last else torch.contiguous_format
    )
    for border in (buffer[:, :, :top], buffer[:, :, h + top :], buffer[..., :left], buffer[..., w + left :]):
        if border.numel():
            border.zero_()
    return buffer, buffer[:, :, top : top + h, left : left + w]
