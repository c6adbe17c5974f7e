"""Rotary position embeddings: queries and keys rotated by their position, so attention sees only offsets."""

from __future__ import annotations

import torch

__all__ = ["RotaryTable", "rotary_table", "rotate"]

#: the base of the rotation frequencies (Su et al.)
ROTARY_BASE = 10000.0


def rotary_table(
    first: int, n: int, head_size: int, dtype: torch.dtype, device: torch.device | str | None = None
) -> torch.Tensor:
    r"""The rotations of positions ``first..first+n-1``: ``(n, 2, head_size)``, cosines then signed sines.

    Pair ``j`` of a head's features (feature ``j`` and ``j + head_size / 2``) at
    position ``m`` turns by the angle ``m theta_j``, ``theta_j = base^{-2j / head_size}``.
    Row ``[m, 0]`` holds ``cos(m theta_j)`` for both halves, row ``[m, 1]``
    ``-sin(m theta_j)`` then ``sin(m theta_j)``, as :func:`rotate` takes them. The
    angles and their cosines are computed in float64 and then rounded to
    ``dtype``, so positions far past any training length (``m ~ 10^5``) keep
    their angles accurate in float32 too.
    """
    half = head_size // 2
    theta = ROTARY_BASE ** (-torch.arange(half, dtype=torch.float64, device=device) * 2.0 / head_size)  # (hs/2,)
    positions = torch.arange(first, first + n, dtype=torch.float64, device=device)  # (n,)
    angles = positions[:, None] * theta  # (n, hs/2)
    cos, sin = angles.cos(), angles.sin()
    table = torch.stack([torch.cat([cos, cos], -1), torch.cat([-sin, sin], -1)], dim=1)  # (n, 2, hs)
    return table.to(dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    r"""Rotate each pair ``(x_j, x_{j + h})`` of the last dimension (``h`` half its size) by its angle.

    .. math::
        \begin{pmatrix} x'_j \\ x'_{j+h} \end{pmatrix} =
        \begin{pmatrix} \cos m\theta_j & -\sin m\theta_j \\ \sin m\theta_j & \cos m\theta_j \end{pmatrix}
        \begin{pmatrix} x_j \\ x_{j+h} \end{pmatrix}

    ``cos`` and ``sin`` are rows 0 and 1 of :func:`rotary_table` (the signed
    sines), broadcast against ``x``. Then
    :math:`\langle R_m q, R_n k \rangle = \langle q, R_{n-m} k \rangle`: attention
    scores depend on the offset ``n - m`` only, not on where the pair is.
    """
    half = x.shape[-1] // 2
    swapped = torch.cat([x[..., half:], x[..., :half]], dim=-1)  # (x_{j+h}, x_j)
    return x * cos + swapped * sin


class RotaryTable:
    """Rotations of consecutive positions computed a block at a time (the cached step asks one per step).

    ``at(m)`` returns ``(cos, sin)`` of position ``m``, ``(1, 1, 1, head_size)``,
    from a table of ``block`` positions that is recomputed when ``m`` leaves it.
    The rows equal those of :func:`rotary_table` for the same positions.
    """

    def __init__(self, head_size: int, dtype: torch.dtype, device: torch.device, block: int = 1024) -> None:
        self.head_size, self.dtype, self.device, self.block = head_size, dtype, device, block
        self._first = -1
        self._rows: list[tuple[torch.Tensor, torch.Tensor]] = []

    def at(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        first = position - position % self.block
        if first != self._first:
            table = rotary_table(first, self.block, self.head_size, self.dtype, self.device)  # (block, 2, hs)
            self._rows = [(row[0].view(1, 1, 1, -1), row[1].view(1, 1, 1, -1)) for row in table]
            self._first = first
        return self._rows[position - first]
