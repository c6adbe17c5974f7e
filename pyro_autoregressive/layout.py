"""How an event tensor is cut into generation steps, and back."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["ImageLayout", "PermutedLayout", "SequenceLayout", "StepLayout"]


class StepLayout:
    """Maps an event ``(*N, *event_shape)`` to generation steps ``(*N, num_steps, channels)``.

    A *step* is the unit of the ancestral loop: one element of a sequence, one
    pixel (all of its channels) of an image, one dimension of a MADE event in its
    order. ``to_steps`` and ``from_steps`` are exact inverses.
    """

    event_shape: torch.Size
    num_steps: int
    channels: int
    #: the shape of the positions, a step's place, such as ``(T,)``, ``(H, W)`` or ``(D,)``;
    #: per-position conditioning (a ``local_context``) has this trailing shape
    positions: torch.Size

    def to_steps(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def from_steps(self, steps: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(event_shape={tuple(self.event_shape)})"


class SequenceLayout(StepLayout):
    """Event ``(T,)``; step ``t`` is element ``t`` (one channel)."""

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError(f"length: expected a positive int, got {length}")
        self.event_shape = torch.Size((length,))
        self.positions = self.event_shape
        self.num_steps = length
        self.channels = 1

    def to_steps(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-1)  # (*N, T) -> (*N, T, 1)

    def from_steps(self, steps: torch.Tensor) -> torch.Tensor:
        return steps.squeeze(-1)  # (*N, T, 1) -> (*N, T)


class ImageLayout(StepLayout):
    """Event ``(C, H, W)``; raster order, one pixel (``C`` channels) per step."""

    def __init__(self, image_shape: Sequence[int]) -> None:
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(f"image_shape: expected (C, H, W) of positive ints, got {tuple(image_shape)}")
        self.event_shape = torch.Size(image_shape)
        self.positions = self.event_shape[1:]
        channels, height, width = image_shape
        self.num_steps = height * width
        self.channels = channels

    def to_steps(self, x: torch.Tensor) -> torch.Tensor:
        # (*N, C, H, W) -> (*N, H*W, C)
        return x.flatten(-2).transpose(-1, -2)

    def from_steps(self, steps: torch.Tensor) -> torch.Tensor:
        _, height, width = self.event_shape
        # (*N, H*W, C) -> (*N, C, H, W)
        return steps.transpose(-1, -2).unflatten(-1, (height, width))


class PermutedLayout(StepLayout):
    """Event ``(D,)`` generated in a given order: step ``k`` is dimension ``order[k]``."""

    def __init__(self, order: Sequence[int]) -> None:
        order = [int(i) for i in order]
        if sorted(order) != list(range(len(order))):
            raise ValueError(f"order: expected a permutation of 0..{len(order) - 1}, got {order}")
        self.event_shape = torch.Size((len(order),))
        self.positions = self.event_shape
        self.num_steps = len(order)
        self.channels = 1
        self.order = order
        self.inverse = sorted(range(len(order)), key=order.__getitem__)

    def to_steps(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.order].unsqueeze(-1)  # (*N, D) -> (*N, D, 1)

    def from_steps(self, steps: torch.Tensor) -> torch.Tensor:
        return steps.squeeze(-1)[..., self.inverse]  # (*N, D, 1) -> (*N, D)
