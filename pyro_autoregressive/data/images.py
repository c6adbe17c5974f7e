"""8-bit PNG images (grey or RGB) from a folder, with class labels from its sub-folders (via Pillow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .dataset import Dataset
from .folders import folder_files
from .values import requantise

__all__ = ["PNG_LEVELS", "load_png", "read_png"]

#: the levels of an 8-bit image
PNG_LEVELS = 256
#: Pillow modes read, and their channel counts: 8-bit grey and 8-bit RGB
MODES = {"L": 1, "RGB": 3}


def read_png(path: Path) -> np.ndarray:
    """An 8-bit grey or RGB PNG as a ``(C, H, W)`` ``uint8`` array (``C`` = 1 or 3).

    Other modes (palette, alpha, 1-bit, 16-bit) are refused, not converted: what a conversion
    would do to the values (drop alpha, map a palette) is the user's choice to make.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("reading PNG images needs Pillow: pip install 'pyro-autoregressive[data]'") from error
    try:
        with Image.open(path) as image:
            image.load()
            file_format, mode, array = image.format, image.mode, np.asarray(image)
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        raise ValueError(f"source: cannot read '{path}' as a PNG image ({error})") from None
    if file_format != "PNG":
        raise ValueError(f"source: '{path}' is a {file_format} image, not a PNG")
    if mode not in MODES:
        raise ValueError(
            f"source: '{path}' has Pillow mode {mode!r}; expected 8-bit grey ('L') or RGB ('RGB') "
            "(palette, alpha, 1-bit and 16-bit images are refused rather than converted)"
        )
    return array[None] if mode == "L" else array.transpose(2, 0, 1)  # (C, H, W)


def load_png(path: Path, *, labels: bool, levels: int | None, max_items: int | None) -> Dataset:
    """One PNG, or a folder of them (sub-folders as classes): every image of one mode and size.

    The 256 levels of 8-bit pixels are kept unless ``levels`` is given, which quantises them to
    ``floor(v * levels / 256)`` (:func:`~pyro_autoregressive.data.values.requantise`).
    """
    if path.is_dir():
        files, file_labels, classes = folder_files(path, (".png",))
    else:
        files, file_labels, classes = [path], None, []
    if not labels:
        file_labels, classes = None, []
    files = files[:max_items]
    images = [read_png(files[0])]
    for file in files[1:]:
        images.append(read_png(file))
        if images[-1].shape != images[0].shape:
            raise ValueError(
                f"source: images differ in channels or size: '{files[0]}' is (C, H, W) = {images[0].shape}, "
                f"'{file}' is {images[-1].shape}; every image of a data set must match"
            )
    values, levels = requantise(torch.from_numpy(np.stack(images)).long(), PNG_LEVELS, levels)  # (N, C, H, W)
    context = torch.tensor(file_labels[: len(files)], dtype=torch.long) if file_labels is not None else None
    info = {"files": len(files), "classes": classes}
    options = {"levels": levels, "labels": file_labels is not None}
    return Dataset(values, "image", levels, context, len(classes), description=options, info=info)
