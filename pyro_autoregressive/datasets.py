"""Small real data sets that ship inside packages (no download)."""

from __future__ import annotations

import torch

__all__ = ["DIGITS_LEVELS", "load_digits_split"]

#: grey levels of scikit-learn's 8x8 digits (0..16)
DIGITS_LEVELS = 17


def load_digits_split(as_images: bool = False) -> dict[str, torch.Tensor]:
    """scikit-learn's 8x8 digits with the split of Tomczak's *Deep Generative Modeling* code.

    Train on images 0-999, validate on 1000-1349, test on 1350-1796. Values are
    the 17 grey levels ``0..16`` as ``torch.long``.

    :param as_images: shape ``(N, 1, 8, 8)`` instead of ``(N, 64)``.
    :returns: ``{"train", "val", "test"}`` tensors.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "load_digits_split needs scikit-learn: pip install 'pyro-autoregressive[examples]'"
        ) from error
    data = torch.as_tensor(load_digits().data, dtype=torch.long)  # (1797, 64)
    if as_images:
        data = data.reshape(-1, 1, 8, 8)
    return {"train": data[:1000], "val": data[1000:1350], "test": data[1350:]}
