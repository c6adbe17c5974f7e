"""Streaming generation: long sequences in chunks, with memory bounded by the model's state.

The driver reuses the library's one sampling loop
(:func:`~pyro_autoregressive.sampling.ancestral_sample`) chunk after chunk on a
single incremental state made for the whole length. A state that keeps no
committed outputs (:class:`~pyro_autoregressive.models.wavenet.WaveNetState`:
only per-layer queues; a windowed
:class:`~pyro_autoregressive.models.transformer_state.TransformerState`: a ring of the
last ``W`` keys and values per layer) makes the memory independent of the length;
the chunks are handed to the caller (or written to a file) and forgotten.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .checks import check_bool, check_int, check_positive, check_probability
from .decoding import Filter, MinP, TopK, TopP
from .heads import DiscreteHead, Head, Truncated
from .layout import SequenceLayout
from .model import AutoregressiveModel
from .sampling import IncrementalState, ancestral_sample

__all__ = ["generate_stream", "stream_to_wav"]


def generate_stream(
    model: AutoregressiveModel,
    num_samples: int,
    *,
    chunk_size: int = 16000,
    context: torch.Tensor | None = None,
    local_context: torch.Tensor | None = None,
    prefix: torch.Tensor | None = None,
    num_sequences: int | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    min_p: float | None = None,
    progress: bool = True,
) -> Iterator[torch.Tensor]:
    r"""Draw ``num_samples`` steps of a sequence model, yielding chunks ``(N, <= chunk_size)``.

    Exact ancestral sampling, the same draws as ``model.condition(...).sample()``
    of the whole sequence under the same seed (without a prefix), but the
    samples are not kept: memory is the model's state plus one chunk.

    .. math:: x_t \sim p(x_t \mid x_{<t}, c), \quad t = n, \dots, n + \text{num\_samples} - 1

    Every argument is checked when the function is called, before the first chunk
    is asked for: a wrong type is a ``TypeError``, a wrong value a ``ValueError``,
    each naming the argument and what it received.

    :param model: a sequence model whose incremental state keeps bounded memory: a
        :class:`~pyro_autoregressive.WaveNet`, or a :class:`~pyro_autoregressive.Transformer`
        (with ``attention_window=W`` any length, in memory bounded by ``W``; without
        one, at most ``max_length`` steps); a model without such a state is refused.
    :param num_samples: how many new steps to draw.
    :param chunk_size: steps per yielded chunk.
    :param context: global context ``(N, context_size)``.
    :param local_context: ``(N, channels, frames)`` covering the prefix and the new
        steps (for WaveNet ``frames = ceil((n + num_samples) / hop_length)``).
    :param prefix: ``(N, n)`` given steps to continue (audio continuation), values
        of the head's support (integer levels ``0..K-1`` for a discrete head); they
        are committed in one parallel pass and not yielded.
    :param num_sequences: ``N``; by default the batch of the context and the
        prefix, else 1. A context or prefix batch of 1 is repeated ``N`` times; any
        other batch must be ``N``.
    :param temperature: a finite float ``> 0`` dividing the logits (as
        :meth:`~pyro_autoregressive.AutoregressiveDistribution.temper`).
    :param top_k: keep the ``k`` most likely levels of every step (discrete heads).
    :param top_p: nucleus: keep the most likely levels of mass ``>= p``.
    :param min_p: keep the levels of probability ``>= p`` times the largest. The
        filters apply to every step's tempered conditional in the order ``top_k``,
        ``top_p``, ``min_p``, as
        :meth:`~pyro_autoregressive.AutoregressiveDistribution.top_k` and its
        siblings called in that order: the same draws as
        ``d.temper(t).top_k(k).top_p(p).min_p(m).sample()`` under one seed.
    :param progress: show a ``tqdm`` progress bar.

    Example::

        >>> import torch, pyro_autoregressive as par
        >>> net = par.WaveNet(par.heads.Categorical(256), residual_channels=4, skip_channels=4, num_layers=3)
        >>> audio = torch.cat(list(generate_stream(net, 50, chunk_size=20, progress=False)), dim=-1)
        >>> audio.shape
        torch.Size([1, 50])
        >>> text = par.Transformer(par.heads.Categorical(256), max_length=64, d_model=16, num_layers=1,
        ...                        attention_window=8)
        >>> sum(chunk.shape[-1] for chunk in generate_stream(text, 300, chunk_size=100, progress=False))
        300
    """
    state, head = _start(
        model,
        num_samples,
        chunk_size,
        context=context,
        local_context=local_context,
        prefix=prefix,
        num_sequences=num_sequences,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        min_p=min_p,
    )
    progress = check_bool("progress", progress)
    return _chunks(model, state, head, num_samples, chunk_size, progress)


def _start(
    model: AutoregressiveModel,
    num_samples: int,
    chunk_size: int,
    *,
    context: torch.Tensor | None = None,
    local_context: torch.Tensor | None = None,
    prefix: torch.Tensor | None = None,
    num_sequences: int | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    min_p: float | None = None,
) -> tuple[IncrementalState, Head]:
    """Check the arguments of :func:`generate_stream`; the state with the prefix committed, and the head to draw with.

    The head is the model's, tempered and then truncated by the filters given.
    """
    if not isinstance(model, AutoregressiveModel):
        raise TypeError(f"model: expected an AutoregressiveModel, got {type(model).__name__}")
    check_int("num_samples", num_samples, 1)
    check_int("chunk_size", chunk_size, 1)
    head: Head = model.head.tempered(check_positive("temperature", temperature))
    filters: list[Filter] = []
    if top_k is not None:
        filters.append(TopK(check_int("top_k", top_k, 1)))
    if top_p is not None:
        filters.append(TopP(check_probability("top_p", top_p)))
    if min_p is not None:
        filters.append(MinP(check_probability("min_p", min_p)))
    if filters:
        if not isinstance(head, DiscreteHead):
            given = (("top_k", top_k), ("top_p", top_p), ("min_p", min_p))
            named = ", ".join(name for name, value in given if value is not None)
            raise ValueError(f"{named}: decoding filters need a head over enumerable levels, got {model.head!r}")
        head = Truncated(head, tuple(filters))
    if num_sequences is not None:
        check_int("num_sequences", num_sequences, 1)
    if prefix is not None:
        _check_prefix(model, prefix)
    given = 0 if prefix is None else prefix.shape[-1]
    try:
        layout = model.layout(given + num_samples)
    except TypeError as error:
        raise TypeError(
            f"model: expected a sequence model that takes a length, got {type(model).__name__} ({error})"
        ) from None
    except ValueError as error:  # longer than the model takes (a Transformer's max_length)
        raise ValueError(
            f"num_samples: {given} prefix steps and {num_samples} new steps are more than "
            f"{type(model).__name__} takes ({error})"
        ) from None
    if not isinstance(layout, SequenceLayout):
        raise TypeError(f"model: expected a sequence model (SequenceLayout), got {type(model).__name__}")
    # validate the contexts as the distribution does (shapes, dtype, device)
    dist = model.condition(context, local_context=local_context, length=given + num_samples)
    if len(dist.batch_shape) > 1:
        raise ValueError(
            f"context, local_context: expected one batch dimension (N, ...), got {tuple(dist.batch_shape)}"
        )
    batches = {"context, local_context": dist.batch_shape, "prefix": () if prefix is None else prefix.shape[:1]}
    batches = {name: shape[0] for name, shape in batches.items() if len(shape)}
    size = num_sequences if num_sequences is not None else max(batches.values(), default=1)
    for name, batch in batches.items():
        if batch not in (1, size):
            given_by = f"num_sequences={num_sequences}" if num_sequences is not None else "the other arguments"
            raise ValueError(
                f"{name}: expected a batch of 1 or {size} ({given_by}), got {batch}"
                + ("" if num_sequences is None else f"; num_sequences: got {num_sequences}")
            )
    context = None if dist.context is None else dist.context.expand(size, -1)
    local_context = None if dist.local_context is None else dist.local_context.expand(size, -1, -1)
    with torch.no_grad():
        state = model.incremental_state(layout, context, local_context, size)
        if not state.bounded_memory:
            raise TypeError(
                f"model: {type(model).__name__}'s incremental state ({type(state).__name__}) keeps every step, "
                "so it cannot stream; expected a model whose state has bounded_memory"
            )
        if prefix is not None and given:
            state.advance_prefix(layout.to_steps(prefix.expand(size, -1)))
    return state, head


def _check_prefix(model: AutoregressiveModel, prefix: object) -> None:
    """``(N, n)`` values of the head's support, on the model's device."""
    head = model.head
    if not isinstance(prefix, torch.Tensor):
        raise TypeError(f"prefix: expected a torch.Tensor (N, n) or None, got {type(prefix).__name__}")
    if prefix.dim() != 2:
        raise ValueError(f"prefix: expected shape (N, n), got {tuple(prefix.shape)}")
    if isinstance(head, DiscreteHead):
        if prefix.dtype.is_floating_point or prefix.dtype.is_complex or prefix.dtype == torch.bool:
            raise TypeError(f"prefix: expected an integer dtype (torch.long) for {head!r}, got {prefix.dtype}")
    elif prefix.dtype != model.dtype:
        raise TypeError(f"prefix: expected dtype {model.dtype} (the model's) for {head!r}, got {prefix.dtype}")
    if prefix.device != model.device:
        raise ValueError(f"prefix: expected a tensor on {model.device} (the model's device), got {prefix.device}")
    if isinstance(head, DiscreteHead):
        if prefix.numel() and not head.element_support.check(prefix).all():
            raise ValueError(
                f"prefix: expected integers in [0, {head.num_classes - 1}] for {head!r}, "
                f"got values in [{prefix.min().item()}, {prefix.max().item()}]"
            )
    elif not torch.isfinite(prefix).all():
        raise ValueError("prefix: expected finite values, got NaN or inf")


def _chunks(
    model: AutoregressiveModel,
    state: IncrementalState,
    head: Head,
    num_samples: int,
    chunk_size: int,
    progress: bool,
) -> Iterator[torch.Tensor]:
    """The chunks ``(N, <= chunk_size)`` drawn from ``state`` with ``head``."""
    bar = tqdm(total=num_samples, desc=f"generating ({type(model).__name__})", unit="sample", disable=not progress)
    try:
        for start in range(0, num_samples, chunk_size):
            steps = min(chunk_size, num_samples - start)
            with torch.no_grad():  # not held across the yield: the caller's grad mode is its own
                chunk = ancestral_sample(state, head, steps)
            bar.update(steps)
            yield chunk.squeeze(-1)  # (N, steps, 1) -> (N, steps)
    finally:
        bar.close()


def stream_to_wav(
    model: AutoregressiveModel,
    path: str | Path,
    num_samples: int,
    sample_rate: int,
    *,
    num_classes: int | None = None,
    mu_law: bool = True,
    chunk_size: int = 16000,
    subtype: str = "PCM_16",
    **kwargs: object,
) -> Path:
    """Generate one sequence of levels and write it to a mono WAV file chunk by chunk.

    Levels are decoded with :func:`~pyro_autoregressive.audio.mu_law_decode`
    (``mu_law=True``) or :func:`~pyro_autoregressive.audio.linear_decode`; the file
    is appended to as the chunks arrive, so memory does not grow with ``num_samples``.
    Other keyword arguments go to :func:`generate_stream`; they must give one
    sequence. Everything is checked before the file is created.

    :param num_classes: the number of levels, if given equal to the head's (the
        levels of a model with ``K`` classes decoded as ``K'`` levels would be a
        different waveform). A continuous head is refused.
    """
    import soundfile

    from .audio import _check_file, linear_decode, mu_law_decode

    head = model.head if isinstance(model, AutoregressiveModel) else None
    if head is not None and not isinstance(head, DiscreteHead):
        raise TypeError(f"model: stream_to_wav writes levels; expected a discrete head, got {head!r}")
    if num_classes is not None:
        check_int("num_classes", num_classes, 2)
        if head is not None and num_classes != head.num_classes:
            raise ValueError(f"num_classes: expected {head.num_classes} (the levels of {head!r}), got {num_classes}")
    check_int("sample_rate", sample_rate, 1)
    decode = mu_law_decode if check_bool("mu_law", mu_law) else linear_decode
    path = _check_file(path, subtype)
    progress = check_bool("progress", kwargs.pop("progress", True))
    state, head = _start(model, num_samples, chunk_size, **kwargs)  # type: ignore[arg-type]
    if state.batch_size != 1:
        raise ValueError(
            f"num_sequences, context, prefix: stream_to_wav writes one sequence, got {state.batch_size} sequences"
        )
    assert isinstance(head, DiscreteHead), "checked above"
    levels = head.num_classes
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = _chunks(model, state, head, num_samples, chunk_size, progress)
    with soundfile.SoundFile(str(path), "w", samplerate=sample_rate, channels=1, subtype=subtype) as out:
        for chunk in chunks:
            out.write(decode(chunk[0], levels, torch.float64).cpu().numpy())
    return path
