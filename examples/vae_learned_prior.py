"""A VAE on the digits whose prior p(z) is a learned autoregressive distribution.

Continuous latent ``z`` (16 dims), Gaussian encoder ``q(z | x)``, factorised decoder
``p(x | z)`` over the 64 pixels x 17 levels: one discretized logistic per pixel
(``DiscretizedLogisticMixture(1, 17)``; ``--decoder categorical``: 17 free logits). The prior is
``N(0, I)`` or ``MADE(16, NormalMixture(3))`` (``--prior-model transformer``: a small
``Transformer`` with the same head); the autoregressive distribution is
used as a latent site ``pyro.sample("z", made.condition())`` under
``pyro.plate``, unchanged, and everything is fitted by ``SVI`` with ``Trace_ELBO``
(early stopping on the validation ELBO of a moving average of the weights, ``--ema``). Five VAEs:

* ``N(0, I)``: the standard VAE;
* ``MADE, joint``: the same VAE with the learned prior, all trained together from scratch;
* ``MADE, prior fit``: the trained standard VAE with its encoder and decoder frozen and
  the MADE prior fitted by the same ELBO (only the prior's parameters move: this
  isolates what the prior itself gains);
* ``MADE, prior fit + joint``: that VAE, then everything trained jointly again;
  its control is ``N(0, I), trained again``: the standard VAE given the same second
  round of training from its early-stopped weights.

Every VAE starts from the same encoder and decoder weights and sees the same minibatches
and the same draws of ``q`` (the seed is set again before training), and the learned prior
starts as ``N(0, I)`` (``--prior-init standard``: ``prior.reset_to_neutral_(spread=0.1)``), so
the only difference between a VAE and its control is what the prior learns.

Reports the held-out (test split) ELBO and an importance-weighted estimate of
``log p(x)`` for each, in nats per image, and the paired gains over ``N(0, I)``; writes
the learning curves of the two VAEs trained from scratch (``curves.png``), decoded prior
samples and the test encodings against prior draws.

The VAEs train in the example's own ``SVI`` loop (early stopping on the validation
ELBO, KL warm-up, an EMA of the weights), not ``pyro_autoregressive.training.fit``, which
fits one model by maximum likelihood.

    python examples/vae_learned_prior.py            # the five VAEs, about 6 minutes on one core
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
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

import pyro_autoregressive as par
from pyro_autoregressive.datasets import DIGITS_LEVELS, load_digits_split

PIXELS = 64
#: the VAEs the example can train, each with the variants it starts from
VARIANTS = {
    "standard": (),
    "made": (),
    "made_fit": ("standard",),
    "standard_again": ("standard",),
    "made_fit_joint": ("made_fit", "standard_again"),
}


def mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers += [nn.ReLU(), nn.Dropout(dropout)] if dropout else [nn.ReLU()]
    return nn.Sequential(*layers)


def learned_prior(model: str, latent: int, components: int, hidden: int) -> par.AutoregressiveModel:
    """``MADE(latent, head)`` with two hidden layers of ``hidden`` units, or a small ``Transformer``."""
    head = par.heads.Normal() if components == 1 else par.heads.NormalMixture(components)
    if model == "made":
        return par.MADE(latent, head, hidden_sizes=(hidden, hidden))
    return par.Transformer(head, max_length=latent, d_model=hidden, num_heads=4, num_layers=2)


class VAE(nn.Module):
    """Encoder, decoder and (optionally learned) prior; ``model`` and ``guide`` are Pyro programs."""

    def __init__(
        self,
        latent: int,
        hidden: int,
        prior: str,
        prior_hidden: int = 256,
        components: int = 3,
        prior_init: str = "standard",
        dropout: float = 0.0,
        prior_model: str = "made",
        decoder: str = "logistic",
    ) -> None:
        super().__init__()
        self.latent = latent
        self.encoder = mlp([PIXELS, hidden, hidden, 2 * latent], dropout)
        # "logistic": one discretized logistic per pixel, the library's head evaluated on the 17 levels
        self.pixel_head = par.heads.DiscretizedLogisticMixture(1, DIGITS_LEVELS) if decoder == "logistic" else None
        per_pixel = self.pixel_head.num_params(1) if self.pixel_head else DIGITS_LEVELS
        self.decoder = mlp([latent, hidden, hidden, PIXELS * per_pixel], dropout)
        self.prior = None
        if prior == "made":
            self.prior = learned_prior(prior_model, latent, components, prior_hidden)
            if prior_init == "standard":
                # every step N(0, 1): exactly N(0, I) at the first step of training (a mixture's
                # components at -0.1 .. 0.1, so that they can move apart)
                self.prior.reset_to_neutral_(spread=0.1)

    def prior_distribution(self) -> dist.TorchDistribution:
        if self.prior is None:
            zeros = torch.zeros(self.latent)
            return dist.Normal(zeros, torch.ones_like(zeros)).to_event(1)
        return self.prior.condition()

    def posterior(self, x: torch.Tensor) -> dist.TorchDistribution:
        loc, raw_scale = self.encoder(x.float() / (DIGITS_LEVELS - 1)).chunk(2, dim=-1)
        return dist.Normal(loc, nn.functional.softplus(raw_scale) + 1e-4).to_event(1)

    def likelihood(self, z: torch.Tensor) -> dist.TorchDistribution:
        if self.pixel_head is None:
            logits = self.decoder(z).unflatten(-1, (PIXELS, DIGITS_LEVELS))  # (..., 64, 17)
        else:  # the head's exact log-masses of the 17 levels, a normalised table
            params = self.decoder(z).unflatten(-1, (PIXELS, 1, -1))  # (..., 64, 1, P)
            levels = torch.arange(DIGITS_LEVELS, device=z.device).unsqueeze(-1)  # (17, 1): one channel
            logits = self.pixel_head.log_prob(params, levels)  # (..., 64, 17)
        return dist.Categorical(logits=logits).to_event(1)

    def register(self) -> None:
        """``pyro.module`` of the trainable part: the whole VAE, or the prior alone when the rest is frozen."""
        frozen = not any(p.requires_grad for p in self.encoder.parameters())
        if frozen and self.prior is not None:
            pyro.module("prior", self.prior)
        else:
            pyro.module("vae", self)

    def model(self, x: torch.Tensor, kl_weight: float = 1.0) -> None:
        self.register()
        with pyro.plate("data", len(x)):
            with poutine.scale(scale=kl_weight):  # scales log p(z) here and log q(z) in the guide: the KL term
                z = pyro.sample("z", self.prior_distribution())
            pyro.sample("x", self.likelihood(z), obs=x)

    def guide(self, x: torch.Tensor, kl_weight: float = 1.0) -> None:
        self.register()
        with pyro.plate("data", len(x)), poutine.scale(scale=kl_weight):
            pyro.sample("z", self.posterior(x))

    @torch.no_grad()
    def bounds(self, x: torch.Tensor, num_samples: int, chunk: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image ELBO and importance-weighted log p(x) (nats) from ``num_samples`` draws of q (eval mode)."""
        training = self.training
        self.eval()
        elbo, iwae = [], []
        for part in x.split(chunk):
            q = self.posterior(part)
            z = q.sample((num_samples,))  # (K, n, latent)
            log_w = self.likelihood(z).log_prob(part) + self.prior_distribution().log_prob(z) - q.log_prob(z)
            elbo.append(log_w.mean(0))
            iwae.append(torch.logsumexp(log_w, 0) - math.log(num_samples))
        self.train(training)
        return torch.cat(elbo), torch.cat(iwae)


