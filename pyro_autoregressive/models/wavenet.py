"""WaveNet: stacks of gated, dilated causal convolutions over a sequence."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_bool, check_int
from ..heads import DiscreteHead, Head
from ..layout import SequenceLayout, StepLayout
from ..model import AutoregressiveModel
from ..nn.causal_conv import CausalConv1d, ConvQueue, shift_right
from ..nn.pointwise import Pointwise1d
from ..sampling import IncrementalState

__all__ = ["GatedResidualBlock", "WaveNet", "WaveNetState"]


class GatedResidualBlock(nn.Module):
    r"""One WaveNet layer: a gated dilated causal convolution with a residual output.

    .. math::
        z &= \tanh(W_f * h + V_f c) \odot \sigma(W_g * h + V_g c) \\
        h' &= h + W_r z

    where ``*`` is the dilated causal convolution and ``V c`` the conditioning
    (computed by the caller). The block returns ``h'`` and ``z``: the skip
    connections ``s = W_s z`` of all layers are summed by one 1x1 convolution
    over the concatenated ``z`` of every layer (:meth:`~pyro_autoregressive.WaveNet.trunk`).
    """

    def __init__(self, residual_channels: int, kernel_size: int, dilation: int, residual: bool = True) -> None:
        super().__init__()
        self.dilated = CausalConv1d(residual_channels, 2 * residual_channels, kernel_size, dilation)
        # the last layer's residual output would feed nothing: it has none
        self.residual = Pointwise1d(residual_channels, residual_channels) if residual else None

    def forward(
        self, h: torch.Tensor, cond: torch.Tensor | None, conv: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``h (N, R, T)``, ``cond (N, 2R, T)`` or None -> residual output ``(N, R, T)``, gated ``z (N, R, T)``.

        ``conv`` stands in for the dilated convolution: :meth:`~pyro_autoregressive.nn.causal_conv.ConvQueue.feed` runs
        the block on one step (2-d tensors ``(N, channels)``),
        :meth:`~pyro_autoregressive.nn.causal_conv.ConvQueue.prime` over a prompt.
        """
        z = (conv or self.dilated)(h)  # (N, 2R, T)
        if cond is not None:
            z = z + cond
        filt, gate = z.chunk(2, dim=1)
        z = torch.tanh(filt) * torch.sigmoid(gate)  # (N, R, T)
        return (h + self.residual(z) if self.residual is not None else h), z


