"""WaveNet: stacks of gated, dilated causal convolutions over a sequence."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..heads import Head
from ..layout import SequenceLayout, StepLayout
from ..model import AutoregressiveModel
from ..nn.causal_conv import CausalConv1d, ConvQueue, shift_right
from ..sampling import IncrementalState

__all__ = ["GatedResidualBlock", "WaveNet", "WaveNetState"]


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return value


class GatedResidualBlock(nn.Module):
    r"""One WaveNet layer: a gated dilated causal convolution with residual and skip outputs.

    .. math::
        z &= \tanh(W_f * h + V_f c) \odot \sigma(W_g * h + V_g c) \\
        h' &= h + W_r z, \qquad s = W_s z

    where ``*`` is the dilated causal convolution and ``V c`` the conditioning
    (computed by the caller). ``W_r`` and ``W_s`` are one fused 1x1 convolution.
    """

    def __init__(self, residual_channels: int, skip_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.residual_channels, self.skip_channels = residual_channels, skip_channels
        self.dilated = CausalConv1d(residual_channels, 2 * residual_channels, kernel_size, dilation)
        self.out = nn.Conv1d(residual_channels, residual_channels + skip_channels, 1)

    def forward(self, h: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``h (N, R, T)``, ``cond (N, 2R, T)`` or None -> residual output ``(N, R, T)``, skip ``(N, S, T)``."""
        z = self.dilated(h)  # (N, 2R, T)
        if cond is not None:
            z = z + cond
        filt, gate = z.chunk(2, dim=1)
        out = self.out(torch.tanh(filt) * torch.sigmoid(gate))  # (N, R + S, T)
        res, skip = out.split([self.residual_channels, self.skip_channels], dim=1)
        return h + res, skip


