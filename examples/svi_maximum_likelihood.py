"""Maximum likelihood with Pyro's SVI equals direct minimisation of -log_prob.

The model's only site is ``pyro.sample("x", made.condition(), obs=x)`` under a
subsampling ``pyro.plate``; the guide is empty, so ``Trace_ELBO`` is exactly the
(rescaled) negative log-likelihood of the minibatch. Run side by side with the
same seed, minibatches and Adam settings, the two procedures end at the same
parameters, and the test NLL of both is printed.

Both loops are written out here (not ``pyro_autoregressive.training.fit``): the
example compares the two procedures step by step on the same minibatches.

    python examples/svi_maximum_likelihood.py            # digits, 400 steps of batch 100
    python examples/svi_maximum_likelihood.py --quick    # seconds

The per-step losses of both runs are drawn to ``<out>/training_curves.png``.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import pyro
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from tqdm.auto import tqdm

import pyro_autoregressive as par
from pyro_autoregressive.datasets import DIGITS_LEVELS, load_digits_split
from pyro_autoregressive.training import mean_nll


def fit_with_svi(
    made: par.MADE, data: torch.Tensor, steps: int, batch: int, lr: float, seed: int, progress: bool
) -> list[float]:
    """Fit by SVI; return the loss of every step (the minibatch NLL scaled by ``N / batch``)."""
    pyro.clear_param_store()

    def model(data: torch.Tensor) -> None:
        pyro.module("made", made)
        with pyro.plate("data", len(data), subsample_size=batch) as idx:
            pyro.sample("x", made.condition(), obs=data[idx])

    def guide(data: torch.Tensor) -> None:
        pass

    svi = SVI(model, guide, Adam({"lr": lr}), Trace_ELBO())
    torch.manual_seed(seed)
    return [svi.step(data) for _ in tqdm(range(steps), desc="SVI", disable=not progress)]


def fit_directly(
    made: par.MADE, data: torch.Tensor, steps: int, batch: int, lr: float, seed: int, progress: bool
) -> list[float]:
    """Fit by minimising ``-log_prob`` with torch's Adam; return the loss of every step."""
    losses = []
    optimiser = torch.optim.Adam(made.parameters(), lr=lr)
    torch.manual_seed(seed)
    for _ in tqdm(range(steps), desc="direct", disable=not progress):
        idx = torch.randperm(len(data))[:batch]  # the same draw pyro.plate makes
        loss = -(len(data) / batch) * made.condition().log_prob(data[idx]).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses


def save_training_curves(losses_svi: list[float], losses_direct: list[float], num_data: int, path: Path) -> Path:
    """Both runs' per-step losses (per image) overlaid, and their difference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    svi = torch.tensor(losses_svi, dtype=torch.float64) / num_data
    direct = torch.tensor(losses_direct, dtype=torch.float64) / num_data
    steps = torch.arange(1, len(svi) + 1)
    diff = svi - direct
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 5), sharex=True, height_ratios=(3, 1.4))
    top.plot(steps, svi, color="tab:blue", lw=2.5, alpha=0.6, label="SVI + Trace_ELBO (empty guide)")
    top.plot(steps, direct, color="black", lw=0.8, ls="--", label="direct: torch.optim.Adam on -log_prob")
    top.set_ylabel("minibatch NLL (nats / image)")
    top.legend(fontsize=8)
    top.set_title("MADE on the digits, float64, same seed and minibatches", fontsize=9)
    bottom.plot(steps, diff, color="tab:red", lw=1)
    bottom.axhline(0, color="grey", lw=0.5)
    bottom.set_ylabel("SVI - direct")
    bottom.set_xlabel("step")
    text = f"max |difference| = {diff.abs().max().item():.2e} nats / image"
    bottom.text(0.99, 0.95, text, transform=bottom.transAxes, ha="right", va="top", fontsize=8, backgroundcolor="w")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)  # about 40 epochs: later steps overfit
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("outputs/svi_maximum_likelihood"))
    args = parser.parse_args(argv)
    hidden = (16,) if args.quick else (512, 512)
    steps = 20 if args.quick else args.steps

    data = load_digits_split()
    torch.manual_seed(args.seed)
    made_svi = par.MADE(64, par.heads.Categorical(DIGITS_LEVELS), hidden_sizes=hidden).double()
    made_direct = copy.deepcopy(made_svi)
    common = (data["train"], steps, args.batch, args.lr, args.seed, not args.no_progress)
    losses_svi = fit_with_svi(made_svi, *common)
    losses_direct = fit_directly(made_direct, *common)

    gap = max((a - b).abs().max().item() for a, b in zip(made_svi.parameters(), made_direct.parameters(), strict=True))
    nll_svi, nll_direct = mean_nll(made_svi, data["test"]), mean_nll(made_direct, data["test"])
    print(f"after {steps} steps: largest parameter difference {gap:.2e}")
    print(f"test NLL  SVI + Trace_ELBO: {nll_svi:.4f} nats/image   direct -log_prob: {nll_direct:.4f} nats/image")
    figure = save_training_curves(losses_svi, losses_direct, len(data["train"]), args.out / "training_curves.png")
    print(f"training curves -> {figure}")
    return {"max_param_diff": gap, "nll_svi": nll_svi, "nll_direct": nll_direct}


if __name__ == "__main__":
    main()
