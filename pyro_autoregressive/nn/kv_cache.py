"""The keys and values one attention layer keeps between generation steps: a growing cache or a ring of ``W``."""

from __future__ import annotations

import torch

__all__ = ["KVCache"]


class KVCache:
    """Keys and values of the positions one attention layer has already seen.

    :meth:`append` adds the keys and values of new positions ``(B, nh, n, hs)``
    and returns those that the new positions attend to, the new ones last.

    Without a ``window`` that is every position so far. With gradients enabled
    the cache grows by ``torch.cat`` (nothing autograd saved is ever written to,
    so ``rsample`` can differentiate through the sampling loop); without
    gradients and with a known ``capacity`` it writes into buffers preallocated on
    the first call, which avoids copying the whole cache at every step.

    With a ``window`` ``W`` (sliding-window attention: position ``t`` attends to
    ``t - W + 1 .. t``), at most ``W`` positions are kept, so memory does not grow
    with the length. Without gradients they sit in a ring buffer of ``W`` slots
    (position ``p`` in slot ``p mod W``): one new position is written over the one
    that left the window, and the whole ring, in slot order, is returned -- the
    order does not matter to the one query, which sees all of it. Several new
    positions (a prompt) get the last ``W - 1`` kept positions in order, then
    themselves, for a banded attention. With gradients the last ``W - 1``
    positions are kept in order by ``torch.cat`` and slicing (no in-place write).

    :param capacity: the largest number of positions that will be appended (unused
        with a window: the ring has ``W`` slots however many positions come).
    :param window: the attention window ``W`` (``None``: every position).
    """

    def __init__(self, capacity: int | None = None, window: int | None = None) -> None:
        self.capacity = capacity
        self.window = window
        self.length = 0  # positions appended so far
        self._keys: torch.Tensor | None = None  # (B, nh, t or capacity or W, hs)
        self._values: torch.Tensor | None = None
        self._preallocated = False  # _keys/_values are buffers (a ring with a window)

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add ``keys``/``values`` ``(B, nh, n, hs)``; return those the new positions see, ``(B, nh, past + n, hs)``.

        The first ``past`` returned positions are earlier ones (all of them, or the
        last ``W - 1`` with a window), in order; with a window and one new
        position without gradients, the ring in slot order (then ``past < W``).
        """
        if self.window is not None:
            return self._append_window(keys, values)
        new_length = self.length + keys.shape[2]
        if self._keys is None or self._values is None:
            if self.capacity is not None and not torch.is_grad_enabled() and new_length <= self.capacity:
                B, nh, _, hs = keys.shape
                self._keys = keys.new_empty(B, nh, self.capacity, hs)  # (B, nh, capacity, hs)
                self._values = values.new_empty(B, nh, self.capacity, hs)
                self._preallocated = True
            else:
                self._keys, self._values, self.length = keys, values, new_length
                return keys, values
        if self._preallocated and (torch.is_grad_enabled() or new_length > self._keys.shape[2]):
            # leave the buffers: from now on grow by concatenation
            self._keys, self._values = self._keys[:, :, : self.length], self._values[:, :, : self.length]
            self._preallocated = False
        if self._preallocated:
            n = new_length - self.length
            self._keys.narrow(2, self.length, n).copy_(keys)
            self._values.narrow(2, self.length, n).copy_(values)
            self.length = new_length
            return self._keys.narrow(2, 0, new_length), self._values.narrow(2, 0, new_length)
        self._keys = torch.cat([self._keys, keys], dim=2)
        self._values = torch.cat([self._values, values], dim=2)
        self.length = new_length
        return self._keys, self._values

    # -- sliding window ------------------------------------------------------------------------------

    def _append_window(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.window is not None
        n, W, ring = keys.shape[2], self.window, not torch.is_grad_enabled()
        if ring and n == 1:  # one generation step: write over the position that left the window
            buffer_keys, buffer_values = self._ring(keys, values)
            slot = self.length % W
            buffer_keys.narrow(2, slot, 1).copy_(keys)
            buffer_values.narrow(2, slot, 1).copy_(values)
            self.length += 1
            if self.length >= W:
                return buffer_keys, buffer_values
            return buffer_keys.narrow(2, 0, self.length), buffer_values.narrow(2, 0, self.length)
        past_keys, past_values = self._recent(W - 1, keys, values)  # (B, nh, past, hs), in order
        all_keys, all_values = torch.cat([past_keys, keys], dim=2), torch.cat([past_values, values], dim=2)
        if ring:
            buffer_keys, buffer_values = self._ring(keys, values)
            kept = min(n, W)
            slots = torch.arange(self.length + n - kept, self.length + n, device=keys.device) % W
            buffer_keys.index_copy_(2, slots, keys[:, :, n - kept :])
            buffer_values.index_copy_(2, slots, values[:, :, n - kept :])
        else:  # keep the last W - 1 in order, as new tensors' views (nothing written in place)
            start = all_keys.shape[2] - min(all_keys.shape[2], W - 1)
            self._keys, self._values = all_keys[:, :, start:], all_values[:, :, start:]
            self._preallocated = False
        self.length += n
        return all_keys, all_values

    def _ring(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ring buffers ``(B, nh, W, hs)`` (position ``p`` in slot ``p mod W``), made on first use;
        positions kept in order until then are moved in."""
        assert self.window is not None
        if not self._preallocated:
            kept_keys, kept_values = self._recent(self.window, keys, values)
            B, nh, _, hs = keys.shape
            ring_keys = keys.new_empty(B, nh, self.window, hs)
            ring_values = values.new_empty(B, nh, self.window, hs)
            if kept_keys.shape[2]:
                slots = torch.arange(self.length - kept_keys.shape[2], self.length, device=keys.device) % self.window
                ring_keys.index_copy_(2, slots, kept_keys)
                ring_values.index_copy_(2, slots, kept_values)
            self._keys, self._values, self._preallocated = ring_keys, ring_values, True
        assert self._keys is not None and self._values is not None
        return self._keys, self._values

    def _recent(self, m: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The last ``min(m, kept)`` positions' keys and values, in order, ``(B, nh, <= m, hs)``
        (none before the first append: empty slices of the new ``keys``/``values``)."""
        if self._keys is None or self._values is None:
            return keys[:, :, :0], values[:, :, :0]
        if not self._preallocated:  # kept in order, the last ones at the end
            t = self._keys.shape[2]
            start = t - min(m, t)
            return self._keys[:, :, start:], self._values[:, :, start:]
        assert self.window is not None
        m = min(m, self.length, self.window)
        slots = torch.arange(self.length - m, self.length, device=self._keys.device) % self.window
        return self._keys.index_select(2, slots), self._values.index_select(2, slots)
