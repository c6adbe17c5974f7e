"""Audio helpers: mu-law and linear quantisation to levels, and WAV files (via ``soundfile``)."""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np
import torch

__all__ = ["linear_decode", "linear_encode", "mu_law_decode", "mu_law_encode", "read_wav", "write_wav"]


def _check_levels(num_classes: int) -> float:
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(f"num_classes: expected an int >= 2, got {num_classes!r}")
    return float(int(num_classes) - 1)


def _check_audio(audio: torch.Tensor, name: str = "audio") -> None:
    """Samples: a floating-point tensor of finite values (NaN would become INT64_MIN, or a full-scale click)."""
    if not isinstance(audio, torch.Tensor) or not audio.dtype.is_floating_point:
        received = audio.dtype if isinstance(audio, torch.Tensor) else type(audio).__name__
        raise TypeError(f"{name}: expected a floating-point tensor of samples in [-1, 1], got {received}")
    if not torch.isfinite(audio).all():
        bad = audio[~torch.isfinite(audio)]
        raise ValueError(
            f"{name}: expected finite samples in [-1, 1], got {bad.numel()} non-finite (first: {bad[0].item()})"
        )


def _check_level_tensor(levels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> None:
    """Levels: an integer tensor in ``[0, K-1]``, decoded to a floating ``dtype``."""
    if not isinstance(levels, torch.Tensor) or levels.dtype.is_floating_point or levels.dtype.is_complex:
        received = levels.dtype if isinstance(levels, torch.Tensor) else type(levels).__name__
        raise TypeError(f"levels: expected an integer tensor, got {received}")
    if levels.dtype == torch.bool:
        raise TypeError(f"levels: expected an integer tensor, got {levels.dtype}")
    # compared as Python ints: in the tensor's dtype the bound wraps (int8 levels against 299 meet 43)
    if levels.numel() and (int(levels.min()) < 0 or int(levels.max()) > num_classes - 1):
        raise ValueError(
            f"levels: expected integers in [0, {num_classes - 1}], got [{int(levels.min())}, {int(levels.max())}]"
        )
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a floating-point torch.dtype, got {dtype!r}")


def _check_file(path: str | Path, subtype: object) -> Path:
    """A sound file's ``path`` (its suffix names the format: ``.wav``) and a ``soundfile`` ``subtype`` of it."""
    import soundfile

    path = Path(path)
    file_format = path.suffix[1:].upper()
    if file_format not in soundfile.available_formats():
        raise ValueError(f"path: expected a file name ending in .wav (or another soundfile format), got {str(path)!r}")
    if not isinstance(subtype, str):
        raise TypeError(f"subtype: expected a soundfile subtype name such as 'PCM_16', got {type(subtype).__name__}")
    if not soundfile.check_format(file_format, subtype):
        subtypes = ", ".join(sorted(soundfile.available_subtypes(file_format)))
        raise ValueError(f"subtype: expected one of {subtypes} for a {file_format} file, got {subtype!r}")
    return path


def _working_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 at least: levels up to ``2 ** 24`` and the companding stay exact, as in the heads."""
    return torch.promote_types(dtype, torch.float32)


def mu_law_encode(audio: torch.Tensor, num_classes: int = 256) -> torch.Tensor:
    r"""Compand ``audio`` in ``[-1, 1]`` and quantise it to levels ``0..K-1`` (ITU-T G.711, WaveNet).

    .. math::
        f(x) = \operatorname{sign}(x) \frac{\ln(1 + \mu |x|)}{\ln(1 + \mu)}, \qquad
        q = \operatorname{round}\Big(\frac{f(x) + 1}{2} \mu\Big), \qquad \mu = K - 1

    Values outside ``[-1, 1]`` are clipped; NaN or infinite samples are a ``ValueError``.
    :func:`mu_law_decode` is its exact inverse on the levels: ``mu_law_encode(mu_law_decode(q)) == q``
    for every ``q``.

    :param audio: floating-point samples, any shape.
    :param num_classes: ``K`` (256 for 8-bit mu-law).
    :returns: ``torch.long`` levels of the same shape.

    Example::

        >>> import torch
        >>> mu_law_encode(torch.tensor([-1.0, 0.0, 1.0]))
        tensor([  0, 128, 255])
    """
    mu = _check_levels(num_classes)
    _check_audio(audio)
    x = audio.to(_working_dtype(audio.dtype)).clamp(-1.0, 1.0)  # float16 would overflow at mu * x > 65504
    companded = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return torch.round((companded + 1.0) * (mu / 2.0)).clamp(0, mu).long()


def mu_law_decode(levels: torch.Tensor, num_classes: int = 256, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    r"""Levels ``0..K-1`` back to samples in ``[-1, 1]``: the inverse of :func:`mu_law_encode`.

    .. math:: f = \frac{2 q}{\mu} - 1, \qquad x = \operatorname{sign}(f) \frac{(1 + \mu)^{|f|} - 1}{\mu}
    """
    mu = _check_levels(num_classes)
    _check_level_tensor(levels, num_classes, dtype)
    f = levels.to(_working_dtype(dtype)) * (2.0 / mu) - 1.0
    x = torch.sign(f) * (torch.pow(1.0 + mu, f.abs()) - 1.0) / mu  # exactly -1 and 1 at the ends
    return x.to(dtype)


def linear_encode(audio: torch.Tensor, num_classes: int = 256) -> torch.Tensor:
    r"""Linear PCM levels: ``q = round(K/2 (x + 1))`` clipped to ``0..K-1``.

    This is the convention of WAV files: ``x = (q - K/2) / (K/2)``, so 8-bit
    unsigned PCM bytes and 16-bit signed samples + 32768 are exactly the levels
    (``soundfile`` reads them as these ``x``). :func:`linear_decode` is the exact inverse.
    NaN or infinite samples are a ``ValueError``.
    """
    _check_levels(num_classes)
    _check_audio(audio)
    half = num_classes / 2.0
    x = audio.to(_working_dtype(audio.dtype))  # float16 would overflow at K / 2 > 65504
    return torch.round((x + 1.0) * half).clamp(0, num_classes - 1).long()


def linear_decode(levels: torch.Tensor, num_classes: int = 256, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Levels ``0..K-1`` to samples ``(q - K/2) / (K/2)`` in ``[-1, 1)``; inverse of :func:`linear_encode`.

    :param levels: an integer tensor of levels in ``[0, K-1]`` (anything else is an error).
    """
    _check_levels(num_classes)
    _check_level_tensor(levels, num_classes, dtype)
    half = num_classes / 2.0
    return ((levels.to(_working_dtype(dtype)) - half) / half).to(dtype)


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

    Samples are floating point and finite (integer levels are refused: decode them
    first with :func:`mu_law_decode` or :func:`linear_decode`); values beyond
    ``[-1, 1]`` are clipped.

    :param subtype: a ``soundfile`` subtype: ``"PCM_U8"``, ``"PCM_16"``, ``"FLOAT"``, ...
    """
    import soundfile

    _check_audio(audio)
    if audio.dim() not in (1, 2) or (audio.dim() == 2 and audio.shape[0] == 0):
        raise ValueError(
            f"audio: expected shape (frames,) or (channels, frames) with channels >= 1, got {tuple(audio.shape)}"
        )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral) or sample_rate < 1:
        raise ValueError(f"sample_rate: expected an int >= 1, got {sample_rate!r}")
    sample_rate = int(sample_rate)
    path = _check_file(path, subtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = audio.detach().cpu().double().clamp(-1.0, 1.0).numpy()
    soundfile.write(str(path), data.T if data.ndim == 2 else data, sample_rate, subtype=subtype)
    return path
