"""Causal multi-head self-attention (optionally in a sliding window) and a pre-norm Transformer block."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .kv_cache import KVCache
from .rotary import rotate

__all__ = [
    "BlockWeights",
    "CausalSelfAttention",
    "KVCache",
    "TransformerBlock",
    "causal_attention",
    "self_attention",
    "transformer_block",
]

Rotation = tuple[torch.Tensor, torch.Tensor]

#: queries per block of a banded (windowed) attention over many positions: memory ``O(n (block + W))``
QUERY_BLOCK = 256


def causal_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int | None = None, dropout_p: float = 0.0
) -> torch.Tensor:
    r"""Attention of ``n`` new positions (the last ``n`` of the keys) to the keys at or before them.

    ``q (B, nh, n, hs)``; ``k``, ``v`` ``(B, nh, past + n, hs)``: query ``j`` is at
    key position ``past + j`` and sees the keys ``s`` with ``s <= past + j`` and,
    with a ``window`` ``W``, ``s > past + j - W``:

    .. math:: M_{ts} = 0 	ext{ if } t - W < s \le t, 	ext{ else } -\infty

    Without a window this is the ordinary causal mask. With one, the queries are
    taken ``QUERY_BLOCK`` at a time, each block against its band of keys only,
    so memory is ``O(n (QUERY_BLOCK + W))``, not ``O(n^2)``, however long the sequence.
    Computed by :func:`torch.nn.functional.scaled_dot_product_attention`.
    """
    n, total = q.shape[2], k.shape[2]
    past = total - n
    if window is None or total <= window:  # every query sees every key up to itself: the causal mask
        if n == 1:  # one query at the end (a cached step): every key is visible
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        if past == 0:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        mask = torch.ones(n, total, dtype=torch.bool, device=q.device).tril(diagonal=past)  # (n, past + n)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    outputs = []
    for a in range(0, n, QUERY_BLOCK):
        b = min(a + QUERY_BLOCK, n)
        lo, hi = max(0, past + a - window + 1), past + b  # the keys any query of the block sees
        t = torch.arange(past + a, past + b, device=q.device)  # (b - a,) query positions
        s = torch.arange(lo, hi, device=q.device)  # (hi - lo,) key positions
        offset = t[:, None] - s[None, :]
        mask = (offset >= 0) & (offset < window)  # (b - a, hi - lo), the band
        block = F.scaled_dot_product_attention(
            q[:, :, a:b], k[:, :, lo:hi], v[:, :, lo:hi], attn_mask=mask, dropout_p=dropout_p
        )
        outputs.append(block)  # (B, nh, b - a, hs)
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)


def self_attention(
    x: torch.Tensor,
    qkv_weight: torch.Tensor,
    qkv_bias: torch.Tensor | None,
    proj_weight: torch.Tensor,
    proj_bias: torch.Tensor | None,
    num_heads: int,
    window: int | None = None,
    dropout_p: float = 0.0,
    cache: KVCache | None = None,
    rotation: Rotation | None = None,
) -> torch.Tensor:
    """The arithmetic of :class:`CausalSelfAttention`: ``x (B, T, D)`` to ``(B, T, D)`` with the given weights.

    ``rotation``: ``(cos, sin)`` of the ``T`` new positions, each ``(T, 1, 1, hs)``.
    """
    B, T, D = x.shape
    nh, hs = num_heads, D // num_heads
    qkv = F.linear(x, qkv_weight, qkv_bias).view(B, T, 3, nh, hs)  # (B, T, 3, nh, hs)
    if rotation is None:
        q, k, v = qkv.unbind(2)  # 3 x (B, T, nh, hs)
    else:
        q, k = rotate(qkv[:, :, :2], *rotation).unbind(2)  # queries and keys turned together
        v = qkv[:, :, 2]
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, nh, T, hs)
    if cache is not None:
        k, v = cache.append(k, v)  # (B, nh, past + T, hs)
    y = causal_attention(q, k, v, window, dropout_p)  # (B, nh, T, hs)
    y = F.linear(y.transpose(1, 2).reshape(B, T, D), proj_weight, proj_bias)  # (B, T, D)
    return F.dropout(y, dropout_p, True) if dropout_p > 0 else y


class CausalSelfAttention(nn.Module):
    r"""Multi-head self-attention in which position ``t`` attends to positions ``<= t`` (in a window).

    .. math::
        \operatorname{head}_h = \operatorname{softmax}\Big(\frac{Q_h K_h^\top}{\sqrt{d_h}} + M\Big) V_h,
        \qquad M_{ts} = \begin{cases} 0 & t - W < s \le t \\ -\infty & \text{otherwise} \end{cases}

    computed by :func:`causal_attention` (``W = \infty`` without a ``window``).
    With a :class:`~pyro_autoregressive.nn.kv_cache.KVCache` the new positions attend to the cached ones as well.
    With a ``rotation`` (rotary positions, :func:`~pyro_autoregressive.nn.rotary.rotate`),
    queries and keys are rotated by their positions before the scores; the cache
    keeps the rotated keys. The arithmetic is :func:`self_attention`.

    :param d_model: width of the residual stream.
    :param num_heads: number of heads ``nh`` (must divide ``d_model``).
    :param dropout: dropout on the attention weights and the output (training only).
    :param window: the attention window ``W`` (``None``: every earlier position).

    References:
        Vaswani et al. Attention Is All You Need. NeurIPS 2017. https://arxiv.org/abs/1706.03762

        Beltagy et al. Longformer: The Long-Document Transformer. 2020. https://arxiv.org/abs/2004.05150
        (sliding-window attention)
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, window: int | None = None) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"num_heads: expected a divisor of d_model={d_model}, got {num_heads}")
        self.num_heads = num_heads
        self.dropout = dropout
        self.window = window
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, rotation: Rotation | None = None) -> torch.Tensor:
        """``x (B, T, d_model)`` to ``(B, T, d_model)``; new positions come after the cached ones."""
        qkv, proj = self.qkv, self.proj
        dropout_p = self.dropout if self.training else 0.0
        return self_attention(
            x, qkv.weight, qkv.bias, proj.weight, proj.bias, self.num_heads, self.window, dropout_p, cache, rotation
        )


