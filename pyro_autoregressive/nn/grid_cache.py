"""The input map of a raster-causal convolution, filled while an image is generated (tensors only, no Pyro)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["GridCache"]


class GridCache:
    """An activation map ``(N, F, H, W)`` that is written in raster order, a row or a position at a time.

    A network whose every activation is causal in raster order (PixelCNN++'s
    shifted convolutions) can compute each value once, as soon as the pixels it
    depends on are known, and never revisit it. A ``GridCache`` holds one such
    activation while an image is generated: whole rows (``put(value, r)``) or
    blocks of positions (``put(value, r, c)``) are written once, and a
    convolution reads the window it sees through :meth:`rows` or :meth:`patch`,
    with zeros outside the image as in the padded teacher-forced convolution.

    Nothing is written in place (every value is its own tensor), so autograd can
    differentiate through generation. Only the last :attr:`keep` rows written
    are kept: the convolutions read two rows, and an upsampling writes one row ahead.

    :param zero: a zero position ``(N, F, 1, 1)`` (the padding).
    :param height: ``H``.
    :param width: ``W``.
    """

    keep = 3

    def __init__(self, zero: torch.Tensor, height: int, width: int) -> None:
        self.zero, self.height, self.width = zero, height, width
        self._rows: dict[int, torch.Tensor] = {}  # whole rows (N, F, 1, W)
        self._cells: dict[int, dict[int, torch.Tensor]] = {}  # rows written by position: column -> (N, F, 1, 1)

    def _open_row(self, r: int) -> None:
        if r in self._rows or r in self._cells:
            return
        for store in (self._rows, self._cells):
            for old in [k for k in store if k <= r - self.keep]:
                del store[old]

    def put(self, value: torch.Tensor, r: int, c: int | None = None) -> None:
        """Write ``value (N, F, h, W)`` as rows ``r ..`` (``c`` None), or ``(N, F, h, w)`` from ``(r, c)`` on."""
        for dr in range(value.shape[2]):
            self._open_row(r + dr)
            if c is None:
                self._rows[r + dr] = value[:, :, dr : dr + 1]
            else:
                cells = self._cells.setdefault(r + dr, {})
                for dc in range(value.shape[3]):
                    cells[c + dc] = value[:, :, dr : dr + 1, dc : dc + 1]

    def row(self, r: int) -> torch.Tensor:
        """Row ``r`` ``(N, F, 1, W)`` (complete), zeros above the image."""
        if r < 0:
            return self.zero.expand(-1, -1, -1, self.width)
        if r not in self._rows:  # written by position: stack once
            cells = self._cells.get(r, {})
            if len(cells) < self.width:
                raise self._missing(r, next(c for c in range(self.width) if c not in cells))
            self._rows[r] = torch.cat([cells[c] for c in range(self.width)], dim=-1)
        return self._rows[r]

    def _missing(self, r: int, c: int | None = None) -> KeyError:
        where = f"row {r}" if c is None else f"position ({r}, {c})"
        return KeyError(
            f"GridCache: {where} was read before it was computed, or after it was dropped "
            f"(the last {self.keep} rows are kept): the cached schedule is out of step with the network"
        )

    def rows(self, top: int, count: int) -> torch.Tensor:
        """Rows ``top .. top + count - 1`` as ``(N, F, count, W)``, zeros above the image."""
        inside = [self.row(r) for r in range(max(top, 0), top + count)]
        if not inside:
            return self.zero.expand(-1, -1, count, self.width)
        window = torch.cat(inside, dim=2) if len(inside) > 1 else inside[0]
        return F.pad(window, (0, 0, count - len(inside), 0)) if len(inside) < count else window

    def at(self, r: int, c: int) -> torch.Tensor:
        """Position ``(r, c)`` as ``(N, F, 1, 1)``, zeros outside the image."""
        if r < 0 or c < 0 or c >= self.width:
            return self.zero
        cells = self._cells.get(r)
        if cells is not None and c in cells:
            return cells[c]
        if r in self._rows:
            return self._rows[r][..., c : c + 1]
        raise self._missing(r, c)

    def patch(self, top: int, left: int, height: int, width: int) -> torch.Tensor:
        """Rows ``top ..`` and columns ``left ..`` as ``(N, F, height, width)``, zeros outside the image."""
        taps = [self.at(r, c) for r in range(top, top + height) for c in range(left, left + width)]
        window = torch.cat(taps, dim=1) if len(taps) > 1 else taps[0]  # (N, height * width * F, 1, 1)
        return window.view(window.shape[0], height, width, -1).permute(0, 3, 1, 2)
