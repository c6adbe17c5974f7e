"""The data of ``--data``."""

from __future__ import annotations

import torch

from ..datasets import load_digits_split
from ..model import AutoregressiveModel

__all__ = ["DATASETS", "open_splits"]

DATASETS = ("digits",)


def open_splits(name: str, model: AutoregressiveModel) -> dict[str, torch.Tensor]:
    """``{"train", "val", "test"}`` tensors of the data set ``name`` in the model's event shape."""
    if name not in DATASETS:
        raise ValueError(f"--data: expected one of {DATASETS}, got {name!r}")
    return load_digits_split(as_images=len(model.layout().positions) == 2)
