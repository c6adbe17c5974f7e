"""A VAE on the digits whose prior p(z) is a learned autoregressive distribution.

Continuous latent ``z`` (16 dims), Gaussian encoder ``q(z | x)``, factorised
categorical decoder ``p(x | z)`` over the 64 pixels x 17 levels. The prior is
``N(0, I)`` or ``MADE(16, NormalMixture(3))``; the autoregressive distribution is
used as a latent site ``pyro.sample("z", made.condition())`` under
``pyro.plate``, unchanged, and everything is fitted by ``SVI`` with ``Trace_ELBO``
(early stopping on the validation ELBO). Five VAEs:

* ``N(0, I)``: the standard VAE;
* ``MADE, joint``: the same VAE with the learned prior, all trained together from scratch;
* ``MADE, prior fit``: the trained standard VAE with its encoder and decoder frozen and
  the MADE prior fitted by the same ELBO (only the prior's parameters move: this
  isolates what the prior itself gains);
* ``MADE, prior fit + joint``: that VAE, then everything trained jointly again;
  its control is ``N(0, I), trained again``: the standard VAE given the same second
  round of training from its early-stopped weights.

Reports the held-out (test split) ELBO and an importance-weighted estimate of
``log p(x)`` for each, in nats per image, and the paired gains over ``N(0, I)``.

    python examples/vae_learned_prior.py            # the five VAEs, about 2 minutes on one core
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

    def register(self) -> None:
        """``pyro.module`` of the trainable part: the whole VAE, or the prior alone when the rest is frozen."""
        frozen = not any(p.requires_grad for p in self.encoder.parameters())
        if frozen and self.prior is not None:
            pyro.module("prior", self.prior)
        else:
            pyro.module("vae", self)

    def model(self, x: torch.Tensor) -> None:
        self.register()
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", self.prior_distribution())
            pyro.sample("x", self.likelihood(z), obs=x)

    def guide(self, x: torch.Tensor) -> None:
        self.register()
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


def train(
    vae: VAE,
    data: dict[str, torch.Tensor],
    epochs: int,
    batch: int,
    patience: int,
    progress: bool,
    prior_lr: float = 1e-3,
) -> int:
    pyro.clear_param_store()

    def optim_args(name: str) -> dict[str, float]:  # name: "vae.prior...", "prior..." or "vae.encoder..."
        return {"lr": prior_lr if name.startswith(("vae.prior.", "prior.")) else 1e-3}

    svi = SVI(vae.model, vae.guide, Adam(optim_args), Trace_ELBO())
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
    """Decoded prior samples per VAE, and its test encodings against prior draws (the two most used dims)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pyro_autoregressive.plotting import save_image_grid

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, axes = plt.subplots(1, len(vaes), figsize=(3.6 * len(vaes), 3.8), sharex=True, sharey=True, squeeze=False)
    for ax, (prior, vae) in zip(axes[0], vaes.items(), strict=True):
        z = vae.prior_distribution().sample((2000,))  # (2000, latent)
        means = vae.posterior(test).base_dist.loc  # (n, latent)
        a, b = means.var(0).topk(min(2, means.shape[-1])).indices.tolist() * (2 if means.shape[-1] == 1 else 1)
        ax.scatter(z[:, a], z[:, b], s=2, alpha=0.25, color="tab:blue", label="prior draws")
        ax.scatter(means[:, a], means[:, b], s=3, alpha=0.6, color="black", label="test encodings (means of q)")
        ax.set_title(f"{names[prior]}\nz[{a}] vs z[{b}] (the two most used dims)", fontsize=8)
        ax.legend(fontsize=7, loc="upper right")
        images = vae.likelihood(vae.prior_distribution().sample((64,))).base_dist.probs.argmax(-1)  # (64, 64) modes
        paths.append(
            save_image_grid(
                images.reshape(-1, 1, 8, 8),
                out / f"samples_{prior}.png",
                DIGITS_LEVELS,
                ncols=8,
                title=f"z ~ prior of {names[prior]}, decoder mode",
            )
        )
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
    parser.add_argument("--prior-lr", type=float, default=1e-3, help="Adam learning rate of the prior (rest: 1e-3)")
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
    made = f"MADE(NormalMixture({args.components}))"
    names = {
        "standard": "N(0, I)",
        "made": f"{made}, joint",
        "made_fit": f"{made}, prior fit",
        "standard_again": "N(0, I), trained again",
        "made_fit_joint": f"{made}, prior fit + joint",
    }
    controls = {"made": "standard", "made_fit": "standard", "made_fit_joint": "standard_again"}
    results, per_image, vaes = {}, {}, {}
    for variant in names:
        torch.manual_seed(args.seed)
        if variant in ("standard", "made"):
            vae = VAE(args.latent, args.hidden, variant, args.prior_hidden, args.components)
        elif variant == "made_fit":  # the trained standard VAE, frozen, plus a learned prior
            vae = copy.deepcopy(vaes["standard"])
            vae.prior = VAE(args.latent, args.hidden, "made", args.prior_hidden, args.components).prior
            vae.encoder.requires_grad_(False)
            vae.decoder.requires_grad_(False)
        elif variant == "standard_again":  # a second round of training, the control of the next one
            vae = copy.deepcopy(vaes["standard"])
        else:  # then everything together again
            vae = copy.deepcopy(vaes["made_fit"]).requires_grad_(True)
        best_epoch = train(vae, data, args.epochs, args.batch, args.patience, not args.no_progress, args.prior_lr)
        torch.manual_seed(args.seed + 1)
        elbo, iwae = vae.bounds(data["test"], num_samples=args.iw_samples)
        per_image[variant], vaes[variant] = (elbo, iwae), vae
        results[variant] = {"elbo": elbo.mean().item(), "log_px": iwae.mean().item(), "best_epoch": best_epoch + 1}
    print(f"test split, nats per image ({args.iw_samples} importance samples), latent {args.latent}")
    print(f"{'prior':<44}{'ELBO':>10}{'log p(x) (IW)':>16}{'best epoch':>12}")
    for variant, r in results.items():
        print(f"{names[variant]:<44}{r['elbo']:>10.2f}{r['log_px']:>16.2f}{r['best_epoch']:>12d}")
    for variant, control in controls.items():
        for i, name in enumerate(("ELBO", "log p(x)")):
            diff = per_image[variant][i] - per_image[control][i]  # paired over the same test images
            error = diff.std().item() / math.sqrt(len(diff))
            results[f"gain_{name}_{variant}"] = {"mean": diff.mean().item(), "stderr": error}
            gain = f"{diff.mean().item():+.2f} +- {error:.2f} nats (paired, 1 s.e.)"
            print(f"{names[variant]} - {names[control]}, {name}: {gain}")
    figures = save_figures(vaes, data["test"], names, args.out)
    print(f"figures -> {', '.join(map(str, figures))}")
    return results


if __name__ == "__main__":
    main()
