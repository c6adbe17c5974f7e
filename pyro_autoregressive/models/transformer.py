"""The decoder-only Transformer over sequences and raster-order images, with a KV cache."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_fraction, check_image_shape, check_int
from ..heads import DiscreteHead, Head
from ..layout import ImageLayout, SequenceLayout, StepLayout
from ..model import AutoregressiveModel
from ..nn.attention import TransformerBlock
from ..nn.channel_coupling import ChannelCoupling
from ..nn.rotary import rotary_table
from .transformer_state import TransformerState

__all__ = ["Transformer", "TransformerState"]


class Transformer(AutoregressiveModel):
    r"""A decoder-only (GPT-style) Transformer (Vaswani et al. 2017) as an exact distribution.

    Step ``i`` is predicted from the steps before it by causal self-attention
    over the input shifted right by one, behind a learned start token:

    .. math::
        e_0 = s + p_0, \qquad e_i = E\,u(x_{i-1}) + p_i \quad (i \ge 1), \qquad
        \theta_i = W\,\operatorname{LN}\big(\operatorname{Block}_L \circ \dots \circ
        \operatorname{Block}_1(e)\big)_i,

    with ``u`` the step's features (one-hot values for discrete heads, the values
    for continuous ones), ``E`` the token embedding, ``p`` learned positions and
    pre-norm blocks of causal multi-head attention and a GELU MLP. So
    ``theta_i`` depends on ``x_{<i}`` only and one pass gives every conditional.
    With ``positions="rotary"`` there is no ``p``: queries and keys are rotated by
    their positions (Su et al.), so attention depends on offsets only.
    Discrete values are embedded by index: ``E u`` is the sum over the step's
    channels of the column of ``E`` that each value selects (``F.embedding``),
    never a product with a one-hot matrix.

    *Sequences*: ``Transformer(head, max_length)``; events ``(T,)`` for any
    ``T <= max_length`` (``model.condition(length=T)``).

    *Unbounded length*: with ``attention_window=W`` every layer attends to the
    ``W`` most recent positions only (sliding-window attention, a banded causal
    mask) and positions are rotary, so the model is stationary: the parameters
    of step ``i`` are one function of ``x_{i-R..i-1}`` for every ``i >= R``, with
    ``R = num_layers (W - 1) + 1`` past steps (:attr:`~pyro_autoregressive.Transformer.receptive_field`; ``R = W``
    for one layer) -- the earlier steps also see the start token. It is exact
    for any ``T``: ``model.condition(length=T)`` scores and samples sequences of
    any length (``max_length`` is then only the default ``T``, e.g. the training
    length), with a KV cache of ``W`` positions per layer (a ring buffer), and
    :func:`~pyro_autoregressive.streaming.generate_stream` draws them in chunks.

    *Images*:
    ``Transformer(head, image_shape=(C, H, W))`` models the pixels in raster order
    (Image GPT), one step per pixel; its ``C`` channels are the step's. For the
    per-channel heads (``Categorical``, ``Bernoulli``) with ``C > 1`` a small
    masked network (:class:`~pyro_autoregressive.nn.channel_coupling.ChannelCoupling`)
    makes channel ``c`` depend on the channels ``< c`` of the same pixel;
    the other heads couple channels themselves.

    Conditioning: a global ``context (*B, context_size)`` is projected and added
    to every input position (the start token included); a ``local_context
    (*B, channels, *positions)`` is projected per position and added to the
    input of that position (it conditions, it is not a value, so step ``i`` may
    see the local context at ``i``).

    Sampling with ``cache=True`` keeps, per layer, the keys and values of the
    committed positions (:class:`~pyro_autoregressive.models.transformer.TransformerState`), so each step costs one
    position's pass instead of the whole prefix; a prompt given by
    ``condition_on_prefix`` is encoded in one parallel causal pass.

    :param head: the per-step distribution (any head).
    :param max_length: the longest sequence (sequence mode); with an ``attention_window``
        only the default length of
        :meth:`~pyro_autoregressive.AutoregressiveModel.condition` (any length is exact).
    :param d_model: width of the residual stream.
    :param num_heads: attention heads (must divide ``d_model``).
    :param num_layers: number of blocks.
    :param context_size: size of the global context vector (0: none).
    :param image_shape: ``(C, H, W)`` for image mode, instead of ``max_length``.
    :param dropout: dropout probability (embeddings, attention, residual branches).
    :param local_context_channels: channels of the per-position context (0: none).
    :param mlp_ratio: hidden width of the MLPs as a multiple of ``d_model``.
    :param coupling_hidden: hidden units of the in-pixel channel coupling.
    :param attention_window: ``W``: each position attends to the ``W`` most recent
        positions, itself included (``None``: to every earlier position).
    :param positions: ``"absolute"`` (learned embeddings of the absolute index;
        lengths up to ``max_length``) or ``"rotary"`` (rotary embeddings; no
        positional parameters). Default: ``"rotary"`` with a window (which
        requires it), else ``"absolute"``; saved as resolved.

    NOTE: the cache is exact, not approximate; a window changes the model (each
    layer sees ``W`` positions), it does not truncate a model trained without
    one. Without a window a model cannot go past ``max_length``, whatever its
    positions (its cache would grow with the length).

    References:
        Vaswani et al. Attention Is All You Need. NeurIPS 2017. https://arxiv.org/abs/1706.03762

        Radford et al. Language Models are Unsupervised Multitask Learners (GPT-2). OpenAI, 2019.

        Parmar et al. Image Transformer. ICML 2018. https://arxiv.org/abs/1802.05751

        Chen et al. Generative Pretraining from Pixels (Image GPT). ICML 2020.

        Su et al. RoFormer: Enhanced Transformer with Rotary Position Embedding. 2021.
        https://arxiv.org/abs/2104.09864

        Beltagy et al. Longformer: The Long-Document Transformer. 2020. https://arxiv.org/abs/2004.05150

    Example::

        >>> import torch, pyro_autoregressive as par
        >>> model = par.Transformer(par.heads.Categorical(5), max_length=16, d_model=32, num_heads=2, num_layers=2)
        >>> d = model.condition(length=10)
        >>> x = d.sample((3,))
        >>> x.shape, d.log_prob(x).shape
        (torch.Size([3, 10]), torch.Size([3]))
        >>> prompt = torch.tensor([1, 2, 3, 4, 0, 0, 0, 0, 0, 0])
        >>> d.condition_on_prefix(prompt, 4).sample().shape
        torch.Size([10])
        >>> windowed = par.Transformer(par.heads.Categorical(5), max_length=16, d_model=32, attention_window=8)
        >>> windowed.receptive_field, windowed.condition(length=100).sample().shape  # longer than max_length
        (29, torch.Size([100]))
    """

    state_class = TransformerState

    def __init__(
        self,
        head: Head,
        max_length: int | None = None,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 4,
        context_size: int = 0,
        image_shape: Sequence[int] | None = None,
        dropout: float = 0.0,
        local_context_channels: int = 0,
        mlp_ratio: int = 4,
        coupling_hidden: int = 64,
        attention_window: int | None = None,
        positions: str | None = None,
    ) -> None:
        super().__init__(head, context_size=context_size, local_context_channels=local_context_channels)
        if (max_length is None) == (image_shape is None):
            raise ValueError(
                f"max_length, image_shape: expected exactly one of them, got max_length={max_length!r}, "
                f"image_shape={image_shape!r}"
            )
        d_model, num_heads, num_layers, mlp_ratio, coupling_hidden = (
            check_int(name, value, 1)
            for name, value in (
                ("d_model", d_model),
                ("num_heads", num_heads),
                ("num_layers", num_layers),
                ("mlp_ratio", mlp_ratio),
                ("coupling_hidden", coupling_hidden),
            )
        )
        if d_model % num_heads:
            raise ValueError(f"num_heads: expected a divisor of d_model={d_model}, got {num_heads}")
        dropout = check_fraction("dropout", dropout)
        if attention_window is not None:
            attention_window = check_int("attention_window", attention_window, 1)
        if positions is None:
            positions = "absolute" if attention_window is None else "rotary"
        if positions not in ("absolute", "rotary"):
            raise ValueError(f"positions: expected 'absolute' or 'rotary', got {positions!r}")
        if attention_window is not None and positions != "rotary":
            raise ValueError(
                f"positions: a Transformer with attention_window={attention_window} takes 'rotary' positions (absolute "
                f"ones would tie it to max_length), got {positions!r}"
            )
        if positions == "rotary" and (d_model // num_heads) % 2:
            raise ValueError(
                f"num_heads: rotary positions need an even head size d_model / num_heads, got "
                f"{d_model} / {num_heads} = {d_model // num_heads}"
            )
        self._resolved_arguments = {"positions": positions}
        self.attention_window = attention_window
        self.positions = positions
        self.dropout = dropout
        self.image_shape: tuple[int, int, int] | None = None
        if image_shape is not None:
            self.image_shape = check_image_shape(image_shape)
            channels = self.image_shape[0]
            self.max_steps = self.image_shape[1] * self.image_shape[2]
        else:
            max_length = check_int("max_length", max_length, 1)
            channels = 1
            self.max_steps = max_length
        self.max_length = max_length
        self.channels = channels
        self.d_model = d_model

        self.num_features = head.num_classes if isinstance(head, DiscreteHead) else 1  # F per channel
        num_params = head.num_params(channels)
        self.couples_channels = head.per_channel_params and channels > 1
        self.token_embedding = nn.Linear(channels * self.num_features, d_model, bias=False)
        self.start = nn.Parameter(torch.empty(d_model))
        self.position = nn.Parameter(torch.empty(self.max_steps, d_model)) if positions == "absolute" else None
        self.head_size = d_model // num_heads
        self.context_embedding = nn.Linear(context_size, d_model) if context_size else None
        self.local_embedding = nn.Linear(local_context_channels, d_model) if local_context_channels else None
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, num_heads, mlp_ratio, dropout, attention_window) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.output = nn.Linear(d_model, num_params)
        self.coupling = None
        if self.couples_channels:
            assert isinstance(head, DiscreteHead), "only discrete heads have per-channel parameters"
            self.coupling = ChannelCoupling(
                channels, head.num_classes, num_params // channels, d_model, coupling_hidden
            )
        self._init_weights(num_layers)

    def _init_weights(self, num_layers: int) -> None:
        """GPT-2's initialisation: N(0, 0.02) weights, zero biases, residual outputs scaled by 1/sqrt(2L)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for block in self.blocks:
            assert isinstance(block, TransformerBlock)
            nn.init.normal_(block.attn.proj.weight, std=0.02 / (2 * num_layers) ** 0.5)
            nn.init.normal_(block.mlp[2].weight, std=0.02 / (2 * num_layers) ** 0.5)
        nn.init.normal_(self.start, std=0.02)
        if self.position is not None:
            nn.init.normal_(self.position, std=0.02)

    @property
    def receptive_field(self) -> int | None:
        """The number of past steps that the parameters of a step see.

        ``num_layers (W - 1) + 1`` with a window ``W`` (each layer reaches ``W - 1``
        positions further back), ``None`` without one (all of them).
        """
        if self.attention_window is None:
            return None
        return len(self.blocks) * (self.attention_window - 1) + 1

    # -- AutoregressiveModel protocol --------------------------------------------------------------

    def layout(self, length: int | None = None) -> StepLayout:
        if self.image_shape is not None:
            if length is not None:
                raise TypeError(
                    f"length: an image Transformer has the fixed event shape {self.image_shape}, got length={length!r}"
                )
            return ImageLayout(self.image_shape)
        if length is None:
            return SequenceLayout(self.max_steps)
        if self.attention_window is not None:  # stationary: any length
            return SequenceLayout(check_int("length", length, 1))
        if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= self.max_steps:
            raise ValueError(
                f"length: expected an int in [1, {self.max_steps}] (max_length; an attention_window lifts the "
                f"limit), got {length!r}"
            )
        return SequenceLayout(length)

    def output_layers(self) -> tuple[nn.Module, ...]:
        """The output projection, and the in-pixel coupling's output and direct layers."""
        coupling = () if self.coupling is None else (self.coupling.out, self.coupling.direct)
        return (self.output, *coupling)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Values ``(N, *E)`` to per-value features ``(N, *E, F)`` (:meth:`_step_features`, in event layout)."""
        if self.image_shape is not None:
            return self._step_features(x.movedim(1, -1)).movedim(-2, 1)  # (N, H, W, C) -> (N, C, H, W, F)
        return self._step_features(x.unsqueeze(-1)).squeeze(-2)  # (N, T, 1) -> (N, T, F)

    def network(
        self, h: torch.Tensor, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        N = h.shape[0]
        if self.image_shape is not None:
            C, H, W, F_ = h.shape[1:]
            u = h.permute(0, 2, 3, 1, 4).reshape(N, H * W, C, F_)  # (N, S, C, F), raster order
        else:
            u = h.unsqueeze(-2)  # (N, T, 1, F)
        S = u.shape[1]
        tokens = torch.cat([self.start.expand(N, 1, -1), self._tokens(u[:, :-1])], dim=1)  # (N, S, D)
        x = self._inputs(tokens, 0, self._context_features(context), local_context)
        rotation = self._rotation(0, S)
        for block in self.blocks:
            x = block(x, None, rotation)  # (N, S, D)
        assert x.shape[1] == S
        return self._params(self._final_norm(x), u)  # (N, S, P)

    # -- pieces shared by the parallel pass and the KV-cache state --------------------------------------

    def _context_features(self, context: torch.Tensor | None) -> torch.Tensor | None:
        if self.context_embedding is None or context is None:
            return None
        return self.context_embedding(context).unsqueeze(1)  # (N, 1, D)

    def _local_features(self, local_context: torch.Tensor | None, first: int, n: int) -> torch.Tensor | None:
        """The local context's features at positions ``first..first+n-1``, ``(N, n, D)`` (None without one)."""
        if self.local_embedding is None or local_context is None:
            return None
        # (N, channels, *positions) -> (N, n, channels), positions in step order
        local = local_context.flatten(2)[:, :, first : first + n].transpose(1, 2)
        return F.linear(local, self.local_embedding.weight, self.local_embedding.bias)  # (N, n, D)

    def _inputs(
        self, tokens: torch.Tensor, first: int, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        """Token embeddings ``(N, n, D)`` of positions ``first..first+n-1`` plus positions and contexts."""
        n = tokens.shape[1]
        x = tokens if self.position is None else tokens + self.position[first : first + n]  # (N, n, D)
        if context is not None:
            x = x + context
        local = self._local_features(local_context, first, n)
        if local is not None:
            x = x + local
        if self.training and self.dropout > 0:
            x = F.dropout(x, self.dropout, True)
        return x

    def _rotation(self, first: int, n: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Rotary ``(cos, sin)`` of positions ``first..first+n-1``, each ``(n, 1, 1, hs)`` (None: absolute)."""
        if self.positions != "rotary":
            return None
        table = rotary_table(first, n, self.head_size, self.dtype, self.device)[:, :, None, None]  # (n, 2, 1, 1, hs)
        return table[:, 0], table[:, 1]

    def _final_norm(self, x: torch.Tensor) -> torch.Tensor:
        norm = self.norm
        return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)

    def _params(self, z: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
        """Normalised hidden states ``(N, n, D)`` (and the steps' own features ``(N, n, C, F)``) to ``(N, n, P)``."""
        params = F.linear(z, self.output.weight, self.output.bias)
        if self.coupling is not None:
            assert u is not None
            params = params + self.coupling(u[..., self.d_model :], z)
        return params

    def _step_features(self, values: torch.Tensor) -> torch.Tensor:
        """Step values ``(*, C)`` to features ``(*, C, F)``: each channel's share of the token embedding.

        Channel ``c`` of value ``v`` contributes the column ``c K + v`` of the token
        embedding's weight, looked up by index (discrete heads; the product of that
        weight with the one-hot features, without the product), or ``v`` times column
        ``c`` (continuous heads); :meth:`_tokens` sums the channels. With the in-pixel
        coupling, each channel's columns of its layers follow
        (:meth:`ChannelCoupling.embed`): ``F = D + hidden + C*P_c``.
        """
        C = values.shape[-1]
        weight = self.token_embedding.weight.t()  # (C*F, D), channel-major rows
        discrete = isinstance(self.head, DiscreteHead)
        if discrete and C == 1:
            features = F.embedding(values, weight)  # (*, 1, D)
        elif discrete:
            offsets = torch.arange(C, device=values.device) * self.num_features  # (C,)
            features = F.embedding(values + offsets, weight)  # (*, C, D)
        else:
            features = values.to(self.dtype).unsqueeze(-1) * weight  # (*, C, 1) * (C, D) -> (*, C, D)
        if self.coupling is not None:
            features = torch.cat([features, self.coupling.embed(values)], dim=-1)  # (*, C, D + hidden + C*P_c)
        return features

    def _tokens(self, u: torch.Tensor) -> torch.Tensor:
        """Step features ``(N, n, C, F)`` to token embeddings ``(N, n, D)``: the sum of the channels' shares."""
        if u.shape[-2] == 1:  # one channel: its share (a sum of one term, without the sum)
            return u[..., 0, : self.d_model]
        return u[..., : self.d_model].sum(-2)