def train(
    vae: VAE,
    data: dict[str, torch.Tensor],
    epochs: int,
    batch: int,
    patience: int,
    progress: bool,
    prior_lr: float = 1e-3,
    kl_warmup: int = 0,
    ema: float = 0.0,
) -> tuple[int, list[tuple[float, float]]]:
    """SVI with early stopping on the validation ELBO; returns the best epoch and the learning curves.

    The weight of the KL term rises linearly from 0 to 1 over the first ``kl_warmup`` epochs.
    With ``ema`` > 0 the weights that are evaluated, and kept, are an exponential moving
    average of the SGD iterates (torch's ``AveragedModel``, updated after every step), which
    smooths the validation curve that early stopping reads; SVI still steps the raw weights.
    The curves are the ELBO per epoch on the validation split and on as many training images.
    """
    pyro.clear_param_store()

    def optim_args(name: str) -> dict[str, float]:  # name: "vae.prior...", "prior..." or "vae.encoder..."
        return {"lr": prior_lr if name.startswith(("vae.prior.", "prior.")) else 1e-3}

    svi = SVI(vae.model, vae.guide, Adam(optim_args), Trace_ELBO())
    averaged = AveragedModel(vae, multi_avg_fn=get_ema_multi_avg_fn(ema)) if ema else None
    evaluated = averaged.module if averaged else vae
    best, best_state, best_epoch = -math.inf, copy.deepcopy(vae.state_dict()), 0
    curves, train_part = [], data["train"][: len(data["val"])]
    bar = tqdm(range(epochs), desc=f"VAE ({'MADE' if vae.prior else 'N(0, I)'} prior)", disable=not progress)
    for epoch in bar:
        kl_weight = min(1.0, (epoch + 1) / (kl_warmup + 1))
        for idx in torch.randperm(len(data["train"])).split(batch):
            svi.step(data["train"][idx], kl_weight)
            if averaged:
                averaged.update_parameters(vae)
        val_elbo = evaluated.bounds(data["val"], num_samples=10)[0].mean().item()
        with torch.random.fork_rng():  # the curve does not change the training's random stream
            curves.append((val_elbo, evaluated.bounds(train_part, num_samples=10)[0].mean().item()))
        if val_elbo > best:
            best, best_state, best_epoch = val_elbo, copy.deepcopy(evaluated.state_dict()), epoch
        bar.set_postfix(val_elbo=f"{val_elbo:.2f}", best=f"{best:.2f}")
        if epoch - max(best_epoch, kl_warmup) >= patience:
            break
    vae.load_state_dict(best_state)
    return best_epoch, curves


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
        means = vae.posterior(test).mean  # (n, latent)
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


