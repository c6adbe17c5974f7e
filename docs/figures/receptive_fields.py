"""Draw the receptive field of every model family, measured by autograd: ``docs/figures/receptive_fields.png``.

For one pixel (one step of a sequence), the gradient of its head parameters with respect
to the network's input features says exactly which earlier values they read. Small random
networks, the layer counts written in each panel's title; the pages of the families show
the figure. Run from the repository root: ``python docs/figures/receptive_fields.py``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap

import pyro_autoregressive as par

SIZE, TARGET = 9, (5, 4)  # a 9x9 image; the pixel whose parameters are differentiated
# 0: a later pixel; 1: an earlier pixel the parameters do not read; 2: one they read; 3: the pixel itself
COLOURS = ListedColormap(["#f4f4f4", "#f6c98f", "#2f6db3", "#d62728"])


def dependence(model: par.AutoregressiveModel, value: torch.Tensor, step: int) -> np.ndarray:
    """Which positions of ``value`` the head parameters of ``step`` depend on: ``(*positions,)`` bools."""
    features = model.embed(value).detach().requires_grad_()  # (1, *event_shape, F)
    params = model.network(features, None, None)  # (1, S, P)
    params[0, step].abs().sum().backward()
    grad = features.grad.abs()[0]  # (*event_shape, F)
    if grad.dim() == 4:  # images: (C, H, W, F)
        return (grad.sum(dim=(0, 3)) > 0).numpy()
    return (grad.sum(dim=-1) > 0).numpy()  # sequences and MADE: (T, F)


def image_panels() -> dict[str, np.ndarray]:
    torch.manual_seed(0)
    shape, head = (1, SIZE, SIZE), par.heads.Categorical(4)
    models = {
        "MADE (2 hidden layers)": par.MADE(SIZE * SIZE, head, hidden_sizes=(256, 256)),
        "PixelCNN (3x3 kernels, 3 layers)": par.PixelCNN(
            shape, head, hidden_channels=8, num_layers=2, first_kernel_size=3
        ),
        "Gated PixelCNN (3 layers)": par.GatedPixelCNN(
            shape, head, hidden_channels=8, num_layers=3, kernel_size=3, first_kernel_size=3
        ),
        "PixelCNN++ (1 level, 1 block)": par.PixelCNNPlusPlus(
            shape, num_components=1, num_classes=4, hidden_channels=8, num_resnet=1, num_hierarchies=1
        ),
        "Row LSTM (3x3 first layer, 1 layer)": par.RowLSTM(
            shape, head, hidden_channels=8, num_layers=1, first_kernel_size=3
        ),
        "Diagonal BiLSTM (1 layer)": par.DiagonalBiLSTM(
            shape, head, hidden_channels=8, num_layers=1, first_kernel_size=3
        ),
        "Transformer (1 layer)": par.Transformer(head, image_shape=shape, d_model=16, num_heads=2, num_layers=1),
    }
    value = torch.randint(0, 4, (1, *shape))
    step = TARGET[0] * SIZE + TARGET[1]
    panels = {}
    for name, model in models.items():
        model.eval()
        if isinstance(model, par.MADE):  # event (81,) in raster order
            seen = dependence(model, value.flatten(1), step).reshape(SIZE, SIZE)
        else:
            seen = dependence(model, value, step)
        panels[name] = seen
    return panels


def colour_grid(seen: np.ndarray, target: tuple[int, ...]) -> np.ndarray:
    """0 after the target, 1 before it and unread, 2 read, 3 the target (raster order)."""
    order = np.arange(seen.size).reshape(seen.shape)
    index = order[target]
    grid = np.where(order < index, 1, 0)
    grid[seen & (order < index)] = 2
    grid[target] = 3
    return grid


def main() -> Path:
    panels = image_panels()
    torch.manual_seed(0)
    wavenet = par.WaveNet(
        par.heads.Categorical(4), length=24, residual_channels=4, skip_channels=4, num_layers=3, num_stacks=1
    )
    wavenet.eval()
    step = 18
    sequence = dependence(wavenet, torch.randint(0, 4, (1, 24)), step)[None]  # (1, 24)

    fig = plt.figure(figsize=(12, 6.4))
    grid = fig.add_gridspec(3, 4, height_ratios=[1, 1, 0.28])
    for k, (name, seen) in enumerate(panels.items()):
        ax = fig.add_subplot(grid[k // 4, k % 4])
        ax.imshow(colour_grid(seen, TARGET), cmap=COLOURS, vmin=0, vmax=3)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    legend = fig.add_subplot(grid[1, 3])
    legend.axis("off")
    for colour, label in zip(
        COLOURS.colors[::-1], ["the pixel", "read by its parameters", "earlier, not read", "later"], strict=True
    ):
        legend.scatter([], [], marker="s", s=120, color=colour, edgecolors="grey", label=label)
    legend.legend(loc="center", fontsize=9, frameon=False, title="raster order")
    ax = fig.add_subplot(grid[2, :])
    ax.imshow(colour_grid(sequence, (0, step)), cmap=COLOURS, vmin=0, vmax=3, aspect="equal")
    ax.set_title(
        f"WaveNet (kernel 2, dilations 1, 2, 4): step {step} reads the {int(sequence.sum())} samples before it "
        f"(receptive_field = {wavenet.receptive_field})",
        fontsize=9,
    )
    ax.set_yticks([])
    ax.set_xticks(range(0, 24, 2))
    fig.suptitle(
        "Receptive fields, measured by autograd: which earlier values the parameters of one step read", fontsize=11
    )
    path = Path(__file__).with_suffix(".png")
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


if __name__ == "__main__":
    print(main())
