"""The Transformer's sampling state: per-layer KV caches (a ring of ``W`` with a window) and one position per step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..nn.attention import KVCache, transformer_block
from ..nn.rotary import RotaryTable
from ..sampling import IncrementalState

if TYPE_CHECKING:
    from .transformer import Transformer

__all__ = ["TransformerState"]


class TransformerState(IncrementalState):
    """KV-cache sampling state of a :class:`Transformer`.

    Holds, per layer, the keys and values of the input positions ``0..i``
    (:class:`~pyro_autoregressive.nn.kv_cache.KVCache`; with an attention window
    ``W``, a ring of the last ``W`` only) and the final hidden state of position
    ``i`` (which predicts step ``i``). ``advance(x_i)`` embeds ``x_i`` as the input
    of position ``i + 1``, appends its keys and values in every layer and attends
    from that position only: ``O(layers * min(i, W))`` per step instead of a pass
    over the whole buffer. ``advance_prefix`` encodes several known steps (a
    prompt) in one causal pass.

    The step runs the blocks' own ``forward`` on one position (no second copy of
    their arithmetic), with the rotary angles of the position read from a table
    computed a block of positions at a time.
    """

    bounded_memory = True  # the caches hold at most max_length positions, or W with a window
    parallel_prefill = True

    def start(self) -> None:
        super().start()
        model: Transformer = self.model  # type: ignore[assignment]
        self.caches = [KVCache(self.layout.num_steps, model.attention_window) for _ in model.blocks]
        self.block_weights = [block.weights() for block in model.blocks]  # looked up once, not at every step
        self.context_features = model._context_features(self.context)  # (N, 1, D) or None
        self.rotary = None
        if model.positions == "rotary":
            self.rotary = RotaryTable(model.head_size, model.dtype, model.device)
        # the hidden state is that of position `step`
        self.hidden = self._run(model.start.expand(self.batch_size, 1, -1), 0)  # (N, 1, D)

    def _run(self, tokens: torch.Tensor, first: int) -> torch.Tensor:
        """Feed positions ``first..first+n-1`` (tokens ``(N, n, D)``); return the last one's state ``(N, 1, D)``."""
        model: Transformer = self.model  # type: ignore[assignment]
        n = tokens.shape[1]
        x = model._inputs(tokens, first, self.context_features, self.local_context)
        if self.rotary is None:
            rotation = None
        elif n == 1:
            rotation = self.rotary.at(first)
        else:
            rotation = model._rotation(first, n)
        for weights, cache in zip(self.block_weights, self.caches, strict=True):
            x = transformer_block(x, weights, cache, rotation)  # (N, n, D), the blocks' own arithmetic
        return model._final_norm(x[:, -1:])  # (N, 1, D)

    def params(self, partial: torch.Tensor | None = None) -> torch.Tensor:
        model: Transformer = self.model  # type: ignore[assignment]
        u = None
        if model.coupling is not None:
            # the current step's channels drawn so far; the rest are zeros, which block c cannot see
            N = self.hidden.shape[0]
            values = torch.zeros(N, self.layout.channels, dtype=torch.long, device=self.hidden.device)
            if partial is not None and partial.shape[-1] > 0:
                values = torch.cat([partial, values[:, partial.shape[-1] :]], dim=-1)
            u = model._step_features(values.unsqueeze(1))  # (N, 1, C, F)
        return model._params(self.hidden, u)[:, 0]  # (N, P)

    def advance(self, value: torch.Tensor) -> None:
        # step i becomes the input of position i + 1 (the last step needs none)
        if self.step + 1 < self.layout.num_steps:
            model: Transformer = self.model  # type: ignore[assignment]
            tokens = model._tokens(model._step_features(value.unsqueeze(1)))  # (N, 1, D)
            self.hidden = self._run(tokens, self.step + 1)
        self.step += 1

    def advance_prefix(self, values: torch.Tensor) -> None:
        # steps step..step+n-1 become the inputs of positions step+1..step+n (the last step needs none)
        n = values.shape[1]
        used = min(n, self.layout.num_steps - 1 - self.step)
        if used > 0:
            model: Transformer = self.model  # type: ignore[assignment]
            tokens = model._tokens(model._step_features(values[:, :used]))  # (N, used, D)
            self.hidden = self._run(tokens, self.step + 1)
        self.step += n
