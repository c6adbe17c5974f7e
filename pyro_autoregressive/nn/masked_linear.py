"""A dense layer whose weight is multiplied by a fixed 0/1 mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MaskedLinear", "made_masks"]


class MaskedLinear(nn.Linear):
    """``y = x (W * M)^T + b`` with a fixed mask ``M`` (a buffer, applied functionally).

    :param mask: ``(out_features, in_features)`` of zeros and ones.
    """

    mask: torch.Tensor

    def __init__(self, mask: torch.Tensor, bias: bool = True) -> None:
        out_features, in_features = mask.shape
        super().__init__(in_features, out_features, bias=bias)
        # derived from the configuration at construction, never saved or loaded (see pyro_autoregressive.save)
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def made_masks(
    input_degrees: torch.Tensor, hidden_sizes: tuple[int, ...], output_degrees: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """MADE's connectivity masks from degrees (Germain et al. 2015, section 4).

    Inputs and outputs carry the degree of their dimension (its step in the
    generation order, from 0). Hidden unit ``k`` of every layer gets degree
    ``k mod (D - 1)``, a unit of degree ``m`` sees the units below it of degree
    ``<= m``, and an output of degree ``r`` sees hidden units of degree ``< r``.
    So output ``r`` depends on exactly the inputs of degree ``< r``.

    :returns: the hidden-layer masks ``(out, in)`` and the direct input-to-output
        mask (strictly lower degree).
    """
    num_dims = int(input_degrees.max().item()) + 1
    masks = []
    below = input_degrees
    for size in hidden_sizes:
        degrees = torch.arange(size) % max(num_dims - 1, 1)
        masks.append((degrees[:, None] >= below[None, :]).float())
        below = degrees
    masks.append((output_degrees[:, None] > below[None, :]).float())
    direct = (output_degrees[:, None] > input_degrees[None, :]).float()
    return masks, direct
