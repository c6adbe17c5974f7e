"""Audio helpers: mu-law and linear quantisation to levels, and WAV files (via ``soundfile``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

__all__ = ["linear_decode", "linear_encode", "mu_law_decode", "mu_law_encode", "read_wav", "write_wav"]


def _check_levels(num_classes: int) -> float:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes: expected an int >= 2, got {num_classes!r}")
    return float(num_classes - 1)


def mu_law_encode(audio: torch.Tensor, num_classes: int = 256) -> torch.Tensor:
    r"""Compand ``audio`` in ``[-1, 1]`` and quantise it to levels ``0..K-1`` (ITU-T G.711, WaveNet).

    .. math::
        f(x) = \operatorname{sign}(x) \frac{\ln(1 + \mu |x|)}{\ln(1 + \mu)}, \qquad
        q = \operatorname{round}\Big(\frac{f(x) + 1}{2} \mu\Big), \qquad \mu = K - 1

    Values outside ``[-1, 1]`` are clipped. :func:`mu_law_decode` is its exact
    inverse on the levels: ``mu_law_encode(mu_law_decode(q)) == q`` for every ``q``.

    :param audio: floating-point samples, any shape.
    :param num_classes: ``K`` (256 for 8-bit mu-law).
    :returns: ``torch.long`` levels of the same shape.

    Example::

        >>> import torch
        >>> mu_law_encode(torch.tensor([-1.0, 0.0, 1.0]))
        tensor([  0, 128, 255])
    """
    mu = _check_levels(num_classes)
    if not audio.dtype.is_floating_point:
        raise TypeError(f"audio: expected a floating-point tensor in [-1, 1], got {audio.dtype}")
    x = audio.clamp(-1.0, 1.0)
    companded = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return torch.round((companded + 1.0) * (mu / 2.0)).long()


def mu_law_decode(levels: torch.Tensor, num_classes: int = 256, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    r"""Levels ``0..K-1`` back to samples in ``[-1, 1]``: the inverse of :func:`mu_law_encode`.

    .. math:: f = \frac{2 q}{\mu} - 1, \qquad x = \operatorname{sign}(f) \frac{(1 + \mu)^{|f|} - 1}{\mu}
    """
    mu = _check_levels(num_classes)
    if levels.dtype.is_floating_point or levels.dtype == torch.bool:
        raise TypeError(f"levels: expected an integer tensor, got {levels.dtype}")
    if levels.numel() and (levels.min() < 0 or levels.max() > mu):
        raise ValueError(f"levels: expected integers in [0, {int(mu)}], got [{levels.min()}, {levels.max()}]")
    f = levels.to(dtype) * (2.0 / mu) - 1.0
    return torch.sign(f) * (torch.pow(1.0 + mu, f.abs()) - 1.0) / mu  # exactly -1 and 1 at the ends


def linear_encode(audio: torch.Tensor, num_classes: int = 256) -> torch.Tensor:
    r"""Linear PCM levels: ``q = round(K/2 (x + 1))`` clipped to ``0..K-1``.

    This is the convention of WAV files: ``x = (q - K/2) / (K/2)``, so 8-bit
    unsigned PCM bytes and 16-bit signed samples + 32768 are exactly the levels
    (``soundfile`` reads them as these ``x``). :func:`linear_decode` is the exact inverse.
    """
    _check_levels(num_classes)
    if not audio.dtype.is_floating_point:
        raise TypeError(f"audio: expected a floating-point tensor in [-1, 1], got {audio.dtype}")
    half = num_classes / 2.0
    return torch.round((audio + 1.0) * half).clamp(0, num_classes - 1).long()


def linear_decode(levels: torch.Tensor, num_classes: int = 256, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Levels ``0..K-1`` to samples ``(q - K/2) / (K/2)`` in ``[-1, 1)``; inverse of :func:`linear_encode`."""
    _check_levels(num_classes)
    half = num_classes / 2.0
    return (levels.to(dtype) - half) / half


def read_wav(path: str | Path, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, int]:
    """Read a sound file as samples in ``[-1, 1)``: ``(channels, frames)`` and the sample rate.

    Any format ``soundfile`` (libsndfile) reads: WAV (8-bit unsigned, 16/24/32-bit,
    float, ADPCM), FLAC, OGG. Resampling is left to the user.

    Example::

        >>> audio, rate = read_wav("speech.wav")  # doctest: +SKIP
    """
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)  # (frames, channels)
    return torch.from_numpy(np.ascontiguousarray(data.T)).to(dtype), int(rate)


def write_wav(path: str | Path, audio: torch.Tensor, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write samples in ``[-1, 1]``, ``(frames,)`` or ``(channels, frames)``, as a WAV file.

    :param subtype: a ``soundfile`` subtype: ``"PCM_U8"``, ``"PCM_16"``, ``"FLOAT"``, ...
    """
    import soundfile

    if audio.dim() not in (1, 2):
        raise ValueError(f"audio: expected shape (frames,) or (channels, frames), got {tuple(audio.shape)}")
    if not isinstance(sample_rate, int) or sample_rate < 1:
        raise ValueError(f"sample_rate: expected an int >= 1, got {sample_rate!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = audio.detach().cpu().double().clamp(-1.0, 1.0).numpy()
    soundfile.write(str(path), data.T if data.ndim == 2 else data, sample_rate, subtype=subtype)
    return path
