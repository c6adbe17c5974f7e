"""A VAE on the digits whose prior p(z) is a learned autoregressive distribution.

Continuous latent ``z`` (16 dims), Gaussian encoder ``q(z | x)``, factorised
categorical decoder ``p(x | z)`` over the 64 pixels x 17 levels. The prior is
either ``N(0, I)`` or ``MADE(16, NormalMixture(3))``, trained jointly with
``Trace_ELBO``: the autoregressive distribution is used as a latent site
``pyro.sample("z", made.condition())`` under ``pyro.plate``, unchanged.

Reports the held-out (test split) ELBO and an importance-weighted estimate of
``log p(x)`` for both priors, in nats per image.

    python examples/vae_learned_prior.py            # both priors, a few minutes
    python examples/vae_learned_prior.py --quick    # seconds
"""

from __future__ import annotations

import argparse
import copy
import math
from pathlib import Path

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from torch import nn
from tqdm.auto import tqdm

import pyro_autoregressive as par
from pyro_autoregressive.datasets import DIGITS_LEVELS, load_digits_split

PIXELS = 64


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Encoder, decoder and (optionally learned) prior; ``model`` and ``guide`` are Pyro programs."""

    def __init__(self, latent: int, hidden: int, prior: str, prior_hidden: int = 256, components: int = 3) -> None:
        super().__init__()
        self.latent = latent
        self.encoder = mlp([PIXELS, hidden, hidden, 2 * latent])
        self.decoder = mlp([latent, hidden, hidden, PIXELS * DIGITS_LEVELS])
        self.prior = None
        if prior == "made":
            head = par.heads.NormalMixture(components)
            self.prior = par.MADE(latent, head, hidden_sizes=(prior_hidden, prior_hidden))

    def prior_distribution(self) -> dist.TorchDistribution:
        if self.prior is None:
            zeros = torch.zeros(self.latent)
            return dist.Normal(zeros, torch.ones_like(zeros)).to_event(1)
        return self.prior.condition()

    def posterior(self, x: torch.Tensor) -> dist.TorchDistribution:
        loc, raw_scale = self.encoder(x.float() / (DIGITS_LEVELS - 1)).chunk(2, dim=-1)
        return dist.Normal(loc, nn.functional.softplus(raw_scale) + 1e-4).to_event(1)

    def likelihood(self, z: torch.Tensor) -> dist.TorchDistribution:
        logits = self.decoder(z).unflatten(-1, (PIXELS, DIGITS_LEVELS))  # (..., 64, 17)
        return dist.Categorical(logits=logits).to_event(1)

    def model(self, x: torch.Tensor) -> None:
        pyro.module("vae", self)
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", self.prior_distribution())
            pyro.sample("x", self.likelihood(z), obs=x)

    def guide(self, x: torch.Tensor) -> None:
        pyro.module("vae", self)
        with pyro.plate("data", len(x)):
            pyro.sample("z", self.posterior(x))

    @torch.no_grad()
    def bounds(self, x: torch.Tensor, num_samples: int, chunk: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image ELBO and importance-weighted log p(x) (nats) from ``num_samples`` draws of q."""
        elbo, iwae = [], []
        for part in x.split(chunk):
            q = self.posterior(part)
            z = q.sample((num_samples,))  # (K, n, latent)
            log_w = self.likelihood(z).log_prob(part) + self.prior_distribution().log_prob(z) - q.log_prob(z)
            elbo.append(log_w.mean(0))
            iwae.append(torch.logsumexp(log_w, 0) - math.log(num_samples))
        return torch.cat(elbo), torch.cat(iwae)


def train(vae: VAE, data: dict[str, torch.Tensor], epochs: int, batch: int, patience: int, progress: bool) -> int:
    pyro.clear_param_store()
    svi = SVI(vae.model, vae.guide, Adam({"lr": 1e-3}), Trace_ELBO())
    best, best_state, best_epoch = -math.inf, copy.deepcopy(vae.state_dict()), 0
    bar = tqdm(range(epochs), desc=f"VAE ({'MADE' if vae.prior else 'N(0, I)'} prior)", disable=not progress)
    for epoch in bar:
        for idx in torch.randperm(len(data["train"])).split(batch):
            svi.step(data["train"][idx])
        val_elbo = vae.bounds(data["val"], num_samples=10)[0].mean().item()
        if val_elbo > best:
            best, best_state, best_epoch = val_elbo, copy.deepcopy(vae.state_dict()), epoch
        bar.set_postfix(val_elbo=f"{val_elbo:.2f}", best=f"{best:.2f}")
        if epoch - best_epoch >= patience:
            break
    vae.load_state_dict(best_state)
    return best_epoch