class BlockWeights(NamedTuple):
    """A :class:`TransformerBlock`'s tensors and settings, looked up once (:meth:`TransformerBlock.weights`)."""

    norm1: tuple[torch.Tensor, torch.Tensor, float]  # weight, bias, eps
    qkv: tuple[torch.Tensor, torch.Tensor]  # weight, bias
    proj: tuple[torch.Tensor, torch.Tensor]
    norm2: tuple[torch.Tensor, torch.Tensor, float]
    fc1: tuple[torch.Tensor, torch.Tensor]
    fc2: tuple[torch.Tensor, torch.Tensor]
    num_heads: int
    window: int | None
    dropout_p: float  # 0 unless training


def transformer_block(
    x: torch.Tensor, weights: BlockWeights, cache: KVCache | None = None, rotation: Rotation | None = None
) -> torch.Tensor:
    """The arithmetic of :class:`TransformerBlock`: ``x (B, T, D)`` to ``(B, T, D)``.

    The block's ``forward`` calls it with :meth:`TransformerBlock.weights`; a
    generation loop looks the weights up once and calls it at every step (no
    module calls, no attribute look-ups through ``nn.Module``, nothing for
    dropout of ``p = 0``): one arithmetic for both.
    """
    (ln1_w, ln1_b, ln1_eps), (qkv_w, qkv_b), (proj_w, proj_b), (ln2_w, ln2_b, ln2_eps), (w1, b1), (w2, b2) = weights[:6]
    num_heads, window, dropout_p = weights[6:]
    shape = (x.shape[-1],)
    h = F.layer_norm(x, shape, ln1_w, ln1_b, ln1_eps)
    x = x + self_attention(h, qkv_w, qkv_b, proj_w, proj_b, num_heads, window, dropout_p, cache, rotation)
    h = F.layer_norm(x, shape, ln2_w, ln2_b, ln2_eps)
    h = F.linear(F.gelu(F.linear(h, w1, b1)), w2, b2)  # (B, T, D)
    if dropout_p > 0:
        h = F.dropout(h, dropout_p, True)
    return x + h


class TransformerBlock(nn.Module):
    r"""A pre-norm decoder block: causal self-attention and an MLP, each in a residual branch.

    .. math::
        h \leftarrow h + \operatorname{Attn}(\operatorname{LN}(h)), \qquad
        h \leftarrow h + W_2\,\operatorname{GELU}(W_1 \operatorname{LN}(h))

    The arithmetic is :func:`transformer_block` (functional: no module call per
    layer norm, linear map or dropout of ``p = 0``), which a generation loop calls
    with :meth:`weights` looked up once.

    :param d_model: width of the residual stream.
    :param num_heads: attention heads.
    :param mlp_ratio: hidden width of the MLP as a multiple of ``d_model``.
    :param dropout: dropout probability (training only).
    :param window: the attention window (``None``: every earlier position).

    References:
        Radford et al. Language Models are Unsupervised Multitask Learners (GPT-2), 2019;
        Xiong et al. On Layer Normalization in the Transformer Architecture. ICML 2020.
        https://arxiv.org/abs/2002.04745
    """

    def __init__(
        self, d_model: int, num_heads: int, mlp_ratio: int = 4, dropout: float = 0.0, window: int | None = None
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, num_heads, dropout, window)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_ratio * d_model),
            nn.GELU(),
            nn.Linear(mlp_ratio * d_model, d_model),
            nn.Dropout(dropout),
        )

    def weights(self) -> BlockWeights:
        """The block's tensors and settings (``dropout_p`` is 0 outside training), for :func:`transformer_block`."""
        norm1, norm2, attn = self.norm1, self.norm2, self.attn
        fc1, fc2 = self.mlp[0], self.mlp[2]
        return BlockWeights(
            (norm1.weight, norm1.bias, norm1.eps),
            (attn.qkv.weight, attn.qkv.bias),
            (attn.proj.weight, attn.proj.bias),
            (norm2.weight, norm2.bias, norm2.eps),
            (fc1.weight, fc1.bias),
            (fc2.weight, fc2.bias),
            attn.num_heads,
            attn.window,
            attn.dropout if self.training else 0.0,
        )

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, rotation: Rotation | None = None) -> torch.Tensor:
        """``x (B, T, d_model)`` to ``(B, T, d_model)``."""
        return transformer_block(x, self.weights(), cache, rotation)