class WaveNet(AutoregressiveModel):
    r"""WaveNet (van den Oord et al. 2016): a distribution over sequences ``(T,)``.

    .. math:: p(x \mid c) = \prod_{t=0}^{T-1} p_\text{head}\big(x_t \mid \theta_t(x_{t-r}, \dots, x_{t-1}, c)\big)

    The input is delayed by one step (so position ``t`` sees only ``x_{<t}``) and
    projected to ``R`` residual channels by a 1x1 convolution; ``num_stacks``
    stacks of ``num_layers`` :class:`GatedResidualBlock` follow, with dilations
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
    (:class:`WaveNetState`, Paine et al. 2016): each sample costs O(layers)
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
        instead of a scalar in ``[-1, 1]``.

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
        self.length = _positive_int("length", length)
        self.residual_channels = _positive_int("residual_channels", residual_channels)
        self.skip_channels = _positive_int("skip_channels", skip_channels)
        self.num_layers = _positive_int("num_layers", num_layers)
        self.num_stacks = _positive_int("num_stacks", num_stacks)
        self.kernel_size = _positive_int("kernel_size", kernel_size, minimum=2)
        self.hop_length = _positive_int("hop_length", hop_length)
        if one_hot and not head.is_discrete:
            raise ValueError(f"one_hot: needs a discrete head, got {head!r}")
        self.one_hot = bool(one_hot)
        self._config = {
            "length": length,
            "residual_channels": residual_channels,
            "skip_channels": skip_channels,
            "num_layers": num_layers,
            "num_stacks": num_stacks,
            "kernel_size": kernel_size,
            "context_size": context_size,
            "local_context_channels": local_context_channels,
            "hop_length": hop_length,
            "one_hot": self.one_hot,
        }

        features = head.num_classes if one_hot else 1
        assert features is not None
        self.dilations = [2**i for _ in range(num_stacks) for i in range(num_layers)]
        self.input = nn.Conv1d(features, residual_channels, 1)
        self.blocks = nn.ModuleList(
            GatedResidualBlock(residual_channels, skip_channels, kernel_size, d) for d in self.dilations
        )
        gates = len(self.dilations) * 2 * residual_channels
        self.context_proj = nn.Linear(context_size, gates, bias=False) if context_size else None
        self.local_proj = nn.Conv1d(local_context_channels, gates, 1, bias=False) if local_context_channels else None
        self.output = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(skip_channels, skip_channels, 1),
            nn.ReLU(),
            nn.Conv1d(skip_channels, head.num_params(1), 1),
        )

    @property
    def receptive_field(self) -> int:
        """How many past samples the parameters of a step see: ``1 + sum_l d_l (k - 1)``."""
        return 1 + sum(self.dilations) * (self.kernel_size - 1)

    def layout(self, length: int | None = None) -> StepLayout:
        return SequenceLayout(self.length if length is None else _positive_int("length", length))

    def num_frames(self, length: int) -> int:
        """Local-context frames for ``length`` samples: ``ceil(length / hop_length)``."""
        return math.ceil(length / self.hop_length)

    def local_context_shape(self, layout: StepLayout) -> tuple[int, ...] | None:
        if self.local_context_channels == 0:
            return None
        return (self.local_context_channels, self.num_frames(layout.num_steps))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if self.one_hot:
            assert self.head.num_classes is not None
            return F.one_hot(x, self.head.num_classes).to(self.dtype)  # (N, T, K)
        return super().embed(x)  # (N, T, 1)

    def conditioning(
        self, context: torch.Tensor | None, local_context: torch.Tensor | None, length: int
    ) -> torch.Tensor | None:
        """Gate inputs ``V c`` of every layer, ``(N, layers, 2R, T)`` (broadcastable), or None."""
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
        return cond

    def network(
        self, h: torch.Tensor, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        _, T, _ = h.shape  # (N, T, F)
        x = self.input(shift_right(h.transpose(1, 2)))  # (N, F, T) delayed by one -> (N, R, T)
        cond = self.conditioning(context, local_context, T)  # (N, L, 2R, T|1) or None
        skips = 0.0
        for i, block in enumerate(self.blocks):
            x, skip = block(x, None if cond is None else cond[:, i])
            skips = skips + skip  # (N, S, T)
        return self.output(skips).transpose(1, 2)  # (N, P, T) -> (N, T, P)

    def incremental_state(
        self,
        layout: StepLayout,
        context: torch.Tensor | None,
        local_context: torch.Tensor | None,
        batch_size: int,
    ) -> WaveNetState:
        return WaveNetState(self, layout, context, local_context, batch_size)

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
    its last ``d (k - 1)`` inputs. :meth:`advance` feeds the new sample through
    the input projection and every layer (reading the queued taps, pushing the
    new input) and keeps the output as the parameters of the next step, so a
    step costs O(layers), whatever the receptive field. Nothing else is kept:
    the committed samples are not stored (the caller owns them), so memory is
    bounded by the queues, ``O(N R r)``, however long the generation runs.

    Local-context frames are projected one at a time, when the step enters them.
    """

    def __init__(
        self,
        model: WaveNet,
        layout: StepLayout,
        context: torch.Tensor | None,
        local_context: torch.Tensor | None,
        batch_size: int,
    ) -> None:
        self.model = model
        self.num_steps = layout.num_steps
        self.step = 0
        dtype, device = model.dtype, model.device
        if local_context is not None:
            model._check_frames(local_context, self.num_steps)
        self._global = None
        if model.context_proj is not None and context is not None:
            self._global = model.context_proj(context).unflatten(-1, (len(model.blocks), -1))  # (N, L, 2R)
        self._local_context = local_context  # (N, C_l, F)
        self._frame = -1
        self._local: torch.Tensor | None = None  # (N, L, 2R) of the current frame
        zero = torch.zeros(batch_size, model.residual_channels, dtype=dtype, device=device)
        self.queues = [ConvQueue(zero, model.kernel_size, d) for d in model.dilations]
        # per-step weights, laid out once: taps j-major to match torch.cat(taps, dim=1)
        R = model.residual_channels
        self._input = (model.input.weight.squeeze(-1), model.input.bias)  # (R, F), (R,)
        self._taps = [b.dilated.weight.permute(0, 2, 1).flatten(1).t() for b in model.blocks]  # (k*R, 2R)
        self._tap_bias = [b.dilated.bias for b in model.blocks]  # (2R,)
        self._residual = [(b.out.weight[:R, :, 0], b.out.bias[:R]) for b in model.blocks]  # (R, R), (R,)
        # the skip connections of all layers as one matrix on the concatenated gated activations
        self._skip = torch.cat([b.out.weight[R:, :, 0] for b in model.blocks], dim=1)  # (S, L*R)
        self._skip_bias = torch.stack([b.out.bias[R:] for b in model.blocks]).sum(0)  # (S,)
        self._gate_bias = self._biases(self._global)  # (N|1, L, 2R): conv bias + global context
        features = model.input.in_channels
        self._params = self._position(torch.zeros(batch_size, features, dtype=dtype, device=device))

    def params(self, partial: torch.Tensor | None = None) -> torch.Tensor:
        return self._params  # (N, P)

    def advance(self, value: torch.Tensor) -> None:
        self.step += 1
        if self.step < self.num_steps:  # the parameters of the next step, from x_t
            self._params = self._position(self.model.embed(value)[:, 0])  # (N, 1) -> (N, F)

    def advance_prefix(self, values: torch.Tensor) -> None:
        """Commit a prompt ``(N, n, 1)`` in one parallel pass of the layers, filling every queue."""
        model, n = self.model, values.shape[1]
        if n == 0:
            return
        if self.step != 0 or n > self.num_steps:
            super().advance_prefix(values)
            return
        # the inputs of positions 0..n-1 (delayed values), then the queues hold their last entries
        h = shift_right(model.embed(values[..., 0]).transpose(1, 2))  # (N, F, n)
        x = model.input(h)  # (N, R, n)
        cond = self._prefix_conditioning(n)  # (N, L, 2R, n|1) or None
        for i, (block, queue) in enumerate(zip(model.blocks, self.queues, strict=True)):
            queue.fill(x)
            x, _ = block(x, None if cond is None else cond[:, i])
        self.step = n
        if n < self.num_steps:
            self._params = self._position(model.embed(values[:, -1])[:, 0])

    # -- internals ------------------------------------------------------------------------------

    def _prefix_conditioning(self, n: int) -> torch.Tensor | None:
        model = self.model
        cond = None if self._global is None else self._global.unsqueeze(-1)  # (N, L, 2R, 1)
        if self._local_context is not None and model.local_proj is not None:
            frames = model.local_proj(self._local_context[..., : model.num_frames(n)])  # (N, L*2R, F')
            local = frames.repeat_interleave(model.hop_length, dim=-1)[..., :n].unflatten(1, (len(model.blocks), -1))
            cond = local if cond is None else cond + local
        return cond

    def _biases(self, cond: torch.Tensor | None) -> torch.Tensor:
        """Gate offsets ``(N|1, L, 2R)``: each dilated convolution's bias plus the conditioning."""
        bias = torch.stack(self._tap_bias).unsqueeze(0)  # (1, L, 2R)
        return bias if cond is None else bias + cond

    def _gate_offsets(self) -> torch.Tensor:
        """Gate offsets ``(N|1, L, 2R)`` at the current step (a new local frame is projected on entry)."""
        model = self.model
        if self._local_context is None or model.local_proj is None:
            return self._gate_bias
        frame = self.step // model.hop_length
        if frame != self._frame:
            proj = F.linear(self._local_context[..., frame], model.local_proj.weight.squeeze(-1))  # (N, L*2R)
            self._local = self._gate_bias + proj.unflatten(-1, (len(model.blocks), -1))
            self._frame = frame
        assert self._local is not None
        return self._local

    def _position(self, feature: torch.Tensor) -> torch.Tensor:
        """Head parameters ``(N, P)`` of the current step from its (delayed) input feature ``(N, F)``."""
        offsets = self._gate_offsets()  # (N|1, L, 2R)
        x = F.linear(feature, *self._input)  # (N, R)
        gated = []
        for i, queue in enumerate(self.queues):
            window = torch.cat(queue.taps(x), dim=1)  # (N, k*R): inputs at t - d(k-1), ..., t
            queue.push(x)
            z = torch.addmm(offsets[:, i], window, self._taps[i])  # (N, 2R)
            filt, gate = z.chunk(2, dim=1)
            a = torch.tanh(filt) * torch.sigmoid(gate)  # (N, R)
            gated.append(a)
            x = x + F.linear(a, *self._residual[i])  # residual connection
        skips = F.linear(torch.cat(gated, dim=1), self._skip, self._skip_bias)  # (N, L*R) -> (N, S)
        return self.model.output(skips.unsqueeze(-1)).squeeze(-1)  # (N, S, 1) -> (N, P)
