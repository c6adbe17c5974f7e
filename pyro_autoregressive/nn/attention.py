"""Causal multi-head self-attention, a pre-norm Transformer block and a key/value cache."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CausalSelfAttention", "KVCache", "TransformerBlock"]


class KVCache:
    """Keys and values of the positions one attention layer has already seen.

    :meth:`append` adds the keys and values of new positions and returns those of
    every position so far, ``(B, nh, t, hs)``. With gradients enabled the cache
    grows by ``torch.cat`` (nothing autograd saved is ever written to, so
    ``rsample`` can differentiate through the sampling loop); without gradients
    and with a known ``capacity`` it writes into buffers preallocated on the first
    call, which avoids copying the whole cache at every step.

    :param capacity: the largest number of positions that will be appended.
    """

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self.length = 0
        self._keys: torch.Tensor | None = None  # (B, nh, t or capacity, hs)
        self._values: torch.Tensor | None = None
        self._preallocated = False

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add ``keys``/``values`` ``(B, nh, T, hs)``; return those of all positions ``(B, nh, t + T, hs)``."""
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
            self._keys[:, :, self.length : new_length] = keys
            self._values[:, :, self.length : new_length] = values
            self.length = new_length
            return self._keys[:, :, :new_length], self._values[:, :, :new_length]
        self._keys = torch.cat([self._keys, keys], dim=2)
        self._values = torch.cat([self._values, values], dim=2)
        self.length = new_length
        return self._keys, self._values


class CausalSelfAttention(nn.Module):
    r"""Multi-head self-attention in which position ``t`` attends to positions ``<= t``.

    .. math::
        \operatorname{head}_h = \operatorname{softmax}\Big(\frac{Q_h K_h^\top}{\sqrt{d_h}} + M\Big) V_h,
        \qquad M_{ts} = \begin{cases} 0 & s \le t \\ -\infty & s > t \end{cases}

    computed by :func:`torch.nn.functional.scaled_dot_product_attention`.
    With a :class:`KVCache` the new positions attend to the cached ones as well.

    :param d_model: width of the residual stream.
    :param num_heads: number of heads ``nh`` (must divide ``d_model``).
    :param dropout: dropout on the attention weights and the output (training only).

    References:
        Vaswani et al. Attention Is All You Need. NeurIPS 2017. https://arxiv.org/abs/1706.03762
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"num_heads: expected a divisor of d_model={d_model}, got {num_heads}")
        self.num_heads = num_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """``x (B, T, d_model)`` to ``(B, T, d_model)``; new positions come after the cached ones."""
        B, T, D = x.shape
        nh, hs = self.num_heads, D // self.num_heads
        q, k, v = self.qkv(x).split(D, dim=-1)  # 3 x (B, T, D)
        q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        dropout_p = self.dropout if self.training else 0.0
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:
            k, v = cache.append(k, v)  # (B, nh, P + T, hs)
            past = k.shape[2] - T
            mask = None
            if T > 1:  # new position t sees the past and new positions <= t
                mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.resid_dropout(self.proj(y))


class TransformerBlock(nn.Module):
    r"""A pre-norm decoder block: causal self-attention and an MLP, each in a residual branch.

    .. math::
        h \leftarrow h + \operatorname{Attn}(\operatorname{LN}(h)), \qquad
        h \leftarrow h + W_2\,\operatorname{GELU}(W_1 \operatorname{LN}(h))

    :param d_model: width of the residual stream.
    :param num_heads: attention heads.
    :param mlp_ratio: hidden width of the MLP as a multiple of ``d_model``.
    :param dropout: dropout probability (training only).

    References:
        Radford et al. Language Models are Unsupervised Multitask Learners (GPT-2), 2019;
        Xiong et al. On Layer Normalization in the Transformer Architecture. ICML 2020.
        https://arxiv.org/abs/2002.04745
    """

    def __init__(self, d_model: int, num_heads: int, mlp_ratio: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, num_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_ratio * d_model),
            nn.GELU(),
            nn.Linear(mlp_ratio * d_model, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """``x (B, T, d_model)`` to ``(B, T, d_model)``."""
        x = x + self.attn(self.norm1(x), cache)
        return x + self.mlp(self.norm2(x))