@torch.no_grad()
def save_figures(vaes: dict[str, VAE], test: torch.Tensor, names: dict[str, str], out: Path) -> list[Path]:
    """Decoded prior samples per prior, and the test encodings against prior draws (first two latent dims)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pyro_autoregressive.plotting import save_image_grid

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, axes = plt.subplots(1, len(vaes), figsize=(4.2 * len(vaes), 4), sharex=True, sharey=True, squeeze=False)
    for ax, (prior, vae) in zip(axes[0], vaes.items(), strict=True):
        z = vae.prior_distribution().sample((2000,))  # (2000, latent)
        means = vae.posterior(test).base_dist.loc  # (n, latent)
        ax.scatter(z[:, 0], z[:, 1], s=2, alpha=0.25, color="tab:blue", label="prior draws")
        ax.scatter(means[:, 0], means[:, 1], s=3, alpha=0.6, color="black", label="test encodings (means of q)")
        ax.set_title(f"{names[prior]} prior", fontsize=9)
        ax.set_xlabel("z[0]")
        ax.legend(fontsize=7, loc="upper right")
        images = vae.likelihood(vae.prior_distribution().sample((64,))).base_dist.probs.argmax(-1)  # (64, 64) modes
        paths.append(
            save_image_grid(
                images.reshape(-1, 1, 8, 8),
                out / f"samples_{prior}.png",
                DIGITS_LEVELS,
                ncols=8,
                title=f"z ~ {names[prior]} prior, decoder mode",
            )
        )
    axes[0, 0].set_ylabel("z[1]")
    fig.tight_layout()
    fig.savefig(out / "latents.png", dpi=100)
    plt.close(fig)
    return [out / "latents.png", *paths]


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latent", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--prior-hidden", type=int, default=256, help="MADE hidden layer width")
    parser.add_argument("--components", type=int, default=3, help="NormalMixture components of the prior")
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--patience", type=int, default=40)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--iw-samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/vae_learned_prior"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.prior_hidden, args.epochs, args.iw_samples = 16, 16, 2, 10

    data = load_digits_split()
    results, per_image, vaes = {}, {}, {}
    for prior in ("standard", "made"):
        torch.manual_seed(args.seed)
        vae = VAE(args.latent, args.hidden, prior, args.prior_hidden, args.components)
        best_epoch = train(vae, data, args.epochs, args.batch, args.patience, not args.no_progress)
        torch.manual_seed(args.seed + 1)
        elbo, iwae = vae.bounds(data["test"], num_samples=args.iw_samples)
        per_image[prior], vaes[prior] = (elbo, iwae), vae
        results[prior] = {"elbo": elbo.mean().item(), "log_px": iwae.mean().item(), "best_epoch": best_epoch + 1}
    print(f"test split, nats per image ({args.iw_samples} importance samples), latent {args.latent}")
    print(f"{'prior':<28}{'ELBO':>10}{'log p(x) (IW)':>16}{'best epoch':>12}")
    names = {"standard": "N(0, I)", "made": f"MADE(NormalMixture({args.components}))"}
    for prior, r in results.items():
        print(f"{names[prior]:<28}{r['elbo']:>10.2f}{r['log_px']:>16.2f}{r['best_epoch']:>12d}")
    for i, name in enumerate(("ELBO", "log p(x)")):
        diff = per_image["made"][i] - per_image["standard"][i]  # paired over the same test images
        error = diff.std().item() / math.sqrt(len(diff))
        results[f"gain_{name}"] = {"mean": diff.mean().item(), "stderr": error}
        print(f"learned - standard prior, {name}: {diff.mean().item():+.2f} +- {error:.2f} nats (paired, 1 s.e.)")
    figures = save_figures(vaes, data["test"], names, args.out)
    print(f"figures -> {', '.join(map(str, figures))}")
    return results


if __name__ == "__main__":
    main()