class WaveNet(AutoregressiveModel):
    r"""WaveNet (van den Oord et al. 2016): a distribution over sequences ``(T,)``.

    .. math:: p(x \mid c) = \prod_{t=0}^{T-1} p_\text{head}\big(x_t \mid \theta_t(x_{t-r}, \dots, x_{t-1}, c)\big)

    The input is delayed by one step (so position ``t`` sees only ``x_{<t}``) and
    projected to ``R`` residual channels by a 1x1 convolution; ``num_stacks``
    stacks of ``num_layers`` :class:`~pyro_autoregressive.models.wavenet.GatedResidualBlock` follow, with dilations
    ``1, 2, ..., 2^{L-1}`` in every stack; the summed skip outputs go through
    ``ReLU, 1x1, ReLU, 1x1`` to the head parameters. The receptive field is

    .. math:: r = 1 + S (k - 1) (2^L - 1)

    samples (2047 for 2 stacks of 10 layers with ``k = 2``).

    Conditioning enters every gate: a global ``context (N, context_size)`` through
    a linear map (speaker, class, latent), a local ``local_context
    (N, local_context_channels, ceil(T / hop_length))`` of frames at a lower rate
    through a 1x1 convolution, upsampled by repetition (frame ``f`` covers
    samples ``f * hop_length, ..., (f + 1) * hop_length - 1``).

    Generation keeps, per layer, a queue of its last ``d (k - 1)`` inputs
    (:class:`~pyro_autoregressive.models.wavenet.WaveNetState`, Paine et al. 2016): each sample costs O(layers)
    instead of a pass over the receptive field.

    :param head: the per-sample distribution: ``Categorical(256)`` for mu-law
        8-bit audio, ``DiscretizedLogisticMixture(K, num_classes=65536)`` for
        16-bit audio, ``Normal``/``NormalMixture`` for real-valued series.
    :param length: the default ``T`` (any ``T`` works: ``condition(length=...)``).
    :param residual_channels: ``R``, the width of the residual stream.
    :param skip_channels: ``S``, the width of the skip connections and output layers.
    :param num_layers: ``L``, layers per stack (dilations ``1 .. 2^{L-1}``).
    :param num_stacks: how many times the dilation pattern repeats.
    :param kernel_size: ``k``, taps of each dilated convolution.
    :param context_size: size of the global context vector (0: none).
    :param local_context_channels: channels of the local context (0: none).
    :param hop_length: samples per local-context frame.
    :param one_hot: feed discrete values as one-hot vectors (as in the paper)
        instead of a scalar in ``[-1, 1]``. The input layer's product with a
        one-hot vector is a column of its weight, so :meth:`embed` looks that
        column up by index (``F.embedding``; same parameters, same function) and
        the layer adds only its bias.

    NOTE: local features are upsampled by repetition, not by a learned transposed
    convolution; the 1x1 conditioning map after it is learned, and repetition
    commutes with it, so generation projects one frame at a time.

    References:
        van den Oord, Dieleman, Zen, Simonyan, Vinyals, Graves, Kalchbrenner,
        Senior, Kavukcuoglu. WaveNet: A Generative Model for Raw Audio. 2016.
        https://arxiv.org/abs/1609.03499

        Paine, Khorrami, Chang, Zhang, Ramachandran, Hasegawa-Johnson, Huang.
        Fast Wavenet Generation Algorithm. 2016. https://arxiv.org/abs/1611.09482

    Example::

        >>> import torch, pyro_autoregressive as par
        >>> net = par.WaveNet(par.heads.Categorical(256), length=100, residual_channels=8,
        ...                   skip_channels=8, num_layers=3, num_stacks=1)
        >>> net.receptive_field
        8
        >>> x = net.condition().sample((2,))
        >>> x.shape, net.condition().log_prob(x).shape
        (torch.Size([2, 100]), torch.Size([2]))
    """

    def __init__(
        self,
        head: Head,
        length: int = 16000,
        residual_channels: int = 32,
        skip_channels: int = 64,
        num_layers: int = 10,
        num_stacks: int = 2,
        kernel_size: int = 2,
        context_size: int = 0,
        local_context_channels: int = 0,
        hop_length: int = 1,
        one_hot: bool = False,
    ) -> None:
        super().__init__(head, context_size=context_size, local_context_channels=local_context_channels)
        self.length = check_int("length", length, 1)
        self.residual_channels = check_int("residual_channels", residual_channels, 1)
        self.skip_channels = check_int("skip_channels", skip_channels, 1)
        self.num_layers = check_int("num_layers", num_layers, 1)
        self.num_stacks = check_int("num_stacks", num_stacks, 1)
        self.kernel_size = check_int("kernel_size", kernel_size, 2)
        self.hop_length = check_int("hop_length", hop_length, 1)
        if one_hot and not isinstance(head, DiscreteHead):
            raise ValueError(f"one_hot: needs a discrete head, got {head!r}")
        self.one_hot = check_bool("one_hot", one_hot)

        features = head.num_classes if one_hot else 1
        assert features is not None
        self.dilations = [2**i for _ in range(num_stacks) for i in range(num_layers)]
        self.input = Pointwise1d(features, residual_channels)
        self.blocks = nn.ModuleList(
            GatedResidualBlock(residual_channels, kernel_size, d, residual=k < len(self.dilations) - 1)
            for k, d in enumerate(self.dilations)
        )
        # the skip connections W_s z of every layer, summed: one 1x1 convolution of the concatenated z
        self.skip = Pointwise1d(len(self.dilations) * residual_channels, skip_channels)
        gates = len(self.dilations) * 2 * residual_channels
        self.context_proj = nn.Linear(context_size, gates, bias=False) if context_size else None
        self.local_proj = nn.Conv1d(local_context_channels, gates, 1, bias=False) if local_context_channels else None
        self.output = nn.Sequential(
            nn.ReLU(),
            Pointwise1d(skip_channels, skip_channels),
            nn.ReLU(),
            Pointwise1d(skip_channels, head.num_params(1)),
        )

    def output_layers(self) -> tuple[nn.Module, ...]:
        return (self.output[-1],)

    @property
    def receptive_field(self) -> int:
        """The number of past samples the parameters of a step see, ``1 + sum_l d_l (k - 1)``."""
        return 1 + sum(self.dilations) * (self.kernel_size - 1)

    def layout(self, length: int | None = None) -> StepLayout:
        return SequenceLayout(self.length if length is None else check_int("length", length, 1))

    def num_frames(self, length: int) -> int:
        """Local-context frames for ``length`` samples: ``ceil(length / hop_length)``."""
        return math.ceil(length / self.hop_length)

    def local_context_shape(self, layout: StepLayout) -> tuple[int, ...] | None:
        if self.local_context_channels == 0:
            return None
        return (self.local_context_channels, self.num_frames(layout.num_steps))

    @property
    def num_input_features(self) -> int:
        """``F``, the features per sample that :meth:`embed` gives (``R`` with ``one_hot``, else 1)."""
        return self.residual_channels if self.one_hot else 1

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        r"""Values ``(N, T)`` to features ``(N, T, F)``.

        With ``one_hot`` the features are the input layer's weight column of each
        value, :math:`W_\text{in} e_{x_t}` looked up by index, ``(N, T, R)``;
        :meth:`trunk` adds the bias (so a delayed, zero-padded position gives the
        bias alone, as the one-hot zero vector did). Otherwise the scaled value, ``(N, T, 1)``.
        """
        if self.one_hot:
            return F.embedding(x, self.input.weight[:, :, 0].t())  # (N, T, R): column x_t of W_in (R, K)
        return super().embed(x)  # (N, T, 1)

    def conditioning(
        self, context: torch.Tensor | None, local_context: torch.Tensor | None, length: int
    ) -> list[torch.Tensor] | None:
        """Gate inputs ``V c`` per layer, each ``(N, 2R, T)`` (broadcastable), or None."""
        layers, gates = len(self.blocks), 2 * self.residual_channels
        cond = None
        if self.context_proj is not None and context is not None:
            cond = self.context_proj(context).unflatten(-1, (layers, gates)).unsqueeze(-1)  # (N, L, 2R, 1)
        if self.local_proj is not None and local_context is not None:
            self._check_frames(local_context, length)
            frames = self.local_proj(local_context)  # (N, L*2R, F)
            per_sample = frames.repeat_interleave(self.hop_length, dim=-1)[..., :length]  # (N, L*2R, T)
            local = per_sample.unflatten(1, (layers, gates))  # (N, L, 2R, T)
            cond = local if cond is None else cond + local
        return None if cond is None else list(cond.unbind(1))

    def network(
        self, h: torch.Tensor, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        _, T, _ = h.shape  # (N, T, F)
        cond = self.conditioning(context, local_context, T)  # per layer (N, 2R, T|1), or None
        return self.trunk(shift_right(h.transpose(1, 2)), cond).transpose(1, 2)  # (N, P, T) -> (N, T, P)

    def trunk(
        self,
        x: torch.Tensor,
        cond: Sequence[torch.Tensor] | None,
        convs: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """The layers: delayed input features ``(N, F, T)`` to head parameters ``(N, P, T)``.

        The cached state runs the same body on one step (``(N, F)`` to ``(N, P)``),
        with ``convs`` standing in for the dilated convolutions
        (:class:`~pyro_autoregressive.nn.causal_conv.ConvQueue`).
        """
        if self.one_hot:  # the weight was applied by the lookup in `embed`: add the bias
            bias = self.input.bias
            h = x + (bias if x.dim() == 2 else bias[:, None])  # (N, R, T), or (N, R) on one step
        else:
            h = self.input(x)  # (N, R, T)
        gated = []
        for k, block in enumerate(self.blocks):
            h, z = block(h, None if cond is None else cond[k], None if convs is None else convs[k])
            gated.append(z)
        skips = self.skip(torch.cat(gated, dim=1))  # (N, L * R, T) -> (N, S, T): the sum of every skip output
        return self.output(skips)

    def upgrade_weights(self, weights: dict[str, torch.Tensor], version: int) -> dict[str, torch.Tensor]:
        """Format 1 had one 1x1 convolution per layer to ``R + S`` channels (residual, then skip): its residual
        rows become the layer's ``residual`` (the last layer's fed nothing), its skip rows the columns of
        ``skip`` and the skip biases, summed, its bias. The network computes the same function."""
        if version >= 2:
            return weights
        R, layers = self.residual_channels, len(self.blocks)
        upgraded = {k: v for k, v in weights.items() if not (k.startswith("blocks.") and ".out." in k)}
        skip_weights, skip_bias = [], 0.0
        for k in range(layers):
            weight, bias = weights[f"blocks.{k}.out.weight"], weights[f"blocks.{k}.out.bias"]  # (R + S, R, 1), (R + S,)
            if k < layers - 1:
                upgraded[f"blocks.{k}.residual.weight"], upgraded[f"blocks.{k}.residual.bias"] = weight[:R], bias[:R]
            skip_weights.append(weight[R:])
            skip_bias = skip_bias + bias[R:]
        upgraded["skip.weight"] = torch.cat(skip_weights, dim=1)  # (S, L * R, 1)
        upgraded["skip.bias"] = skip_bias
        return upgraded

    def _check_frames(self, local_context: torch.Tensor, length: int) -> None:
        expected = (self.local_context_channels, self.num_frames(length))
        if local_context.dim() != 3 or tuple(local_context.shape[1:]) != expected:
            raise ValueError(
                f"local_context: expected shape (N, {expected[0]}, {expected[1]}) = (batch, channels, "
                f"ceil(T / hop_length)) for T = {length} and hop_length = {self.hop_length}, "
                f"got {tuple(local_context.shape)}"
            )


class WaveNetState(IncrementalState):
    """Queue-cached generation for :class:`WaveNet` (Paine et al. 2016).

    Each layer keeps a :class:`~pyro_autoregressive.nn.causal_conv.ConvQueue` of
    its last ``d (k - 1)`` inputs. :meth:`advance` runs :meth:`~pyro_autoregressive.WaveNet.trunk` on
    the new sample alone, each dilated convolution reading its taps from its
    queue (:meth:`~pyro_autoregressive.nn.causal_conv.ConvQueue.feed`), and keeps the output as the parameters of the
    next step, so a step costs O(layers), whatever the receptive field. Nothing
    else is kept: the committed samples are not stored (the caller owns them),
    so memory is bounded by the queues, ``O(N R r)``, however long the
    generation runs. A prompt is run in one parallel pass that fills the queues
    (:meth:`~pyro_autoregressive.nn.causal_conv.ConvQueue.prime`).

    Local-context frames are projected one at a time, when the step enters them.
    """

    bounded_memory = True
    parallel_prefill = True

    def start(self) -> None:
        super().start()
        model: WaveNet = self.model  # type: ignore[assignment]
        if self.local_context is not None:
            model._check_frames(self.local_context, self.layout.num_steps)
        factory = {"dtype": model.dtype, "device": model.device}
        zero = torch.zeros(self.batch_size, model.residual_channels, **factory)
        self.queues = [ConvQueue(zero, model.kernel_size, d) for d in model.dilations]
        self._frame = -1
        self._cond: list[torch.Tensor] | None = None  # per layer (N, 2R), of the current frame
        self._params = self._position(torch.zeros(self.batch_size, model.num_input_features, **factory))

    def params(self, partial: torch.Tensor | None = None) -> torch.Tensor:
        return self._params  # (N, P)

    def advance(self, value: torch.Tensor) -> None:
        self.step += 1
        if self.step < self.layout.num_steps:  # the parameters of the next step, from x_t
            self._params = self._position(self._features(value))

    def advance_prefix(self, values: torch.Tensor) -> None:
        """Commit a prompt ``(N, n, 1)`` in one parallel pass of the layers, filling every queue."""
        model: WaveNet = self.model  # type: ignore[assignment]
        n = values.shape[1]
        if n == 0:
            return
        if self.step != 0 or n > self.layout.num_steps:
            super().advance_prefix(values)
            return
        local = None if self.local_context is None else self.local_context[..., : model.num_frames(n)]
        cond = model.conditioning(self.context, local, n)  # per layer (N, 2R, n|1), or None
        delayed = shift_right(model.embed(values[..., 0]).transpose(1, 2))  # (N, F, n): position t sees x_{<t}
        model.trunk(delayed, cond, [q.prime(b.dilated) for b, q in zip(model.blocks, self.queues, strict=True)])
        self.step = n
        if n < self.layout.num_steps:
            self._params = self._position(self._features(values[:, -1]))

    # -- internals ------------------------------------------------------------------------------

    def _features(self, value: torch.Tensor) -> torch.Tensor:
        """Step values ``(N, 1)`` to the input features ``(N, F)`` of the next position."""
        return self.model.embed(value)[:, 0]  # (N, 1, F) -> (N, F)

    def _conditioning(self) -> list[torch.Tensor] | None:
        """Gate conditioning per layer ``(N, 2R)`` at the current step (a local frame is projected on entry)."""
        model: WaveNet = self.model  # type: ignore[assignment]
        frame = 0 if self.local_context is None else self.step // model.hop_length
        if frame != self._frame:
            local = None if self.local_context is None else self.local_context[..., frame : frame + 1]
            cond = model.conditioning(self.context, local, 1)  # per layer (N, 2R, 1), or None
            self._cond = None if cond is None else [term[..., 0] for term in cond]
            self._frame = frame
        return self._cond

    def _position(self, feature: torch.Tensor) -> torch.Tensor:
        """Head parameters ``(N, P)`` of the current step from its (delayed) input feature ``(N, F)``.

        One step is a 2-d tensor ``(N, channels)``: the 1x1 layers take it as a matrix product.
        """
        model: WaveNet = self.model  # type: ignore[assignment]
        convs = [queue.feed(block.dilated) for block, queue in zip(model.blocks, self.queues, strict=True)]
        return model.trunk(feature, self._conditioning(), convs)  # (N, P)


WaveNet.state_class = WaveNetState