def save_curves(curves: dict[str, list[tuple[float, float]]], names: dict[str, str], out: Path) -> Path:
    """Validation and training ELBO per epoch of the VAEs trained from scratch, best epochs marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    styles = zip(curves.items(), ("tab:blue", "tab:orange"), ((4, -14), (4, 6)), strict=False)
    for (variant, curve), color, label_offset in styles:
        val, train_elbo = zip(*curve, strict=True)
        epochs = range(1, len(curve) + 1)
        best = max(range(len(val)), key=val.__getitem__)
        ax.plot(epochs, val, color=color, label=f"{names[variant]}: validation")
        ax.plot(epochs, train_elbo, color=color, linestyle="--", label=f"{names[variant]}: training images")
        ax.plot(best + 1, val[best], "o", color=color)
        position = (best + 1, val[best])
        ax.annotate(
            f"{val[best]:.2f}", position, textcoords="offset points", xytext=label_offset, fontsize=8, color=color
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("ELBO (nats per image)")
    lowest = min(v for curve in curves.values() for pair in curve for v in pair)
    ax.set_ylim(max(lowest, -130.0), None)  # the first epochs are far below
    ax.set_title("VAEs trained from scratch (dots: the early-stopped epoch)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)
    return out / "curves.png"


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latent", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--prior-model", choices=("made", "transformer"), default="made", help="the learned prior")
    parser.add_argument(
        "--prior-hidden", type=int, default=256, help="MADE hidden layer width, or the Transformer's d_model"
    )
    parser.add_argument("--components", type=int, default=3, help="NormalMixture components of the prior")
    parser.add_argument("--prior-lr", type=float, default=1e-3, help="Adam learning rate of the prior (rest: 1e-3)")
    parser.add_argument(
        "--prior-init",
        choices=("random", "standard"),
        default="standard",
        help="the learned prior's start (MADE or Transformer): random output layer, or zeroed so it starts as N(0, I)",
    )
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated subset of {','.join(VARIANTS)} (a variant needs the ones it starts from)",
    )
    parser.add_argument(
        "--kl-warmup", type=int, default=0, help="epochs over which the KL weight rises to 1 (VAEs from scratch)"
    )
    parser.add_argument(
        "--decoder",
        choices=("categorical", "logistic"),
        default="logistic",
        help="per pixel: 17 free logits, or one discretized logistic (DiscretizedLogisticMixture(1, 17))",
    )
    parser.add_argument("--ema", type=float, default=0.98, help="moving average of the weights: decay per step, 0: off")
    parser.add_argument("--dropout", type=float, default=0.0, help="dropout after the encoder's and decoder's ReLUs")
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
    head = "Normal" if args.components == 1 else f"NormalMixture({args.components})"
    made = f"{'MADE' if args.prior_model == 'made' else 'Transformer'}({head})"
    names = {
        "standard": "N(0, I)",
        "made": f"{made}, joint",
        "made_fit": f"{made}, prior fit",
        "standard_again": "N(0, I), trained again",
        "made_fit_joint": f"{made}, prior fit + joint",
    }
    variants = args.variants.split(",")
    for variant in variants:
        missing = [v for v in VARIANTS.get(variant, ()) if v not in variants]
        if variant not in VARIANTS or missing:
            parser.error(f"--variants: {variant!r} is not one of {list(VARIANTS)} or needs {missing}")
    names = {v: names[v] for v in VARIANTS if v in variants}
    controls = {"made": "standard", "made_fit": "standard", "made_fit_joint": "standard_again"}
    controls = {v: c for v, c in controls.items() if v in names and c in names}
    results, per_image, vaes, curves = {}, {}, {}, {}

    def new_vae(prior: str) -> VAE:
        sizes = (args.latent, args.hidden, prior, args.prior_hidden, args.components)
        return VAE(*sizes, args.prior_init, args.dropout, args.prior_model, args.decoder)

    for variant in names:
        torch.manual_seed(args.seed)
        if variant in ("standard", "made"):
            vae = new_vae(variant)
        elif variant == "made_fit":  # the trained standard VAE, frozen, plus a learned prior
            vae = copy.deepcopy(vaes["standard"])
            vae.prior = new_vae("made").prior  # built as in a whole VAE: the same initial weights
            vae.encoder.requires_grad_(False)
            vae.decoder.requires_grad_(False)
        elif variant == "standard_again":  # a second round of training, the control of the next one
            vae = copy.deepcopy(vaes["standard"])
        else:  # then everything together again
            vae = copy.deepcopy(vaes["made_fit"]).requires_grad_(True)
        warmup = args.kl_warmup if variant in ("standard", "made") else 0
        torch.manual_seed(args.seed + 2)  # every variant: the same minibatches and the same draws of q
        best_epoch, curves[variant] = train(
            vae, data, args.epochs, args.batch, args.patience, not args.no_progress, args.prior_lr, warmup, args.ema
        )
        torch.manual_seed(args.seed + 1)
        elbo, iwae = vae.bounds(data["test"], num_samples=args.iw_samples)
        per_image[variant], vaes[variant] = (elbo, iwae), vae
        results[variant] = {"elbo": elbo.mean().item(), "log_px": iwae.mean().item(), "best_epoch": best_epoch + 1}
    print(f"test split, nats per image ({args.iw_samples} importance samples), latent {args.latent}")
    width = max(map(len, names.values())) + 2
    print(f"{'prior':<{width}}{'ELBO':>10}{'log p(x) (IW)':>16}{'best epoch':>12}")
    for variant, r in results.items():
        print(f"{names[variant]:<{width}}{r['elbo']:>10.2f}{r['log_px']:>16.2f}{r['best_epoch']:>12d}")
    for variant, control in controls.items():
        for i, name in enumerate(("ELBO", "log p(x)")):
            diff = per_image[variant][i] - per_image[control][i]  # paired over the same test images
            error = diff.std().item() / math.sqrt(len(diff))
            results[f"gain_{name}_{variant}"] = {"mean": diff.mean().item(), "stderr": error}
            gain = f"{diff.mean().item():+.2f} +- {error:.2f} nats (paired, 1 s.e.)"
            print(f"{names[variant]} - {names[control]}, {name}: {gain}")
    figures = save_figures(vaes, data["test"], names, args.out)
    figures.append(save_curves({v: c for v, c in curves.items() if v in ("standard", "made")}, names, args.out))
    print(f"figures -> {', '.join(map(str, figures))}")
    return results


if __name__ == "__main__":
    main()
