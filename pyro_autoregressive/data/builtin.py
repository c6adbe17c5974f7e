"""Built-in data sets shipped inside installed packages: ``digits``, ``photos``, ``pygame-sounds``, ``stdlib-text``."""

from __future__ import annotations

import importlib.util
import sysconfig
import wave
from pathlib import Path

import numpy as np
import torch

from ..checks import check_int
from .dataset import Dataset
from .split import Split
from .text import load_text_files
from .values import requantise
from .wav import load_wav_files

__all__ = [
    "BUILTINS",
    "DIGITS_LEVELS",
    "DIGITS_SPLIT",
    "STDLIB_TEXT_BYTES",
    "load_digits",
    "load_photos",
    "load_pygame_sounds",
    "load_stdlib_text",
    "pygame_sound_files",
]

#: grey levels of scikit-learn's 8x8 digits (0..16)
DIGITS_LEVELS = 17
#: Tomczak's split of the 1797 digits (*Deep Generative Modeling*): train, validation, test index ranges
DIGITS_SPLIT = ((0, 1000), (1000, 1350), (1350, 1797))
#: the bytes of ``stdlib-text`` when ``max_bytes`` is not given
STDLIB_TEXT_BYTES = 2_000_000
#: the patch size of ``photos`` when ``patch_size`` is not given
PHOTO_PATCH = 8


def _sklearn(name: str):
    try:
        import sklearn.datasets
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"the {name!r} data set needs scikit-learn: pip install 'pyro-autoregressive[data]'"
        ) from error
    return sklearn.datasets


def load_digits(*, levels: int | None, labels: bool, max_items: int | None) -> Dataset:
    """scikit-learn's 1797 8x8 digits, ``(N, 1, 8, 8)`` in 17 grey levels, the digit (0-9) as context.

    Loaded whole, it comes with Tomczak's split (train 0-999, validation 1000-1349, test
    1350-1796) as its fixed split; with ``max_items`` it is the first images and has none.
    ``levels`` (2..17) quantises the grey levels to ``floor(v * levels / 17)``.
    """
    digits = _sklearn("digits").load_digits()
    values = torch.as_tensor(digits.data, dtype=torch.long).reshape(-1, 1, 8, 8)[:max_items]  # (N, 1, 8, 8)
    values, levels = requantise(values, DIGITS_LEVELS, levels)
    context = torch.as_tensor(digits.target, dtype=torch.long)[:max_items] if labels else None
    fixed = None
    if len(values) == DIGITS_SPLIT[-1][1]:
        fixed = Split(*(torch.arange(*r) for r in DIGITS_SPLIT), seed=None, method="fixed", size=len(values))
    options = {"levels": levels, "labels": labels}
    return Dataset(
        values, "image", levels, context, 10 if labels else 0, description=options, info={}, fixed_split=fixed
    )


def load_photos(*, patch_size: int | None, levels: int | None, max_items: int | None) -> Dataset:
    """Non-overlapping ``patch_size`` RGB patches (8: 8480 of them, 16: 2080) of scikit-learn's two sample photos.

    ``china.jpg`` then ``flower.jpg`` (427 x 640, 8-bit), each in raster order of its patches;
    the last rows and columns that do not fill a patch are dropped. 256 levels unless ``levels``
    (2..256) quantises them to ``floor(v * levels / 256)``.
    """
    size = PHOTO_PATCH if patch_size is None else check_int("patch_size", patch_size, 1, 427)
    patches = []
    for image in _sklearn("photos").load_sample_images().images:  # (427, 640, 3) uint8
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).long()  # (3, H, W)
        rows, cols = x.shape[1] // size, x.shape[2] // size
        x = x[:, : rows * size, : cols * size].unfold(1, size, size).unfold(2, size, size)  # (3, r, c, s, s)
        patches.append(x.permute(1, 2, 0, 3, 4).reshape(-1, 3, size, size))  # (r * c, 3, s, s)
    values, levels = requantise(torch.cat(patches)[:max_items], 256, levels)
    options = {"patch_size": size, "levels": levels}
    return Dataset(values, "image", levels, description=options, info={"patches_per_photo": len(patches[0])})


def pygame_sound_files() -> tuple[list[Path], list[str]]:
    """The mono 8-bit PCM WAVs in pygame's ``examples/data`` (found without importing pygame), and those left out."""
    spec = importlib.util.find_spec("pygame")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the 'pygame-sounds' data set needs pygame: pip install 'pyro-autoregressive[data]'")
    folder = Path(next(iter(spec.submodule_search_locations))) / "examples" / "data"
    kept, skipped = [], []
    for path in sorted(folder.glob("*.wav")):
        try:
            with wave.open(str(path), "rb") as file:
                pcm8 = file.getsampwidth() == 1 and file.getnchannels() == 1
        except (wave.Error, EOFError):
            pcm8 = False  # secosmic_lo.wav is MS ADPCM, which wave does not read
        (kept if pcm8 else skipped).append(path if pcm8 else path.name)
    if not kept:
        raise ValueError(f"source: pygame's examples folder '{folder}' holds no 8-bit PCM WAV files")
    return kept, skipped


def load_pygame_sounds(**options) -> Dataset:
    """pygame's bundled 8-bit 11025 Hz sounds; ``options`` as for :func:`~pyro_autoregressive.data.wav.load_wav_files`.

    ``audio_encoding="linear"`` with 256 levels gives the files' bytes exactly.
    """
    files, skipped = pygame_sound_files()
    dataset = load_wav_files(files, None, [], **options)
    dataset.info["skipped_files"] = skipped
    return dataset


def load_stdlib_text(*, max_bytes: int | None, **options) -> Dataset:
    """The bytes of the top-level ``.py`` modules of CPython's standard library, in name order.

    The first ``max_bytes`` (2,000,000) bytes of them; ``options`` as for
    :func:`~pyro_autoregressive.data.text.load_text_files`. The text depends on the running
    Python's version (the data set's ``sha256`` tells two apart).
    """
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    max_bytes = STDLIB_TEXT_BYTES if max_bytes is None else max_bytes
    return load_text_files(files, None, [], max_bytes=max_bytes, **options)


#: name -> loader
BUILTINS = {
    "digits": load_digits,
    "photos": load_photos,
    "pygame-sounds": load_pygame_sounds,
    "stdlib-text": load_stdlib_text,
}
