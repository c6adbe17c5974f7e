"""The input map of a raster-causal convolution, filled while an image is generated (tensors only, no Pyro)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

__all__ = ["GridCache", "RasterLayer"]


class RasterLayer(Protocol):
    """A layer with a one-step method: its ``forward`` output at row ``r`` or position ``(r, c)``."""

    def at(self, grid: GridCache, r: int, c: int | None = None) -> torch.Tensor: ...


class GridCache:
    """An activation map ``(N, F, H, W)`` that is written in raster order, a row or a position at a time.

    The one raster cache of the library (Ramachandran et al. 2017). A network
    whose every activation is causal in raster order computes each value once,
    as soon as the pixels it depends on are known, and never revisits it. A
    ``GridCache`` holds the input of one convolution while an image is generated:
    whole rows (``put(value, r)``) or blocks of positions (``put(value, r, c)``)
    are written, and the layer's one-step method (``at``) reads what it sees
    through :meth:`window` (complete rows), :meth:`taps` (the current row) or
    :meth:`patch` (one position's window), with zeros outside the image as in
    the padded teacher-forced convolution.

    Nothing is written in place (every value is its own tensor), so autograd can
    differentiate through generation. A position may be written again (a pixel
    whose channels are drawn one by one); a row assembled from it is then
    rebuilt. Only the last ``keep`` rows written are kept; reading a position
    that was not written (or was dropped) is a ``KeyError``, never a silent zero.

    :param zero: a zero position ``(N, F, 1, 1)`` (the padding).
    :param height: ``H``.
    :param width: ``W``.
    :param keep: rows kept (the rows a layer reads, plus any written ahead).
    """

    def __init__(self, zero: torch.Tensor, height: int, width: int, keep: int = 3) -> None:
        if keep < 1:
            raise ValueError(f"keep: expected an int >= 1, got {keep!r}")
        self.zero, self.height, self.width, self.keep = zero, height, width, keep
        self._zero_position = zero[:, :, 0, 0]  # (N, F)
        self._rows: dict[int, torch.Tensor] = {}  # whole rows (N, F, 1, W)
        self._cells: dict[int, dict[int, torch.Tensor]] = {}  # rows written by position: column -> (N, F)
        self._row_terms: dict[int, tuple[int, torch.Tensor]] = {}  # id(layer) -> (row, a term of that row)

    def _open_row(self, r: int) -> None:
        if r in self._rows or r in self._cells:
            return
        for store in (self._rows, self._cells):
            for old in [k for k in store if k <= r - self.keep]:
                del store[old]

    def put(self, value: torch.Tensor, r: int, c: int | None = None) -> None:
        """Write ``value (N, F, h, W)`` as rows ``r ..`` (``c`` None), or ``(N, F, h, w)`` from ``(r, c)`` on;
        a 2-d ``value (N, F)`` is the one position ``(r, c)``."""
        if value.dim() == 2:
            cells = self._cells.get(r)
            if cells is None:
                self._open_row(r)
                cells = self._cells[r] = {}
            self._rows.pop(r, None)  # a row assembled from positions is rebuilt on the next read
            cells[c] = value  # type: ignore[index]
            return
        for dr in range(value.shape[2]):
            self._open_row(r + dr)
            if c is None:
                self._rows[r + dr] = value[:, :, dr : dr + 1]
                continue
            self._rows.pop(r + dr, None)
            cells = self._cells.setdefault(r + dr, {})
            for dc in range(value.shape[3]):
                cells[c + dc] = value[:, :, dr, dc]

    def row(self, r: int) -> torch.Tensor:
        """Row ``r`` ``(N, F, 1, W)`` (complete), zeros outside the image."""
        if r < 0 or r >= self.height:
            return self.zero.expand(-1, -1, -1, self.width)
        if r not in self._rows:  # written by position: assemble once
            cells = self._cells.get(r, {})
            if len(cells) < self.width:
                raise self._missing(r, next(c for c in range(self.width) if c not in cells))
            self._rows[r] = torch.stack([cells[c] for c in range(self.width)], dim=-1)[:, :, None]
        return self._rows[r]

    def _missing(self, r: int, c: int | None = None) -> KeyError:
        where = f"row {r}" if c is None else f"position ({r}, {c})"
        return KeyError(
            f"GridCache: {where} was read before it was computed, or after it was dropped "
            f"(the last {self.keep} rows are kept): the cached schedule is out of step with the network"
        )

    def at(self, r: int, c: int) -> torch.Tensor:
        """Position ``(r, c)`` as ``(N, F)``, zeros outside the image."""
        if r < 0 or r >= self.height or c < 0 or c >= self.width:
            return self._zero_position
        cells = self._cells.get(r)
        if cells is not None and c in cells:
            return cells[c]
        if r in self._rows:
            return self._rows[r][:, :, 0, c]
        raise self._missing(r, c)

    def taps(self, r: int, first: int, last: int) -> list[torch.Tensor]:
        """Positions ``(r, first) .. (r, last)`` of one row, each ``(N, F)``, zeros outside the image."""
        cells = self._cells.get(r)
        if cells is not None and 0 <= first and last < self.width and 0 <= r < self.height:
            try:  # the usual case: a row being written position by position
                return [cells[c] for c in range(first, last + 1)]
            except KeyError:
                pass  # some positions outside the cells: position by position, with the error if one is missing
        return [self.at(r, c) for c in range(first, last + 1)]

    def patch(self, top: int, left: int, height: int, width: int) -> torch.Tensor:
        """A small window read position by position, ``(N, F * height * width)``, flattened feature-major as
        a kernel ``(out, F, height, width).flatten(1)`` is; zeros outside the image, every other position
        must have been written."""
        taps = [self.at(r, c) for r in range(top, top + height) for c in range(left, left + width)]
        return torch.stack(taps, dim=-1).flatten(1)  # (N, F, height * width) -> (N, F * height * width)

    def window(self, top: int, left: int, height: int, width: int) -> torch.Tensor:
        """Complete rows ``top ..``, columns ``left ..``, as ``(N, F, height, width)``, zeros outside the image."""
        rows = []
        for r in range(top, top + height):
            if r < 0 or r >= self.height:
                rows.append(self.zero.expand(-1, -1, -1, width))
            else:
                full = self.row(r)  # (N, F, 1, W)
                inside = full[..., max(left, 0) : max(min(left + width, self.width), 0)]
                pad = (max(-left, 0), max(left + width - self.width, 0))
                rows.append(torch.nn.functional.pad(inside, pad) if any(pad) else inside)
        return torch.cat(rows, dim=2) if height > 1 else rows[0]

    def row_term(self, layer: object, r: int) -> torch.Tensor | None:
        """The term of ``layer`` for row ``r`` stored by :meth:`set_row_term`, or None."""
        memo = self._row_terms.get(id(layer))
        return memo[1] if memo is not None and memo[0] == r else None

    def set_row_term(self, layer: object, r: int, term: torch.Tensor) -> torch.Tensor:
        """Keep a term of ``layer`` for row ``r`` that depends only on complete rows of this grid (the part
        of a masked convolution from the rows above), so that it is computed once per row; returns it."""
        self._row_terms[id(layer)] = (r, term)
        return term

    def feed(self, layer: RasterLayer, r: int, c: int | None = None) -> Callable[..., torch.Tensor]:
        """``layer`` at row ``r`` (position ``(r, c)``) as a function of its input there.

        The returned function ``run(x, pre=None)`` writes the input ``pre(x)``
        (``pre`` None: ``x``) to this grid (``x`` None: it was written already, or
        the layer does not read it) and returns ``layer.at(self, r, c)``. Passed
        where a block's ``forward`` applies the layer, it turns the block's one
        body into its one-step method.
        """

        def run(x: torch.Tensor | None, pre: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
            if x is not None:
                self.put(x if pre is None else pre(x), r, c)
            return layer.at(self, r, c)

        return run
