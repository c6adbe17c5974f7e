"""Pictures: grids of image samples and training curves as PNG files."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .atomic import write_file_atomically
from .training import EpochRecord

__all__ = ["save_completion_grid", "save_image_grid", "save_loss_curves"]


def save_image_grid(
    images: torch.Tensor, path: str | Path, num_levels: int, ncols: int | None = None, title: str | None = None
) -> Path:
    """Write ``images (N, C, H, W)`` of integer levels ``0..num_levels-1`` as a PNG grid.

    One channel is drawn in grey, three as RGB.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = (images.detach().cpu().double() / max(num_levels - 1, 1)).clamp(0, 1).numpy()
    n, channels = images.shape[:2]
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.8, nrows * 0.8 + (0.4 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            if channels == 1:
                ax.imshow(images[i, 0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(images[i].transpose(1, 2, 0))
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def save_completion_grid(
    given: torch.Tensor, completed: torch.Tensor, path: str | Path, num_levels: int, title: str | None = None
) -> Path:
    """Write each image ``given (N, C, H, W)`` followed by its completions ``completed (S, N, C, H, W)``, a row each.

    For the output of ``d.condition_on_prefix(given, k).sample((S,))``: row ``n`` shows
    image ``n`` and then its ``S`` completions.
    """
    if completed.shape[1:] != given.shape:
        raise ValueError(
            f"completed: expected shape (S, {', '.join(map(str, given.shape))}), got {tuple(completed.shape)}"
        )
    rows = torch.cat([given[None], completed]).transpose(0, 1).flatten(0, 1)  # (N * (S + 1), C, H, W)
    return save_image_grid(rows, path, num_levels, ncols=len(completed) + 1, title=title)


def save_loss_curves(
    history: Sequence[EpochRecord], path: str | Path, best_epoch: int | None = None, title: str | None = None
) -> Path:
    """Write the training and validation NLL per epoch (bits per dimension) of ``fit``'s history as a PNG plot.

    Epochs are counted from 1; ``best_epoch`` (counted from 0, as in the history) is marked.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [record.epoch + 1 for record in history]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(epochs, [record.train_bits_per_dim for record in history], label="train")
    validated = [
        (e, r.val_bits_per_dim) for e, r in zip(epochs, history, strict=True) if r.val_bits_per_dim is not None
    ]
    if validated:
        ax.plot(*zip(*validated, strict=True), label="validation")
    if best_epoch is not None:
        ax.axvline(best_epoch + 1, color="grey", linestyle=":", label=f"kept (epoch {best_epoch + 1})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("NLL (bits per dimension)")
    ax.legend()
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` at ``path`` (its folder made; the format from the suffix, PNG without one), close it, and return
    the path. The file is replaced atomically (:func:`~pyro_autoregressive.atomic.write_file_atomically`)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = io.BytesIO()
    fig.savefig(image, format=path.suffix[1:] or None, dpi=100, bbox_inches="tight")
    plt.close(fig)
    write_file_atomically(path, image.getvalue())
    return path
