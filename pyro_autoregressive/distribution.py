"""``AutoregressiveDistribution``: an autoregressive network as a Pyro distribution."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints

from .checks import check_bool, check_shape
from .decoding import Filter, MinP, TopK, TopP
from .distribution_checks import (
    check_batch_chunk,
    check_context,
    check_local_context,
    check_num_steps,
    check_stop_value,
    value_float_dtype,
)
from .heads import DiscreteHead, Head, Truncated
from .heads.base import TEMPERATURE_RANGE
from .layout import StepLayout
from .sampling import NaiveState, ancestral_sample
from .supports import PaddedSupport, PrefixedSupport, carries_prefix, describe_steps, prefix_mask

if TYPE_CHECKING:
    from .model import AutoregressiveModel

__all__ = ["TEMPERATURE_RANGE", "AutoregressiveDistribution"]


class AutoregressiveDistribution(TorchDistribution):
    r"""The exact density of an autoregressive model, as a Pyro distribution.

    .. math:: p(x \mid c) = \prod_{i=1}^{S} p(x_i \mid x_{<i}, c)

    ``log_prob`` evaluates every factor in one teacher-forced pass of the network;
    ``sample`` draws the steps one after the other (ancestral sampling), with the
    model's incremental state (``cache=True``) or by rerunning the whole network
    on the event buffer at every step (``cache=False``, the reference).

    Made by ``model.condition(context, local_context=..., length=...)``, not
    directly. ``batch_shape`` is the batch of the contexts (``()`` without them),
    ``event_shape`` the model's: ``(C, H, W)``, ``(T,)`` or ``(D,)``.

    Example::

        >>> import torch, pyro_autoregressive as par
        >>> made = par.MADE(5, par.heads.Categorical(4), hidden_sizes=(16,), context_size=2)
        >>> d = made.condition(torch.randn(3, 2))
        >>> d.batch_shape, d.event_shape
        (torch.Size([3]), torch.Size([5]))
        >>> x = d.sample((7,))
        >>> d.log_prob(x).shape
        torch.Size([7, 3])
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {}  # contexts are checked in __init__

    def __init__(
        self,
        model: AutoregressiveModel,
        context: torch.Tensor | None = None,
        local_context: torch.Tensor | None = None,
        *,
        layout: StepLayout,
        stop_value: int | None = None,
        validate_args: bool | None = None,
    ) -> None:
        self.model = model
        self.layout = layout
        self._reparameterized = not isinstance(model.head, DiscreteHead)  # has_rsample; has_rsample_(False): off
        # the head that scores and draws: the model's, tempered and truncated by temper, top_k, ...
        self.head: Head = model.head
        self.prefix: torch.Tensor | None = None  # (*B', n, C) steps, or None
        self.prefix_lengths: torch.Tensor | None = None  # (*B,) steps fixed per row (ragged), None: all n
        self.stop_value = None if stop_value is None else check_stop_value(model, layout, stop_value)
        context_batch = check_context(model, context)
        local_batch = check_local_context(model, layout, local_context)
        try:
            batch_shape = torch.broadcast_shapes(context_batch, local_batch)
        except RuntimeError:
            raise ValueError(
                f"local_context: its batch shape {tuple(local_batch)} does not broadcast with the batch "
                f"shape {tuple(context_batch)} of context"
            ) from None
        self.context = None if context is None else context.expand(batch_shape + context.shape[-1:])
        self.local_context = None
        if local_context is not None:
            event_dims = local_context.dim() - len(local_batch)
            self.local_context = local_context.expand(batch_shape + local_context.shape[-event_dims:])
        if model.dtype == torch.float16 and not isinstance(model.head, DiscreteHead):
            raise ValueError(
                f"model: float16 weights are not supported with the continuous head {model.head!r} (values and "
                "samples overflow at 65504); use bfloat16 weights or torch.autocast over a float32 model"
            )
        super().__init__(batch_shape, layout.event_shape, validate_args=validate_args)
        if self._validate_args:
            for name, value in (("context", self.context), ("local_context", self.local_context)):
                if value is not None and not torch.isfinite(value).all():
                    raise ValueError(f"{name}: expected finite values, got NaN or inf")

    # -- Distribution interface ---------------------------------------------------------------------

    @constraints.dependent_property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        """``independent(head support, len(event_shape))``; with a prefix, also the prefix's steps.

        A dependent property (as torch's ``Independent.support``): on the class it
        is a ``Dependent`` constraint, since its ``event_dim`` is the model's.
        """
        support = constraints.independent(self.model.head.element_support, len(self.event_shape))
        if self.stop_value is not None:
            support = PaddedSupport(support, self.stop_value)
        if self.prefix is None:
            return support
        return PrefixedSupport(support, self.layout, self.prefix, self.prefix_lengths)

    @classmethod
    def infer_shapes(cls, **arg_shapes: Any) -> tuple[torch.Size, torch.Size]:
        """Not available: the event shape is the model's, not a function of the arguments' shapes."""
        raise NotImplementedError(
            "infer_shapes: an AutoregressiveDistribution's event_shape is its model's (model.layout().event_shape)"
        )

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        """True for continuous heads, until ``has_rsample_(False)`` asks for detached samples."""
        return self._reparameterized

    @has_rsample.setter
    def has_rsample(self, value: bool) -> None:
        if value is not True and value is not False:
            raise ValueError(f"has_rsample: expected a bool, got {value!r}")
        if value and isinstance(self.model.head, DiscreteHead):
            raise ValueError(f"has_rsample: the head {self.model.head!r} is discrete and cannot be reparameterised")
        self._reparameterized = value

    def expand(self, batch_shape: torch.Size | tuple[int, ...], _instance: Any = None) -> AutoregressiveDistribution:
        """The same distribution over a larger batch, the contexts expanded (no copy).

        Torch's rule: every existing batch dim is kept or is 1, else a ``RuntimeError``.
        """
        batch_shape = check_shape("batch_shape", batch_shape)
        old = self.batch_shape
        kept = batch_shape[len(batch_shape) - len(old) :]  # the trailing dims that face the existing ones
        if len(batch_shape) < len(old) or any(o not in (1, n) for o, n in zip(old, kept, strict=True)):
            # torch's own rule (and error type) for expanding a tensor of shape batch_shape
            raise RuntimeError(
                f"batch_shape: cannot expand batch_shape {tuple(old)} to {tuple(batch_shape)}: every existing dim "
                "must be kept or be 1"
            )
        new = self._get_checked_instance(AutoregressiveDistribution, _instance)
        new.__dict__.update(self.__dict__)
        if self.context is not None:
            new.context = self.context.expand(batch_shape + self.context.shape[-1:])
        if self.local_context is not None:
            event_dims = self.local_context.dim() - len(self.batch_shape)
            new.local_context = self.local_context.expand(batch_shape + self.local_context.shape[-event_dims:])
        if self.prefix is not None:
            new.prefix = self.prefix.expand(batch_shape + self.prefix.shape[-2:])
        if self.prefix_lengths is not None:
            new.prefix_lengths = self.prefix_lengths.expand(batch_shape)
        super(AutoregressiveDistribution, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(x)``, shape ``sample_shape + batch_shape``, in one network pass."""
        return self.step_log_prob(value).sum(-1)

    def step_log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Per-step terms ``log p(x_i | x_<i)``, shape ``sample_shape + batch_shape + (num_steps,)``.

        Steps fixed by :meth:`condition_on_prefix` (each row's own, for a ragged
        prompt), and with ``stop_value`` the steps after the first stop (the
        padding), contribute 0. The terms sum to
        :meth:`log_prob`. After ``top_k``, ``top_p`` or ``min_p`` a step outside the
        truncated support has the term ``-inf`` (a ``ValueError`` with validation on).
        """
        outside = None  # (*, S): steps holding a value outside the support (validation off)
        if self._validate_args:
            self._validate_sample(value)
        discrete = isinstance(self.model.head, DiscreteHead)
        if discrete:
            if not self._validate_args:
                # unchecked values: a value outside the support has probability 0, never a made-up mass
                inside = self.model.head.element_support.check(value)
                outside = ~self.layout.to_steps(inside).all(-1)
                value = torch.where(inside, value, torch.zeros((), dtype=value.dtype, device=value.device))
            value = value.long()  # any integer dtype, and integer-valued floats, are accepted
        else:
            value = value.to(value_float_dtype(value.dtype, self.model.dtype))
        event_dim = len(self.event_shape)
        value_batch = value.shape[: value.dim() - event_dim]
        shape = torch.broadcast_shapes(value_batch, self.batch_shape)
        foreign = None  # (*shape): values whose fixed steps are not the prefix (validation off: probability 0)
        if self.prefix is not None and not self._validate_args:
            foreign = ~carries_prefix(self.layout, value, self.prefix, self.prefix_lengths)
        if self.context is None and self.local_context is None and self.prefix_lengths is None:
            shape_used = value_batch  # nothing varies along the batch: score x as it is, then broadcast
        else:
            shape_used = shape
            value = value.expand(shape + self.event_shape)
        flat = value.reshape((-1,) + self.event_shape)  # (N, *E)
        context, local_context = self._flat_contexts(shape_used)
        network_input = flat if discrete else flat.to(self.model.dtype)
        params = self.model(network_input, context, local_context)  # (N, S, P)
        steps = self.layout.to_steps(flat)  # (N, S, C)
        terms = self.head.log_prob(params, steps)  # (N, S)
        if self.prefix is not None:
            if self.prefix_lengths is None:
                fixed = torch.arange(self.layout.num_steps, device=terms.device) < self.prefix.shape[-2]  # (S,)
            else:  # a ragged prompt: each row's own steps, (N, S)
                fixed = prefix_mask(self.prefix_lengths.expand(shape_used).reshape(-1), self.layout.num_steps)
            terms = terms.masked_fill(fixed, 0.0)
        if self.stop_value is not None:
            is_stop = steps[..., 0] == self.stop_value  # (N, S)
            after = (is_stop.cumsum(-1) - is_stop.long()) > 0  # strictly after the first stop: the padding
            padding = torch.where(is_stop, 0.0, -math.inf).to(terms.dtype)  # a padding step that is not a stop: 0
            terms = torch.where(after, padding, terms)
        if self.filters and self._validate_args and bool(torch.isneginf(terms).any()):
            step = int(torch.isneginf(terms).nonzero()[0, 1])
            rounding = ""
            if params.dtype in (torch.bfloat16, torch.float16):
                rounding = (
                    f"; the network ran in {params.dtype}, where the cached sampler's conditionals differ from this "
                    "parallel pass's by rounding, so a level at a filter's threshold can fall on either side: draw "
                    "and score filtered samples in float32"
                )
            raise ValueError(
                f"value: outside the support of the filtered distribution ({self._filters_repr()}): step {step} "
                f"holds a value the filters truncate (probability 0){rounding}"
            )
        terms = terms.reshape(shape_used + terms.shape[-1:])
        if outside is not None:
            terms = terms.masked_fill(outside, -math.inf)
        terms = terms.expand(shape + terms.shape[-1:])
        if foreign is not None:
            terms = terms.masked_fill(foreign.unsqueeze(-1), -math.inf)
        return terms

    def sample(
        self, sample_shape: torch.Size | tuple[int, ...] = (), *, cache: bool = True, batch_chunk: int | None = None
    ) -> torch.Tensor:
        """Exact ancestral sample of shape ``sample_shape + batch_shape + event_shape``.

        :param cache: use the model's incremental state (queues, KV cache, row
            caches); ``False`` reruns the whole network at every step (the
            reference, as in TFP's PixelCNN). In float64 both give the same
            tensor under the same ``torch.manual_seed``.
        :param batch_chunk: draw the flat batch of ``N = prod(sample_shape +
            batch_shape)`` sequences at most this many at a time, each chunk with
            its own incremental state, and concatenate them: the working memory
            (caches, activations) is that of ``batch_chunk`` sequences, not ``N``.
            ``None`` (the default) draws all ``N`` at once.
        :raises TypeError: if ``batch_chunk`` is not an int or None.
        :raises ValueError: if ``batch_chunk`` is below 1.

        NOTE: chunked sampling draws from the same distribution but not the same
        random stream as unchunked sampling: the heads draw each step's noise for
        the whole batch at once, so chunks consume it in another order (making
        them agree would mean drawing, and holding, the noise of every step for
        all ``N`` sequences). With ``batch_chunk >= N`` there is one chunk and the
        result is the unchunked one under the same seed.
        """
        sample_shape = check_shape("sample_shape", sample_shape)
        cache = check_bool("cache", cache)
        batch_chunk = check_batch_chunk(batch_chunk)
        with torch.inference_mode():  # no autograd bookkeeping at all: cheaper small ops in every step
            x = self._sample(sample_shape, cache, batch_chunk)
        return x.clone()  # a normal tensor (usable with autograd), not an inference tensor

    def rsample(
        self, sample_shape: torch.Size | tuple[int, ...] = (), *, cache: bool = True, batch_chunk: int | None = None
    ) -> torch.Tensor:
        """Reparameterised sample (continuous heads): differentiable in the parameters and contexts.

        ``batch_chunk`` is as in :meth:`sample` (autograd still keeps every chunk's graph).
        """
        if not self.has_rsample:
            raise NotImplementedError(f"rsample: the head {self.model.head!r} is discrete; use sample()")
        return self._sample(
            check_shape("sample_shape", sample_shape), check_bool("cache", cache), check_batch_chunk(batch_chunk)
        )

    # -- autoregressive extras ----------------------------------------------------------------------

    def temper(self, temperature: float) -> AutoregressiveDistribution:
        """The distribution whose every conditional is tempered by ``temperature``.

        Categorical/Bernoulli logits are divided by it; mixture logits are divided
        by it and component scales multiplied by it. ``log_prob`` of the result
        is exact for the tempered distribution. ``temper(1.0)`` equals ``self``.
        Tempering an already tempered distribution multiplies the temperatures;
        the product must lie in :data:`~pyro_autoregressive.heads.base.TEMPERATURE_RANGE` (``[1e-6, 1e6]``), where
        results stay finite: beyond it logits divided by it overflow and scales
        multiplied by it underflow.
        """
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real | torch.Tensor):
            raise TypeError(
                f"temperature: expected a finite float > 0, got {type(temperature).__name__} {temperature!r}"
            )
        if isinstance(temperature, torch.Tensor) or not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature: expected a finite float > 0, got {temperature!r}")
        new = self._copy()
        new.head = self.head.tempered(float(temperature))
        return new

    def condition_on_prefix(self, value: torch.Tensor, num_steps: int | torch.Tensor) -> AutoregressiveDistribution:
        """The distribution whose first ``num_steps`` steps are fixed to those of ``value``.

        ``value`` has shape ``(*B', *event_shape)`` with ``B'`` broadcasting against
        ``batch_shape`` (the result's batch shape is the broadcast); its steps
        from ``num_steps`` on are ignored. ``sample`` keeps the prefix and
        completes the rest; ``log_prob(x)`` sums the steps ``>= num_steps``
        (with validation on, ``x`` must carry the same prefix, and ``support``
        holds only such values). ``value`` is checked even with validation off.

        Ragged prompts: ``num_steps`` may be an integer tensor of per-row prompt
        lengths in ``[0, S]`` (``S = self.num_steps``), whose shape broadcasts against the batch
        (and ``B'``; the result's batch shape is the broadcast of all three). Row
        ``b`` then fixes its first ``num_steps[b]`` steps: ``log_prob`` and
        ``step_log_prob`` count the steps ``>= num_steps[b]`` of row ``b``, and
        ``sample`` keeps each row's prompt and draws the rest. The steps every
        row is given (the shortest prompt) are encoded in one parallel pass where
        the model's state allows it (as for an int); a longer prompt's further
        steps are fed through the incremental state one at a time, teacher-forced
        as a drawn value would be, which is exact (``cache=True`` and
        ``cache=False`` still agree under one seed) but costs one cached step per
        such position. Every row draws the random numbers of every step after the
        shortest prompt (a row still inside its prompt discards its draw), so a
        row of length 0 draws what it would unconditioned, and a tensor whose
        lengths are all ``n`` samples exactly as the int ``n``.

        Conditioning a conditioned distribution again extends its prefix: every
        row must fix at least the steps it fixed before (``ValueError`` naming
        ``num_steps`` otherwise) and ``value`` must agree with the earlier prefix
        there (``ValueError`` naming ``value``).

        :raises TypeError: if ``num_steps`` is not an int (a bool, a float) or is
            a tensor of a non-integer dtype.
        :raises ValueError: if ``num_steps`` (any of its values) is outside
            ``[0, S]``, or a tensor on another device or of a shape that
            does not broadcast against the batch.
        """
        num_steps = check_num_steps(num_steps, self.layout.num_steps, self.model.device)
        # checked even with validation off (once, not per call): the prefix is fed to the network
        self._validate_sample(value, whole=False)
        event_dim = len(self.event_shape)
        batch_shape = torch.broadcast_shapes(value.shape[: value.dim() - event_dim], self.batch_shape)
        ragged = isinstance(num_steps, torch.Tensor)
        if ragged:
            try:
                batch_shape = torch.broadcast_shapes(num_steps.shape, batch_shape)
            except RuntimeError:
                raise ValueError(
                    f"num_steps: expected a shape that broadcasts against the batch shape {tuple(batch_shape)} (of "
                    f"the distribution and value), got {tuple(num_steps.shape)}"
                ) from None
        if self.stop_value is not None:
            self._check_padding(value, num_steps)  # within each row's prompt: its later steps are ignored
        self._check_carries_prefix(value)  # agrees with a prefix fixed before
        if self.prefix is not None:
            before = self._fixed_steps
            if bool(torch.as_tensor(num_steps < before).any()):
                raise ValueError(
                    f"num_steps: this distribution already fixes {describe_steps(before)} steps, got "
                    f"{describe_steps(num_steps)}"
                    + (", fewer in some row" if ragged or self.prefix_lengths is not None else "")
                )
        if ragged:
            longest = int(num_steps.max()) if num_steps.numel() else 0
        else:
            longest = num_steps
        steps = self.layout.to_steps(value)[..., :longest, :].to(self.model.head.value_dtype(self.model.dtype))
        new = self.expand(batch_shape) if batch_shape != self.batch_shape else self._copy()
        new.prefix = steps.expand(batch_shape + steps.shape[-2:])
        new.prefix_lengths = num_steps.expand(batch_shape) if ragged else None
        return new

    def top_k(self, k: int) -> AutoregressiveDistribution:
        """Every conditional truncated to its ``k`` most likely values and renormalised.

        Per channel, after the temperature and the filters called before
        (:meth:`temper` always applies first, the filters then in call order).
        Values tying with the ``k``-th probability are all kept; ``k >= K``
        keeps every value. ``top_k(1)`` is greedy decoding, a degenerate
        distribution: the first of the most likely values (as ``argmax``). Heads
        over enumerable values only (``ValueError`` for a continuous head).

        :param k: an int ``>= 1`` (``TypeError`` for another type).
        """
        return self._filtered(TopK(k))

    def top_p(self, p: float) -> AutoregressiveDistribution:
        """Nucleus sampling: every conditional truncated to its smallest most-likely set of mass ``>= p``.

        Values are taken from the most likely down until their mass reaches
        ``p`` (values tying with the last one taken are kept too); the set is
        renormalised. ``top_p(1.0)`` keeps every value. Composes as :meth:`top_k`.

        :param p: a float in ``(0, 1]``.
        """
        return self._filtered(TopP(p))

    def min_p(self, p: float) -> AutoregressiveDistribution:
        """Every conditional truncated to the values of probability ``>= p`` times the largest, renormalised.

        Ties at the threshold are kept. Composes as :meth:`top_k`.

        :param p: a float in ``(0, 1]``.
        """
        return self._filtered(MinP(p))

    def greedy(self, *, cache: bool = True) -> torch.Tensor:
        """Greedy decoding: the argmax of every conditional in turn, shape ``batch_shape + event_shape``.

        The draw of :meth:`top_k` ``(1)``, a degenerate distribution whose
        ``log_prob`` is 0 at this value and ``-inf`` elsewhere; per channel, each
        given the channels before it, for coupled channels. It is *not* the joint
        mode ``argmax_x p(x)``. Deterministic (draws no random numbers); the limit
        of :meth:`temper` as the temperature goes to 0. Applies after the
        temperature and filters already set (which cannot change the argmax).
        """
        return self.top_k(1).sample(cache=cache)

    @property
    def num_steps(self) -> int:
        return self.layout.num_steps

    @property
    def temperature(self) -> float:
        """The product of every :meth:`temper` (1 if none): the temperature of :attr:`head`."""
        return self.head.temperature

    @property
    def filters(self) -> tuple[Filter, ...]:
        """The decoding filters (``top_k``, ``top_p``, ``min_p``) in call order, after the temperature."""
        return self.head.filters if isinstance(self.head, Truncated) else ()

    # -- internals ------------------------------------------------------------------------------------

    def _filtered(self, f: Filter) -> AutoregressiveDistribution:
        head = self.head
        if not isinstance(head, DiscreteHead):
            raise ValueError(
                f"head: {type(f).__name__} filters need a head over enumerable values (Categorical, Bernoulli, "
                f"DiscretizedLogisticMixture), got the continuous head {head!r}"
            )
        new = self._copy()
        new.head = Truncated(head, (f,))
        return new

    def _filters_repr(self) -> str:
        return ", ".join(map(str, self.filters))

    def _copy(self) -> AutoregressiveDistribution:
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def _flat_contexts(self, shape: torch.Size) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        context = local_context = None
        if self.context is not None:
            context = self.context.expand(shape + self.context.shape[-1:]).reshape(-1, self.context.shape[-1])
        if self.local_context is not None:
            event = self.local_context.shape[len(self.batch_shape) :]
            local_context = self.local_context.expand(shape + event).reshape((-1,) + event)
        return context, local_context

    def _sample(self, sample_shape: torch.Size, cache: bool, batch_chunk: int | None = None) -> torch.Tensor:
        shape = sample_shape + self.batch_shape
        batch_size = math.prod(shape)
        context, local_context = self._flat_contexts(shape)
        prefix = lengths = None
        if self.prefix is not None:
            prefix = self.prefix.expand(shape + self.prefix.shape[-2:]).reshape((batch_size,) + self.prefix.shape[-2:])
        if self.prefix_lengths is not None:
            lengths = self.prefix_lengths.expand(shape).reshape(batch_size)  # (N,)
        if batch_chunk is None or batch_chunk >= batch_size:
            steps = self._sample_flat(batch_size, cache, context, local_context, prefix, lengths)
        else:
            chunks = []
            for start in range(0, batch_size, batch_chunk):
                rows = slice(start, start + batch_chunk)
                size = min(batch_chunk, batch_size - start)
                chunks.append(
                    self._sample_flat(
                        size,
                        cache,
                        None if context is None else context[rows],
                        None if local_context is None else local_context[rows],
                        None if prefix is None else prefix[rows],
                        None if lengths is None else lengths[rows],
                    )
                )
            steps = torch.cat(chunks)  # (N, S, C)
        return self.layout.from_steps(steps).reshape(shape + self.event_shape)

    def _sample_flat(
        self,
        batch_size: int,
        cache: bool,
        context: torch.Tensor | None,
        local_context: torch.Tensor | None,
        prefix: torch.Tensor | None,
        prefix_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Steps ``(N, S, C)`` of ``N`` sequences drawn together, with one state."""
        model = self.model
        if cache:
            state = model.incremental_state(self.layout, context, local_context, batch_size)
        else:
            state = NaiveState(model, self.layout, context, local_context, batch_size)
        return ancestral_sample(
            state, self.head, prefix=prefix, prefix_lengths=prefix_lengths, stop_value=self.stop_value
        )

    def _validate_sample(self, value: torch.Tensor, whole: bool = True) -> None:
        """Raise ``ValueError`` naming what was expected and what was received.

        :param whole: ``value`` is a whole value to score: with a stop value, check
            its padding, and check that it carries the prefix
            (:meth:`condition_on_prefix`). ``False`` for a prompt, whose checks
            :meth:`condition_on_prefix` makes itself (within each row's own steps).

        Values are promoted as torch does: discrete heads take any integer dtype,
        ``bool`` and integer-valued floats; continuous heads any real dtype (the
        network reads the value in its own dtype).
        """
        head, event_shape = self.model.head, self.event_shape
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"value: expected a torch.Tensor, got {type(value).__name__}")
        event_dim = len(event_shape)
        if value.dim() < event_dim or value.shape[value.dim() - event_dim :] != event_shape:
            raise ValueError(
                f"value: expected shape (*batch, {', '.join(map(str, event_shape))}) ending in the event shape "
                f"{tuple(event_shape)}, got {tuple(value.shape)}"
            )
        try:
            torch.broadcast_shapes(value.shape[: value.dim() - event_dim], self.batch_shape)
        except RuntimeError:
            raise ValueError(
                f"value: expected leading dims that broadcast against batch_shape {tuple(self.batch_shape)}, "
                f"got {tuple(value.shape[: value.dim() - event_dim])}"
            ) from None
        discrete = isinstance(head, DiscreteHead)
        if value.dtype.is_complex or (value.dtype == torch.bool and not discrete):
            raise ValueError(f"value: expected a real dtype for {head!r}, got {value.dtype}")
        if value.device != self.model.device:
            raise ValueError(
                f"value: expected a tensor on {self.model.device} (the model's device), got {value.device}"
            )
        if discrete:
            if value.numel() and not head.element_support.check(value).all():
                received = (
                    f"values in [{value.min().item()}, {value.max().item()}]"
                    if not value.dtype.is_floating_point or torch.isfinite(value).all()
                    else "NaN or inf"
                )
                if value.dtype.is_floating_point and torch.isfinite(value).all() and (value != value.round()).any():
                    received = "values that are not integers"
                raise ValueError(
                    f"value: expected integers in [0, {head.num_classes - 1}] for {head!r}, got {received}"
                )
        elif not torch.isfinite(value).all():
            raise ValueError("value: expected finite values, got NaN or inf")
        if whole:
            if self.stop_value is not None:
                self._check_padding(value)
            self._check_carries_prefix(value)

    def _check_padding(self, value: torch.Tensor, padded_steps: int | torch.Tensor | None = None) -> None:
        """With a stop value: every step after the first stop is the stop, within ``padded_steps`` (per row)."""
        steps = self.layout.to_steps(value)[..., 0]  # (*, S)
        if isinstance(padded_steps, int):
            steps = steps[..., :padded_steps]
        is_stop = steps == self.stop_value
        goes_on = (is_stop.long().cumsum(-1) - is_stop.long() > 0) & ~is_stop  # a step after a stop, not a stop
        if isinstance(padded_steps, torch.Tensor):  # a ragged prompt: only each row's own steps
            goes_on = goes_on & prefix_mask(padded_steps, steps.shape[-1])
        if goes_on.any():
            raise ValueError(
                f"value: with stop_value={self.stop_value} every step after the first {self.stop_value} must be "
                f"{self.stop_value} (the padding), got a sequence that goes on after its stop"
            )

    @property
    def _fixed_steps(self) -> int | torch.Tensor:
        """The steps the prefix fixes (a prefix is set): ``n``, or each row's ``prefix_lengths``."""
        assert self.prefix is not None
        return self.prefix.shape[-2] if self.prefix_lengths is None else self.prefix_lengths

    def _check_carries_prefix(self, value: torch.Tensor) -> None:
        if self.prefix is not None and not carries_prefix(self.layout, value, self.prefix, self.prefix_lengths).all():
            fixed = describe_steps(self._fixed_steps)
            raise ValueError(
                f"value: this distribution fixes the first {fixed} steps (condition_on_prefix); "
                f"got a value whose fixed steps differ"
            )

    def __repr__(self) -> str:
        parts = [f"model={type(self.model).__name__}", f"head={self.model.head!r}"]
        parts += [f"batch_shape={tuple(self.batch_shape)}", f"event_shape={tuple(self.event_shape)}"]
        if self.temperature != 1.0:
            parts.append(f"temperature={self.temperature}")
        if self.filters:
            parts.append(f"filters=[{self._filters_repr()}]")
        if self.stop_value is not None:
            parts.append(f"stop_value={self.stop_value}")
        if self.prefix is not None:
            parts.append(f"prefix_steps={describe_steps(self._fixed_steps)}")
        return f"AutoregressiveDistribution({', '.join(parts)})"
