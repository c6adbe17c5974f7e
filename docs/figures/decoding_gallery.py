"""Draw the decoding gallery of ``docs/generation.md``: ``docs/figures/decoding_gallery.png``.

A Gated PixelCNN is trained on the 8x8 digits exactly as the Quickstart's first command does
(``pyro-autoregressive train`` with its defaults: 64 hidden channels, 6 layers,
``Categorical(17)``, the digit as a one-hot context, Adam 2e-3, batch 50, early stopping with
patience 10), on one thread. Then every row of the figure is one decoding setting of the same
model and every column a digit class (one sample each; greedy decoding has one image per
class). Beside each row: how the test split scores under that setting's exact ``log_prob``.

A filter gives probability 0 (``log_prob`` ``-inf``, with validation off) to every value
outside what it keeps, so a test image with one such pixel has no finite score under it: for
those settings the fraction of test images (and of test pixels) with a finite score is
reported instead of bits per dimension.

Run from the repository root (a few minutes on one thread; the run folder is kept):

    nice -n 19 python docs/figures/decoding_gallery.py
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pyro
import torch

import pyro_autoregressive as par
from pyro_autoregressive.cli import main as cli
from pyro_autoregressive.data import load_data

FIGURE = Path(__file__).resolve().with_suffix(".png")


def settings(d: par.AutoregressiveDistribution) -> dict[str, par.AutoregressiveDistribution]:
    """The decoding settings of the rows, each an exact distribution."""
    return {
        "temperature 1": d,
        "temper(0.7)": d.temper(0.7),
        "top_p(0.9)": d.top_p(0.9),
        "min_p(0.2)": d.min_p(0.2),
        "greedy (top_k(1))": d.top_k(1),
    }


def score(d: par.AutoregressiveDistribution, x: torch.Tensor) -> dict[str, float]:
    """Test bits per dimension where every image scores finitely, and how many images and pixels do."""
    with torch.no_grad(), pyro.validation_enabled(False):  # values outside a filter: -inf, not a ValueError
        steps = d.step_log_prob(x)  # (N, 64) nats per pixel
    image = steps.sum(-1)  # (N,)
    finite = torch.isfinite(image)
    result = {
        "images_finite": int(finite.sum()),
        "images": len(x),
        "pixels_finite": torch.isfinite(steps).double().mean().item(),
        "bits_per_dim": math.nan,  # a mean over images some of which score -inf is -inf: not reported
    }
    if bool(finite.all()):
        result["bits_per_dim"] = -image.mean().item() / (steps.shape[-1] * math.log(2))
    return result


def describe(result: dict[str, float]) -> str:
    """The note beside a row of the figure."""
    if not math.isnan(result["bits_per_dim"]):
        return f"test: {result['bits_per_dim']:.3f} bits/dim"
    images = f"{result['images_finite']} of {result['images']} test images"
    return f"finite log_prob: {images},\n{100 * result['pixels_finite']:.1f}% of test pixels"


def table_row(name: str, result: dict[str, float], samples_bits: float) -> str:
    """A row of the page's table (Markdown)."""
    bits = "-" if math.isnan(result["bits_per_dim"]) else f"{result['bits_per_dim']:.3f}"
    images = f"{result['images_finite']} / {result['images']}"
    return f"| `{name}` | {bits} | {images} | {100 * result['pixels_finite']:.1f}% | {samples_bits:.3f} |"


def model_bits(model: par.AutoregressiveModel, d: par.AutoregressiveDistribution, per_class: int) -> float:
    """The unfiltered model's bits per dimension of ``per_class`` samples of every class drawn from ``d``."""
    with torch.no_grad():
        x = d.sample((per_class,))  # (per_class, classes, 1, H, W)
        nats = model.condition(torch.eye(model.context_size, dtype=model.dtype)).log_prob(x)  # (per_class, classes)
    return -nats.mean().item() / (x[0, 0].numel() * math.log(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("outputs/decoding_gallery"), help="the run folder")
    parser.add_argument("--reuse", action="store_true", help="use the model already trained in --run")
    parser.add_argument("--out", type=Path, default=FIGURE)
    parser.add_argument("--per-class", type=int, default=100, help="samples of each class scored by the model")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.reuse:  # the Quickstart's command, its defaults, one thread; --max-minutes only as a guard
        cli(["train", "--threads", "1", "--max-minutes", "4", "--no-progress", "--out", str(args.run), "--force"])
    model = par.load(args.run / "model").eval()

    data = load_data("digits")  # the run's data: Tomczak's fixed split, labels as one-hot contexts
    split = data.split()
    test = split.apply(data.values)["test"]  # (447, 1, 8, 8) levels 0..16
    test_context = torch.nn.functional.one_hot(split.apply(data.context)["test"], model.context_size).to(model.dtype)

    torch.manual_seed(0)
    classes = torch.eye(model.context_size, dtype=model.dtype)  # one column per digit
    names, rows, notes = [], [], []
    table = [
        "| setting | test bits/dim | test images with a finite log_prob | test pixels with a finite term "
        "| model's bits/dim of its samples |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, d in settings(model.condition(classes)).items():
        names.append(name)
        with torch.no_grad():
            rows.append(d.sample())  # (10, 1, 8, 8)
        result = score(settings(model.condition(test_context))[name], test)
        notes.append(describe(result))
        table.append(table_row(name, result, model_bits(model, d, args.per_class)))

    columns, top = model.context_size, model.head.num_classes - 1
    fig, axes = plt.subplots(len(rows), columns, figsize=(columns * 0.75 + 2.6, len(rows) * 0.8), squeeze=False)
    for r, (samples, name, note) in enumerate(zip(rows, names, notes, strict=True)):
        for c in range(columns):
            ax = axes[r, c]
            ax.imshow(samples[c, 0].numpy() / top, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(str(c), fontsize=9)
        axes[r, 0].set_ylabel(f"{name}\n{note}", rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("Gated PixelCNN on the digits: one decoding setting per row, one digit class per column", fontsize=9)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print("\n".join(table))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
