"""A PixelVAE-style VAE on the digits: a Gated PixelCNN decoder conditioned on the latent.

Gaussian encoder ``q(z | x)`` and ``N(0, I)`` prior as in
``examples/vae_learned_prior.py`` (latent 16); two decoders ``p(x | z)`` over the
8x8 image with 17 grey levels:

* ``mlp``: a factorised ``Categorical(17)`` per pixel from an MLP of ``z``;
* ``pixelcnn``: ``GatedPixelCNN((1, 8, 8), Categorical(17), context_size=16,
  local_context_channels=4)``, given ``z`` as the global ``context`` and a
  ``(4, 8, 8)`` map made from ``z`` by a linear layer as the ``local_context``
  (Gulrajani et al. 2016, https://arxiv.org/abs/1611.05013).

The decoder is the site ``pyro.sample("x", decoder.condition(context=z,
local_context=...), obs=x)`` under ``pyro.plate``, unchanged; ``Trace_ELBO``
trains encoder and decoder jointly.

Reports, on the test split in nats per image: the ELBO, an importance-weighted
estimate of ``log p(x)``, the expected reconstruction term ``E_q log p(x | z)``,
``KL(q(z | x) || p(z))`` and the number of active latent units
(``Cov_x(E_q[z_u]) > 0.01``, Burda et al. 2015): an autoregressive decoder can
model the image without ``z`` and is known to drive the KL term towards 0.

The loop is the example's own (``SVI``, early stopping on the validation ELBO), not
``pyro_autoregressive.training.fit``: that fits one model by maximum likelihood, and a
VAE maximises an ELBO over encoder and decoder.

    python examples/pixelvae.py            # 3-5 minutes on one core
    python examples/pixelvae.py --quick    # seconds
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from torch import nn
from torch.distributions import kl_divergence
from tqdm.auto import tqdm

import pyro_autoregressive as par
from pyro_autoregressive.datasets import DIGITS_LEVELS, load_digits_split
from pyro_autoregressive.plotting import save_image_grid

IMAGE = (1, 8, 8)
PIXELS = 64


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class PixelVAE(nn.Module):
    """Encoder, ``N(0, I)`` prior and a factorised or autoregressive decoder; ``model``/``guide`` are Pyro programs."""

    def __init__(self, decoder: str, latent: int, hidden: int, pixel_hidden: int, pixel_layers: int, local: int):
        super().__init__()
        self.latent, self.local = latent, local
        self.encoder = mlp([PIXELS, hidden, hidden, 2 * latent])
        self.to_local: nn.Module | None = None  # z -> the local_context map of the PixelCNN decoder
        if decoder == "mlp":
            self.decoder: nn.Module = mlp([latent, hidden, hidden, PIXELS * DIGITS_LEVELS])
        else:
            self.decoder = par.GatedPixelCNN(
                IMAGE,
                par.heads.Categorical(DIGITS_LEVELS),
                hidden_channels=pixel_hidden,
                num_layers=pixel_layers,
                context_size=latent,
                local_context_channels=local,
            )
            self.to_local = nn.Linear(latent, local * PIXELS) if local else None

    def prior(self) -> dist.TorchDistribution:
        zeros = torch.zeros(self.latent)
        return dist.Normal(zeros, torch.ones_like(zeros)).to_event(1)

    def posterior(self, x: torch.Tensor) -> dist.TorchDistribution:
        loc, raw_scale = self.encoder(x.flatten(-3).float() / (DIGITS_LEVELS - 1)).chunk(2, dim=-1)
        return dist.Normal(loc, nn.functional.softplus(raw_scale) + 1e-4).to_event(1)

    def likelihood(self, z: torch.Tensor) -> dist.TorchDistribution:
        """``p(x | z)`` with batch shape ``z.shape[:-1]`` and event shape ``(1, 8, 8)``."""
        if not isinstance(self.decoder, par.GatedPixelCNN):
            logits = self.decoder(z).unflatten(-1, (*IMAGE, DIGITS_LEVELS))  # (..., 1, 8, 8, 17)
            return dist.Categorical(logits=logits).to_event(3)
        local = None if self.to_local is None else self.to_local(z).unflatten(-1, (self.local, *IMAGE[1:]))
        return self.decoder.condition(context=z, local_context=local)  # local: (..., channels, 8, 8)

    def model(self, x: torch.Tensor) -> None:
        pyro.module("vae", self)
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", self.prior())
            pyro.sample("x", self.likelihood(z), obs=x)

    def guide(self, x: torch.Tensor) -> None:
        pyro.module("vae", self)
        with pyro.plate("data", len(x)):
            pyro.sample("z", self.posterior(x))

    @torch.no_grad()
    def bounds(self, x: torch.Tensor, num_samples: int, max_batch: int = 2000) -> dict[str, torch.Tensor]:
        """Per image: ELBO, importance-weighted ``log p(x)``, ``E_q log p(x | z)`` and the KL (nats).

        The images go in chunks of ``max_batch // num_samples`` so that one decoder
        pass sees at most ``max_batch`` images (100 samples of a PixelCNN decoder
        are 100 network passes per image).
        """
        out: dict[str, list[torch.Tensor]] = {"elbo": [], "log_px": [], "recon": [], "kl": []}
        for part in x.split(max(1, max_batch // num_samples)):
            q = self.posterior(part)
            z = q.sample((num_samples,))  # (S, n, latent)
            log_lik = self.likelihood(z).log_prob(part)  # (S, n)
            log_w = log_lik + self.prior().log_prob(z) - q.log_prob(z)
            kl = kl_divergence(q, self.prior())  # analytic, (n,)
            out["recon"].append(log_lik.mean(0))
            out["kl"].append(kl)
            out["elbo"].append(log_lik.mean(0) - kl)
            out["log_px"].append(torch.logsumexp(log_w, 0) - math.log(num_samples))
        return {name: torch.cat(values) for name, values in out.items()}

    @torch.no_grad()
    def active_units(self, x: torch.Tensor, threshold: float = 0.01) -> int:
        """Latent dimensions whose posterior mean varies over ``x``: ``Cov_x(E_q[z_u]) > threshold``."""
        return int((self.posterior(x).mean.var(0) > threshold).sum())


def train(vae: PixelVAE, data: dict[str, torch.Tensor], args: argparse.Namespace, name: str) -> tuple[int, int, float]:
    """SVI with ``Trace_ELBO``; keeps the weights of the best validation ELBO (5 samples per image).

    Returns the best epoch, the epochs run and the seconds taken.
    """
    pyro.clear_param_store()
    svi = SVI(vae.model, vae.guide, Adam({"lr": args.lr}), Trace_ELBO())
    best, best_state, best_epoch = -math.inf, copy.deepcopy(vae.state_dict()), 0
    started = time.perf_counter()
    bar = tqdm(range(args.epochs), desc=f"VAE ({name} decoder)", disable=args.no_progress)
    for epoch in bar:
        for idx in torch.randperm(len(data["train"])).split(args.batch):
            svi.step(data["train"][idx])
        val_elbo = vae.bounds(data["val"], num_samples=5)["elbo"].mean().item()
        if val_elbo > best:
            best, best_state, best_epoch = val_elbo, copy.deepcopy(vae.state_dict()), epoch
        bar.set_postfix(val_elbo=f"{val_elbo:.2f}", best=f"{best:.2f}")
        if epoch - best_epoch >= args.patience or time.perf_counter() - started > 60 * args.max_minutes:
            break
    vae.load_state_dict(best_state)
    return best_epoch, epoch + 1, time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latent", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=256, help="encoder (and MLP decoder) width")
    parser.add_argument("--pixel-hidden", type=int, default=32, help="GatedPixelCNN hidden_channels")
    parser.add_argument("--pixel-layers", type=int, default=4, help="GatedPixelCNN num_layers")
    parser.add_argument("--local-channels", type=int, default=4, help="local_context channels (0: context only)")
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-minutes", type=float, default=3.0, help="training time limit per decoder")
    parser.add_argument("--iw-samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/pixelvae"))
    parser.add_argument("--quick", action="store_true", help="tiny networks, 2 epochs (smoke test)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.pixel_hidden, args.pixel_layers, args.epochs, args.iw_samples = 16, 8, 1, 2, 10

    data = load_digits_split(as_images=True)  # (N, 1, 8, 8) levels 0..16
    names = {
        "mlp": "factorised (MLP)",
        "pixelcnn": f"GatedPixelCNN({args.pixel_hidden}, {args.pixel_layers} layers)",
    }
    results: dict[str, dict[str, float]] = {}
    per_image, models = {}, {}
    for decoder in names:
        torch.manual_seed(args.seed)
        vae = PixelVAE(decoder, args.latent, args.hidden, args.pixel_hidden, args.pixel_layers, args.local_channels)
        best_epoch, epochs, seconds = train(vae, data, args, decoder)
        torch.manual_seed(args.seed + 1)
        started = time.perf_counter()
        per_image[decoder] = bounds = vae.bounds(data["test"], num_samples=args.iw_samples)
        results[decoder] = {name: values.mean().item() for name, values in bounds.items()}
        results[decoder] |= {
            "active_units": vae.active_units(data["test"]),
            "best_epoch": best_epoch + 1,
            "epochs": epochs,
            "train_seconds": seconds,
            "eval_seconds": time.perf_counter() - started,
        }
        models[decoder] = vae

    print(f"test split, nats per image ({args.iw_samples} importance samples), latent {args.latent}, N(0, I) prior")
    header = f"{'decoder':<32}{'ELBO':>9}{'log p(x) (IW)':>15}{'E_q log p(x|z)':>16}{'KL':>7}{'active':>8}"
    print(header + f"{'best/run epochs':>17}{'train s':>9}")
    for decoder, r in results.items():
        print(
            f"{names[decoder]:<32}{r['elbo']:>9.2f}{r['log_px']:>15.2f}{r['recon']:>16.2f}{r['kl']:>7.2f}"
            f"{r['active_units']:>5d}/{args.latent:<2d}{r['best_epoch']:>13d}/{r['epochs']:<3d}{r['train_seconds']:>9.0f}"
        )
    for name, key in (("ELBO", "elbo"), ("log p(x)", "log_px")):
        diff = per_image["pixelcnn"][key] - per_image["mlp"][key]  # paired over the same test images
        error = diff.std().item() / math.sqrt(len(diff))
        results[f"gain_{key}"] = {"mean": diff.mean().item(), "stderr": error}
        print(f"PixelCNN - factorised decoder, {name}: {diff.mean().item():+.2f} +- {error:.2f} nats (paired, 1 s.e.)")

    # 8 draws of z ~ N(0, I), 8 images x ~ p(x | z) each: one row per z
    vae = models["pixelcnn"]
    torch.manual_seed(args.seed + 2)
    with torch.no_grad():
        z = vae.prior().sample((8,))  # (8, latent)
        images = vae.likelihood(z).sample((8,))  # (8 draws, 8 z, 1, 8, 8), cached sampling
    grid = images.transpose(0, 1).reshape(-1, *IMAGE)  # row r: the draws given z_r
    title = f"{names['pixelcnn']} decoder: one z ~ N(0, I) per row, 8 draws of x | z"
    path = save_image_grid(grid, args.out / "samples.png", DIGITS_LEVELS, ncols=8, title=title)
    print(f"samples -> {path}")
    return results


if __name__ == "__main__":
    main()
