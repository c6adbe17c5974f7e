"""Maximum likelihood with Pyro's SVI equals direct minimisation of -log_prob.

The model's only site is ``pyro.sample("x", made.condition(), obs=x)`` under a
subsampling ``pyro.plate``; the guide is empty, so ``Trace_ELBO`` is exactly the
(rescaled) negative log-likelihood of the minibatch. Run side by side with the
same seed, minibatches and Adam settings, the two procedures end at the same
parameters, and the test NLL of both is printed.

    python examples/svi_maximum_likelihood.py            # digits, 400 steps of batch 100
    python examples/svi_maximum_likelihood.py --quick    # seconds
"""

from __future__ import annotations

import argparse
import copy

import pyro
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from tqdm.auto import tqdm

import pyro_autoregressive as par
from pyro_autoregressive.datasets import DIGITS_LEVELS, load_digits_split
from pyro_autoregressive.training import mean_nll


def fit_with_svi(made: par.MADE, data: torch.Tensor, steps: int, batch: int, lr: float, seed: int, progress: bool):
    pyro.clear_param_store()

    def model(data: torch.Tensor) -> None:
        pyro.module("made", made)
        with pyro.plate("data", len(data), subsample_size=batch) as idx:
            pyro.sample("x", made.condition(), obs=data[idx])

    def guide(data: torch.Tensor) -> None:
        pass

    svi = SVI(model, guide, Adam({"lr": lr}), Trace_ELBO())
    torch.manual_seed(seed)
    for _ in tqdm(range(steps), desc="SVI", disable=not progress):
        svi.step(data)


def fit_directly(made: par.MADE, data: torch.Tensor, steps: int, batch: int, lr: float, seed: int, progress: bool):
    optimiser = torch.optim.Adam(made.parameters(), lr=lr)
    torch.manual_seed(seed)
    for _ in tqdm(range(steps), desc="direct", disable=not progress):
        idx = torch.randperm(len(data))[:batch]  # the same draw pyro.plate makes
        loss = -(len(data) / batch) * made.condition().log_prob(data[idx]).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)  # about 40 epochs: later steps overfit
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    hidden = (16,) if args.quick else (512, 512)
    steps = 20 if args.quick else args.steps

    data = load_digits_split()
    torch.manual_seed(args.seed)
    made_svi = par.MADE(64, par.heads.Categorical(DIGITS_LEVELS), hidden_sizes=hidden).double()
    made_direct = copy.deepcopy(made_svi)
    common = (data["train"], steps, args.batch, args.lr, args.seed, not args.no_progress)
    fit_with_svi(made_svi, *common)
    fit_directly(made_direct, *common)

    gap = max((a - b).abs().max().item() for a, b in zip(made_svi.parameters(), made_direct.parameters(), strict=True))
    nll_svi, nll_direct = mean_nll(made_svi, data["test"]), mean_nll(made_direct, data["test"])
    print(f"after {steps} steps: largest parameter difference {gap:.2e}")
    print(f"test NLL  SVI + Trace_ELBO: {nll_svi:.4f} nats/image   direct -log_prob: {nll_direct:.4f} nats/image")
    return {"max_param_diff": gap, "nll_svi": nll_svi, "nll_direct": nll_direct}


if __name__ == "__main__":
    main()
