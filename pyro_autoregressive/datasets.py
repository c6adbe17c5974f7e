"""The digits with Tomczak's split as plain tensors (kept for the examples; see :mod:`pyro_autoregressive.data`)."""

from __future__ import annotations

import torch

from .data import DIGITS_LEVELS, load_data

__all__ = ["DIGITS_LEVELS", "load_digits_split"]


def load_digits_split(as_images: bool = False) -> dict[str, torch.Tensor]:
    """scikit-learn's 8x8 digits with the split of Tomczak's *Deep Generative Modeling* code.

    Train on images 0-999, validate on 1000-1349, test on 1350-1796. Values are
    the 17 grey levels ``0..16`` as ``torch.long``. The same data and split as
    ``load_data("digits")`` and its ``split()``.

    :param as_images: shape ``(N, 1, 8, 8)`` instead of ``(N, 64)``.
    :returns: ``{"train", "val", "test"}`` tensors.
    """
    data = load_data("digits", labels=False)
    values = data.values if as_images else data.values.flatten(1)  # (N, 1, 8, 8) or (N, 64)
    return data.split().apply(values)
