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

The draws of both chains, over contours of the grid posterior, and their traces are
drawn to ``<out>/posterior.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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


def grid_posterior(prior: par.MADE, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The posterior on a 701 x 701 grid: ``axis``, ``theta (M, 2)`` and the normalised weights ``(M,)``."""
    axis = torch.linspace(-6, 8, 701)
    theta = torch.cartesian_prod(axis, axis)  # (M, 2), theta[:, 0] varies slowest
    log_post = prior.condition().log_prob(theta) + dist.Normal(theta[:, :1], 0.5).log_prob(y).sum(-1)
    return axis, theta, torch.softmax(log_post, 0)


def grid_posterior_mean(prior: par.MADE, y: torch.Tensor) -> torch.Tensor:
    _, theta, weights = grid_posterior(prior, y)
    return (weights[:, None] * theta).sum(0)


def save_posterior_figure(prior: par.MADE, y: torch.Tensor, samples: torch.Tensor, path: Path) -> Path:
    """Draws ``samples (chains, draws, 2)`` over the grid posterior's highest-density regions, and trace plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axis, theta, weights = grid_posterior(prior, y)
    mean = samples.reshape(-1, 2).mean(0)
    exact = (weights[:, None] * theta).sum(0)
    # density thresholds of the regions holding 99%, 90% and 50% of the grid's mass (increasing)
    ordered = weights.sort(descending=True).values
    masses = (0.99, 0.9, 0.5)
    levels = [ordered[torch.searchsorted(ordered.cumsum(0), torch.tensor(m))].item() for m in masses]
    density = weights.reshape(len(axis), len(axis)).T  # [row = theta[1], column = theta[0]]

    colours = ("tab:blue", "tab:orange")
    fig = plt.figure(figsize=(10, 4.4))
    grid = fig.add_gridspec(2, 2, width_ratios=(1, 1.3))
    scatter = fig.add_subplot(grid[:, 0])
    styles = (":", "--", "-")
    scatter.contour(axis, axis, density, levels=levels, colors="black", linewidths=1, linestyles=styles)
    for mass, style in zip(masses, styles, strict=True):
        scatter.plot([], [], color="black", lw=1, ls=style, label=f"grid posterior, {mass:.0%} region")
    for chain, colour in enumerate(colours):
        scatter.scatter(*samples[chain].T, s=3, alpha=0.35, color=colour, label=f"chain {chain + 1}")
    scatter.plot(*exact, "k+", ms=12, mew=2, label="grid mean")
    scatter.plot(*mean, "x", color="tab:red", ms=9, mew=2, label="NUTS mean")
    inside = density >= levels[0]
    cols, rows = inside.any(0).nonzero().squeeze(-1), inside.any(1).nonzero().squeeze(-1)
    pad = 0.3
    scatter.set_xlim(min(axis[cols[0]], samples[..., 0].min()) - pad, max(axis[cols[-1]], samples[..., 0].max()) + pad)
    scatter.set_ylim(min(axis[rows[0]], samples[..., 1].min()) - pad, max(axis[rows[-1]], samples[..., 1].max()) + pad)
    scatter.set_xlabel("theta[0]")
    scatter.set_ylabel("theta[1]")
    scatter.legend(fontsize=7, loc="upper left")
    scatter.set_title("NUTS draws over the exact posterior (701 x 701 grid)", fontsize=9)
    for i in range(2):
        trace = fig.add_subplot(grid[i, 1])
        for chain, colour in enumerate(colours):
            trace.plot(samples[chain, :, i], lw=0.5, color=colour, alpha=0.8)
        trace.axhline(exact[i].item(), color="black", lw=1, ls="--")
        trace.set_ylabel(f"theta[{i}]")
        if i == 0:
            trace.set_title("traces after warm-up (dashed: grid mean)", fontsize=9)
        else:
            trace.set_xlabel("draw")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior-steps", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("outputs/nuts_learned_prior"))
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
    figure = save_posterior_figure(prior, y, samples, args.out / "posterior.png")
    print(f"draws and traces -> {figure}")
    return {"ess": ess, "rhat": rhat, "mean": mean, "grid_mean": exact}


if __name__ == "__main__":
    main()
