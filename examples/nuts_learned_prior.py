"""NUTS with a learned autoregressive prior over continuous parameters.

1. Fit ``MADE(2, NormalMixture(4))`` by maximum likelihood to samples of a
   banana-shaped 2-D distribution: a learned, non-Gaussian prior.
2. Use it as the prior of ``theta`` in a Bayesian model that observes the first
   coordinate, ``y_j ~ N(theta_1, 0.5)``; the posterior of ``theta_2`` follows the
   curved prior (unimodal, non-Gaussian). Sample it with
   ``pyro.infer.MCMC(NUTS(...))`` -- NUTS differentiates ``log_prob`` in the value.
3. Report effective sample size and split R-hat over two chains, and check the
   posterior mean against quadrature of the exact posterior on a grid.

    python examples/nuts_learned_prior.py            # about a minute
    python examples/nuts_learned_prior.py --quick    # seconds
"""

from __future__ import annotations

import argparse

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import MCMC, NUTS
from pyro.ops.stats import effective_sample_size, split_gelman_rubin

import pyro_autoregressive as par


def banana(n: int) -> torch.Tensor:
    """x1 ~ N(0, 1), x2 = x1^2 / 2 - 1 + N(0, 0.3^2)."""
    x1 = torch.randn(n)
    return torch.stack([x1, 0.5 * x1**2 - 1.0 + 0.3 * torch.randn(n)], dim=-1)


def fit_prior(steps: int, hidden: int) -> par.MADE:
    prior = par.MADE(2, par.heads.NormalMixture(4), hidden_sizes=(hidden, hidden))
    data = banana(5000)
    optimiser = torch.optim.Adam(prior.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = -prior.condition().log_prob(data[torch.randint(0, len(data), (256,))]).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return prior.eval().requires_grad_(False)


def model(prior: par.MADE, y: torch.Tensor) -> None:
    theta = pyro.sample("theta", prior.condition())  # (2,), a learned non-Gaussian prior
    with pyro.plate("observations", len(y)):
        pyro.sample("y", dist.Normal(theta[..., 0], 0.5), obs=y)


def grid_posterior_mean(prior: par.MADE, y: torch.Tensor) -> torch.Tensor:
    axis = torch.linspace(-6, 8, 701)
    theta = torch.cartesian_prod(axis, axis)  # (M, 2)
    log_post = prior.condition().log_prob(theta) + dist.Normal(theta[:, :1], 0.5).log_prob(y).sum(-1)
    weights = torch.softmax(log_post, 0)
    return (weights[:, None] * theta).sum(0)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior-steps", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    hidden = 64
    if args.quick:
        args.prior_steps, args.samples, args.warmup, hidden = 20, 30, 30, 8

    torch.manual_seed(args.seed)
    prior = fit_prior(args.prior_steps, hidden)
    y = 1.0 + 0.5 * torch.randn(5)  # data about theta_1 = 1

    chains = []
    for chain in range(2):
        pyro.set_rng_seed(args.seed + 10 + chain)
        mcmc = MCMC(NUTS(model), num_samples=args.samples, warmup_steps=args.warmup, disable_progbar=args.no_progress)
        mcmc.run(prior, y)
        chains.append(mcmc.get_samples()["theta"])
    samples = torch.stack(chains)  # (chains, draws, 2)
    ess = effective_sample_size(samples, chain_dim=0, sample_dim=1)
    rhat = split_gelman_rubin(samples, chain_dim=0, sample_dim=1)
    exact = grid_posterior_mean(prior, y)
    mean = samples.reshape(-1, 2).mean(0)
    print(f"NUTS, 2 chains x {args.samples} draws after {args.warmup} warm-up steps")
    print(f"{'':<10}{'mean':>10}{'grid mean':>12}{'ESS':>10}{'R-hat':>8}")
    for i in range(2):
        print(f"theta[{i}]  {mean[i]:>10.3f}{exact[i]:>12.3f}{ess[i]:>10.0f}{rhat[i]:>8.3f}")
    return {"ess": ess, "rhat": rhat, "mean": mean, "grid_mean": exact}


if __name__ == "__main__":
    main()
