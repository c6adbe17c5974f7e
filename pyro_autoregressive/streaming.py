"""Streaming generation: long sequences in chunks, with memory bounded by the model's state.

The driver reuses the library's one sampling loop
(:func:`~pyro_autoregressive.sampling.ancestral_sample`) chunk after chunk on a
single incremental state made for the whole length. A state that keeps no
committed outputs (:class:`~pyro_autoregressive.models.wavenet.WaveNetState`:
only per-layer queues) makes the memory independent of the length; the chunks
are handed to the caller (or written to a file) and forgotten.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .layout import SequenceLayout
from .model import AutoregressiveModel
from .sampling import ancestral_sample

__all__ = ["generate_stream", "stream_to_wav"]


def generate_stream(
    model: AutoregressiveModel,
    num_samples: int,
    *,
    chunk_size: int = 16000,
    context: torch.Tensor | None = None,
    local_context: torch.Tensor | None = None,
    prefix: torch.Tensor | None = None,
    num_sequences: int = 1,
    temperature: float = 1.0,
    progress: bool = True,
) -> Iterator[torch.Tensor]:
    r"""Draw ``num_samples`` steps of a sequence model, yielding chunks ``(N, <= chunk_size)``.

    Exact ancestral sampling, the same draws as ``model.condition(...).sample()``
    of the whole sequence under the same seed (without a prefix), but the
    samples are not kept: memory is the model's state plus one chunk.

    .. math:: x_t \sim p(x_t \mid x_{<t}, c), \quad t = n, \dots, n + \text{num\_samples} - 1

    :param model: a sequence model whose incremental state keeps bounded memory
        (:class:`~pyro_autoregressive.WaveNet`); a model without one is refused.
    :param num_samples: how many new steps to draw.
    :param chunk_size: steps per yielded chunk.
    :param context: global context ``(N, context_size)``.
    :param local_context: ``(N, channels, frames)`` covering the prefix and the new
        steps (for WaveNet ``frames = ceil((n + num_samples) / hop_length)``).
    :param prefix: ``(N, n)`` given steps to continue (audio continuation); they are
        committed in one parallel pass and not yielded.
    :param num_sequences: ``N`` when neither a context nor a prefix gives it.
    :param progress: show a ``tqdm`` progress bar.

    Example::

        >>> import torch, pyro_autoregressive as par
        >>> net = par.WaveNet(par.heads.Categorical(256), residual_channels=4, skip_channels=4, num_layers=3)
        >>> audio = torch.cat(list(generate_stream(net, 50, chunk_size=20, progress=False)), dim=-1)
        >>> audio.shape
        torch.Size([1, 50])
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples: expected an int >= 1, got {num_samples!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size: expected an int >= 1, got {chunk_size!r}")
    given = 0 if prefix is None else prefix.shape[-1]
    try:
        layout = model.layout(given + num_samples)
    except TypeError as error:
        raise TypeError(
            f"model: expected a sequence model that takes a length, got {type(model).__name__} ({error})"
        ) from None
    if not isinstance(layout, SequenceLayout):
        raise TypeError(f"model: expected a sequence model (SequenceLayout), got {type(model).__name__}")
    # validate the contexts as the distribution does (shapes, dtype, device)
    dist = model.condition(context, local_context=local_context, length=given + num_samples)
    if len(dist.batch_shape) > 1:
        raise ValueError(
            f"context, local_context: expected one batch dimension (N, ...), got {tuple(dist.batch_shape)}"
        )
    batch = [num_sequences, *dist.batch_shape, *(() if prefix is None else prefix.shape[:1])]
    size = max(batch)
    if prefix is not None and (prefix.dim() != 2 or prefix.shape[0] not in (1, size)):
        raise ValueError(f"prefix: expected shape (N, n) with N in (1, {size}), got {tuple(prefix.shape)}")
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
    bar = tqdm(total=num_samples, desc=f"generating ({type(model).__name__})", unit="sample", disable=not progress)
    try:
        for start in range(0, num_samples, chunk_size):
            steps = min(chunk_size, num_samples - start)
            with torch.no_grad():  # not held across the yield: the caller's grad mode is its own
                chunk = ancestral_sample(state, model.head, steps, temperature=temperature)
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
    Other keyword arguments go to :func:`generate_stream`.
    """
    import soundfile

    from .audio import linear_decode, mu_law_decode

    levels = num_classes or model.head.num_classes
    if levels is None:
        raise ValueError(f"num_classes: the head {model.head!r} is continuous; give the number of levels")
    decode = mu_law_decode if mu_law else linear_decode
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with soundfile.SoundFile(str(path), "w", samplerate=sample_rate, channels=1, subtype=subtype) as out:
        for chunk in generate_stream(model, num_samples, chunk_size=chunk_size, **kwargs):  # type: ignore[arg-type]
            out.write(decode(chunk[0], levels, torch.float64).clamp(-1.0, 1.0).cpu().numpy())
    return path
