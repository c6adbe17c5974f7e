"""Activation buffers in the memory format of a layer's input, for a layer that writes its input's activation itself."""

from __future__ import annotations

import torch

__all__ = ["channels_last", "is_channels_last", "padded"]


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """A whole map ``(N, C, H, W)`` stored channels-last on CPU, where oneDNN's convolutions (1x1 ones above
    all) run faster in that format and the head's ``(N, H * W, P)`` is then a view; elsewhere ``x`` itself.

    The layers that build their own input buffers (:func:`padded`) keep the format it sets. The strides are
    set explicitly, so that a one-channel map (contiguous in either format) is channels-last too.
    """
    if x.device.type != "cpu":
        return x
    return torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=torch.channels_last).copy_(x)


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether a map ``(N, C, H, W)`` (or a view of one) has its channels innermost."""
    return x.stride(1) <= x.stride(3) and x.shape[-1] * x.shape[-2] > 1


def padded(x: torch.Tensor, channels: int, padding: tuple[int, int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A zero-bordered buffer ``(N, channels, H + top + bottom, W + left + right)`` in ``x``'s memory format
    (channels-last stays channels-last) and its inside ``(N, channels, H, W)``, left to be written."""
    n, _, h, w = x.shape
    left, right, top, bottom = padding
    shape = (n, channels, h + top + bottom, w + left + right)
    memory_format = torch.channels_last if is_channels_last(x) else torch.contiguous_format
    buffer = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=memory_format)
    for border in (buffer[:, :, :top], buffer[:, :, h + top :], buffer[..., :left], buffer[..., w + left :]):
        if border.numel():
            border.zero_()
    return buffer, buffer[:, :, top : top + h, left : left + w]
