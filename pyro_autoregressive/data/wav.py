"""8- or 16-bit PCM WAV files (standard ``wave`` module), quantised by mu-law or linearly, resampled only when asked."""

from __future__ import annotations

import math
import warnings
import wave
from pathlib import Path

import numpy as np
import torch

from ..audio import linear_encode, mu_law_encode
from ..checks import check_int
from .dataset import Dataset
from .folders import folder_files
from .values import cut_windows

__all__ = ["AUDIO_ENCODINGS", "DEFAULT_AUDIO_LENGTH", "load_wav", "load_wav_files", "read_pcm", "resample"]

#: how samples in ``[-1, 1)`` become levels: :func:`~pyro_autoregressive.audio.mu_law_encode` or
#: :func:`~pyro_autoregressive.audio.linear_encode`
AUDIO_ENCODINGS = {"mu-law": mu_law_encode, "linear": linear_encode}
#: the window length of audio when ``length`` is not given
DEFAULT_AUDIO_LENGTH = 1024
#: the levels of audio when ``levels`` is not given
DEFAULT_AUDIO_LEVELS = 256


def read_pcm(path: Path) -> tuple[np.ndarray, int]:
    """A mono 8- or 16-bit PCM WAV file as float64 samples in ``[-1, 1)`` ``(T,)``, and its sample rate.

    8-bit samples ``b`` (unsigned) are ``(b - 128) / 128``, 16-bit ``s`` (signed) are ``s / 32768``:
    the convention of :func:`~pyro_autoregressive.audio.linear_decode`, so linear quantisation to
    256 (8-bit) or 65536 (16-bit) levels gives back the file's samples exactly.
    """
    try:
        with wave.open(str(path), "rb") as file:
            channels, width, rate = file.getnchannels(), file.getsampwidth(), file.getframerate()
            data = file.readframes(file.getnframes())
    except (wave.Error, EOFError, OSError) as error:
        raise ValueError(
            f"source: cannot read '{path}' as a PCM WAV file ({error}); expected 8- or 16-bit PCM"
        ) from None
    if width not in (1, 2):
        raise ValueError(f"source: '{path}' has {8 * width}-bit samples; expected 8- or 16-bit PCM")
    if channels != 1:
        raise ValueError(f"source: '{path}' has {channels} channels; expected mono (mix it down first)")
    if width == 1:
        return (np.frombuffer(data, np.uint8).astype(np.float64) - 128.0) / 128.0, rate
    return np.frombuffer(data, "<i2").astype(np.float64) / 32768.0, rate


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``samples`` at ``rate`` Hz resampled to ``target`` Hz by polyphase filtering (``scipy.signal.resample_poly``).

    Its low-pass (Kaiser) filter removes what the new rate cannot hold, instead of aliasing it.
    The filter can overshoot: samples beyond ``[-1, 1]`` afterwards are clipped with a warning.
    """
    from scipy.signal import resample_poly

    if rate == target:
        return samples
    g = math.gcd(rate, target)
    return resample_poly(samples, target // g, rate // g)


def _encode(samples: np.ndarray, encoding: str, levels: int) -> torch.Tensor:
    return AUDIO_ENCODINGS[encoding](torch.from_numpy(samples), levels)


def load_wav_files(
    files: list[Path],
    file_labels: list[int] | None,
    classes: list[str],
    *,
    levels: int | None,
    audio_encoding: str,
    sample_rate: int | None,
    length: int | None,
    max_items: int | None,
) -> Dataset:
    """WAV ``files`` quantised to ``levels`` (256) by ``audio_encoding``, cut into windows of ``length`` (1024).

    Every file must have the same sample rate unless ``sample_rate`` is given, which resamples
    those that differ (:func:`resample`). A file's last ``T % length`` samples are dropped.
    """
    if audio_encoding not in AUDIO_ENCODINGS:
        raise ValueError(f"audio_encoding: expected one of {', '.join(AUDIO_ENCODINGS)}, got {audio_encoding!r}")
    levels = DEFAULT_AUDIO_LEVELS if levels is None else check_int("levels", levels, 2)
    length = DEFAULT_AUDIO_LENGTH if length is None else check_int("length", length, 1)
    target = None if sample_rate is None else check_int("sample_rate", sample_rate, 1)
    sequences, rates, clipped, windows = [], {}, 0, 0
    for file in files:
        samples, rate = read_pcm(file)
        rates.setdefault(rate, file)
        if target is not None and rate != target:
            samples = resample(samples, rate, target)
            clipped += int((np.abs(samples) > 1.0).sum())
            samples = samples.clip(-1.0, 1.0)
        sequences.append(_encode(samples, audio_encoding, levels))
        windows += len(samples) // length
        if max_items is not None and windows >= max_items:
            break
    if target is None and len(rates) > 1:
        found = ", ".join(f"{rate} Hz ('{file.name}')" for rate, file in sorted(rates.items()))
        raise ValueError(f"sample_rate: the files have different rates ({found}); give sample_rate= to resample them")
    if clipped:
        warnings.warn(f"resampling to {target} Hz overshot [-1, 1]: {clipped} samples clipped", stacklevel=3)
    labels = file_labels[: len(sequences)] if file_labels is not None else None
    values, context, dropped = cut_windows(sequences, length, labels)
    if len(values) == 0:
        longest = max(len(x) for x in sequences)
        raise ValueError(f"length: every file is shorter than length={length} (the longest has {longest} samples)")
    rate = target if target is not None else next(iter(rates))
    options = {
        "levels": levels,
        "audio_encoding": audio_encoding,
        "sample_rate": rate,
        "length": length,
        "labels": labels is not None,
    }
    info = {"files": len(sequences), "dropped_steps": dropped, "clipped_samples": clipped, "classes": classes}
    context = context[:max_items] if context is not None else None
    return Dataset(values[:max_items], "audio", levels, context, len(classes), rate, description=options, info=info)


def load_wav(path: Path, *, labels: bool, **options) -> Dataset:
    """One WAV file or a folder of them (sub-folders as classes); ``options`` as for :func:`load_wav_files`."""
    files, file_labels, classes = folder_files(path, (".wav",)) if path.is_dir() else ([path], None, [])
    if not labels:
        file_labels, classes = None, []
    return load_wav_files(files, file_labels, classes, **options)
