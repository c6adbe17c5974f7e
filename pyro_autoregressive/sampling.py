"""The one ancestral sampling loop, and the incremental-state protocol models plug into it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

import torch

from .heads import DiscreteHead

if TYPE_CHECKING:
    from .heads import Head
    from .layout import StepLayout
    from .model import AutoregressiveModel

__all__ = ["IncrementalState", "NaiveState", "RasterState", "ancestral_sample", "sampling_progress"]

_progress: ContextVar[Callable[[int], object] | None] = ContextVar("sampling_progress", default=None)


@contextlib.contextmanager
def sampling_progress(callback: Callable[[int], object]) -> Iterator[None]:
    """Inside the block, :func:`ancestral_sample` calls ``callback(n)`` as each ``n`` steps are done.

    For a progress bar over the steps (``tqdm``'s ``update``): a prefix counts at once, a
    stopped batch counts its padded steps. The draws are not changed.

    Example::

        >>> import pyro_autoregressive as par
        >>> done = []
        >>> with sampling_progress(done.append):
        ...     _ = par.MADE(3, par.heads.Bernoulli(), hidden_sizes=(4,)).condition().sample()
        >>> sum(done)
        3
    """
    token = _progress.set(callback)
    try:
        yield
    finally:
        _progress.reset(token)


class IncrementalState:
    """What a model keeps between generation steps (queues, KV cache, raster caches).

    A state is made by :meth:`~pyro_autoregressive.AutoregressiveModel.incremental_state` for a flat
    batch of ``N`` sequences and walks through the steps in order. At step ``i``:

    * :meth:`params` returns the head parameters ``(N, P)`` of step ``i`` given
      the committed steps ``< i``. For a model with ``couples_channels`` it is
      called once per channel, with the channels of step ``i`` drawn so far.
    * :meth:`advance` commits the values ``(N, C)`` of step ``i`` and moves on.

    A state is a *schedule*: it decides which layer runs where and when, and
    calls the layers' own one-step methods (``at``, ``step``, a KV cache) for
    the arithmetic, so that it can never drift from the teacher-forced
    ``forward``. States must not modify in place a tensor that autograd saved
    (``rsample`` differentiates through the loop).

    The base holds what every state holds: the model, the layout, the flat
    contexts, the batch size and the number of committed steps.
    """

    #: memory stays bounded however many steps are drawn (the state can stream)
    bounded_memory: bool = False
    #: :meth:`advance_prefix` encodes a prefix in one parallel pass (not step by step)
    parallel_prefill: bool = False

    def __init__(
        self,
        model: AutoregressiveModel,
        layout: StepLayout,
        context: torch.Tensor | None,
        local_context: torch.Tensor | None,
        batch_size: int,
    ) -> None:
        self.model, self.layout = model, layout
        self.context, self.local_context = context, local_context
        self.batch_size = batch_size
        self.step = 0  # committed steps
        self.start()

    def start(self) -> None:
        """Set up the caches; called once by ``__init__`` after the fields above (override, calling super)."""

    def params(self, partial: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def advance(self, value: torch.Tensor) -> None:
        raise NotImplementedError

    def advance_prefix(self, values: torch.Tensor) -> None:
        """Commit several known steps ``(N, n, C)`` at once (a prompt, a given image half).

        The default commits them one by one; states that can encode a prefix in
        one parallel pass (``parallel_prefill``) override it.
        """
        for value in values.unbind(1):
            self.advance(value)


class NaiveState(IncrementalState):
    """The reference: every step runs the full teacher-forced network on the event buffer.

    This is what TFP's ``PixelCNN`` and pytorch-generative do; ``sample(cache=False)``
    uses it, and it is the default state of models that keep no cache (MADE).
    Unfilled steps of the buffer hold zeros, which the network cannot see.
    """

    def start(self) -> None:
        dtype = self.model.head.value_dtype(self.model.dtype)
        self._zero_step = torch.zeros(self.batch_size, 1, self.layout.channels, dtype=dtype, device=self.model.device)
        self._done: list[torch.Tensor] = []  # committed steps, each (N, 1, C)

    def params(self, partial: torch.Tensor | None = None) -> torch.Tensor:
        current = self._zero_step
        if partial is not None and partial.shape[-1] > 0:
            pad = self._zero_step[:, 0, partial.shape[-1] :]
            current = torch.cat([partial, pad], dim=-1).unsqueeze(1)  # (N, 1, C)
        rest = self._zero_step.expand(-1, self.layout.num_steps - self.step - 1, -1)
        steps = torch.cat([*self._done, current, rest], dim=1)  # (N, S, C)
        params = self.model(self.layout.from_steps(steps), self.context, self.local_context)
        return params[:, self.step]  # (N, P)

    def advance(self, value: torch.Tensor) -> None:
        self._done.append(value.unsqueeze(1))
        self.step += 1


class RasterState(IncrementalState):
    """The raster-order scaffold of the image states: pixel ``(i, j)``, and the channels drawn so far.

    A subclass implements :meth:`column` (run every layer at the current pixel,
    given its values ``(N, C)``, writing the layers' inputs there to its caches,
    and return the head parameters ``(N, P)``) and :meth:`commit_input` (write the
    pixel's own input features, which later pixels read).

    With channel masks (``couples_channels``) :meth:`params` runs the column once
    per channel with the channels drawn so far (zeros for the rest, which no
    parameter block that is used can see). The activations at the pixel are
    final once only the last channel is unknown: no hidden unit sees it, so
    :meth:`advance` then only writes the pixel's input; otherwise it reruns the
    column with the full values.
    """

    def start(self) -> None:
        super().start()
        self.channels, self.height, self.width = self.layout.event_shape
        self._value_dtype = self.model.head.value_dtype(self.model.dtype)
        self._final = False  # the activations at the current pixel no longer change

    @property
    def position(self) -> tuple[int, int]:
        """``(i, j)`` of the current pixel."""
        return divmod(self.step, self.width)

    def column(self, value: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def commit_input(self, value: torch.Tensor) -> None:
        raise NotImplementedError

    def params(self, partial: torch.Tensor | None = None) -> torch.Tensor:
        known = 0 if partial is None else partial.shape[-1]
        unknown = torch.zeros(self.batch_size, self.channels - known, dtype=self._value_dtype, device=self.model.device)
        value = unknown if known == 0 else torch.cat([partial, unknown], dim=-1)  # type: ignore[list-item]
        params = self.column(value)
        self._final = not self.model.couples_channels or known == self.channels - 1
        return params

    def advance(self, value: torch.Tensor) -> None:
        if self._final:
            self.commit_input(value)
        else:
            self.column(value)  # writes the input too
        self._final = False
        self.step += 1


def ancestral_sample(
    state: IncrementalState,
    head: Head,
    num_steps: int | None = None,
    *,
    prefix: torch.Tensor | None = None,
    prefix_lengths: torch.Tensor | None = None,
    stop_value: int | None = None,
) -> torch.Tensor:
    r"""Draw ``x_i ~ p(x_i | x_<i)`` for every step after the prefix; returns ``(N, num_steps, C)``.

    The loop is the same for every model and for ``cache=True`` and
    ``cache=False``: only ``state`` differs. Random numbers are drawn in the same
    order and shapes in both cases, so the two agree under one seed. The channels
    per step and whether they are drawn one by one (``couples_channels``) come
    from the state's layout and model. ``head`` draws every channel: the model's
    own, or a decoding transform of it (:meth:`~pyro_autoregressive.heads.Head.tempered`,
    :class:`~pyro_autoregressive.heads.Truncated`).

    :param num_steps: steps to return, the prefix included (default: the state's
        ``layout.num_steps``); fewer continue a state chunk by chunk (streaming).
    :param prefix: ``(N, n, C)`` steps that are given, not drawn.
    :param prefix_lengths: ``(N,)`` long, a ragged prompt: row ``r`` is given its
        first ``prefix_lengths[r] <= n`` steps only (default: all ``n``). The steps
        every row is given go to ``state.advance_prefix`` at once; at a later
        step a row still inside its prompt takes the prompt's value (channel by
        channel, as if drawn) instead of its draw, so the state is teacher-forced
        through the rest of the prompt one step at a time, and the random numbers
        drawn are those of sampling from the shortest prompt on.
    :param stop_value: a row that has drawn this value (one channel per step)
        has stopped: its later steps hold it (the padding) whatever is drawn, and
        the loop ends as soon as every row has stopped (one check per step).
    :raises ValueError: if the network returned NaN head parameters at a step, or
        a continuous head drew a value that overflowed (checked once after the
        loop): a NaN is never turned into a value, and an infinite value is
        never returned as a sample.
    """
    if num_steps is None:
        num_steps = state.layout.num_steps
    channels, couples_channels = state.layout.channels, state.model.couples_channels
    value_dtype = head.value_dtype(state.model.dtype)  # draws are made in float32 at least, stored in this
    steps: list[torch.Tensor] = []
    has_nan: list[torch.Tensor] = []  # per drawn step, checked once after the loop (no sync per step)
    overflowed: list[torch.Tensor] = []  # continuous heads: an infinite value drawn, per step, checked likewise
    given = 0 if prefix is None else prefix.shape[1]
    start = given  # the steps every row is given: committed in one call
    if prefix_lengths is not None and prefix_lengths.numel():
        start = int(prefix_lengths.min())
    stopped = None  # (N,) rows that have drawn stop_value
    if stop_value is not None:
        stopped = torch.zeros(state.batch_size, dtype=torch.bool, device=state.model.device)
        if start > 0:
            stopped = (prefix[:, :start, 0] == stop_value).any(-1)
    report = _progress.get() or (lambda n: None)
    if start > 0:
        state.advance_prefix(prefix[:, :start])
        steps.append(prefix[:, :start])
        report(start)
    no_channel = torch.zeros(state.batch_size, 0, dtype=value_dtype, device=state.model.device)  # (N, 0)
    for step in range(start, num_steps):
        forced = None  # (N, 1): rows whose (ragged) prompt still covers this step
        if step < given:
            forced = (prefix_lengths > step).unsqueeze(-1)
        if stopped is not None and bool(stopped.all()):  # every row has ended: pad the rest
            shape = (state.batch_size, num_steps - step, channels)
            steps.append(torch.full(shape, stop_value, dtype=value_dtype, device=state.model.device))
            report(num_steps - step)
            break
        params = state.params()
        step_has_nan = torch.isnan(params).any()
        value = no_channel  # the step's channels drawn so far, (N, c)
        for c in range(channels):
            if c > 0 and couples_channels:
                # params of channel c may depend on channels < c of this step: ask again per channel
                params = state.params(value)
                step_has_nan = step_has_nan | torch.isnan(params).any()
            draw = head.sample_channel(params, value, channels).unsqueeze(-1).to(value_dtype)  # (N, 1)
            if forced is not None:
                draw = torch.where(forced, prefix[:, step, c : c + 1], draw)
            value = draw if c == 0 else torch.cat([value, draw], dim=-1)
        if stopped is not None:
            value = value.masked_fill(stopped.unsqueeze(-1), stop_value)  # (N, 1): a stopped row is padded
            stopped = stopped | (value[:, 0] == stop_value)
        state.advance(value)
        steps.append(value.unsqueeze(1))
        has_nan.append(step_has_nan)
        if not isinstance(head, DiscreteHead):
            overflowed.append(~torch.isfinite(value).all())
        report(1)
    if has_nan and bool(torch.stack(has_nan).any()):
        first = start + int(torch.stack(has_nan).nonzero()[0, 0])
        raise ValueError(
            f"params: the network returned NaN head parameters at step {first} (a diverged network, or an "
            "overflow in low precision); no value can be drawn from them"
        )
    if overflowed and bool(torch.stack(overflowed).any()):
        first = start + int(torch.stack(overflowed).nonzero()[0, 0])
        temperature = head.temperature
        if temperature == 1.0:
            raise ValueError(f"params: the value drawn at step {first} overflowed {value_dtype} (a diverged network)")
        raise ValueError(
            f"temperature: the value drawn at step {first} overflowed {value_dtype} (at temperature {temperature:g} "
            "the scales are multiplied by it, and the values drawn, fed back to the network, grow from step to "
            "step); sample at a lower temperature"
        )
    return torch.cat(steps, dim=1)
