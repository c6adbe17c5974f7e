"""A VQ-VAE on the digits with a Gated PixelCNN prior over its grid of discrete codes.

Two stages, as in van den Oord et al. (2017), https://arxiv.org/abs/1711.00937.

Stage 1, plain torch: a convolutional encoder maps the 8x8 image to a 4x4 grid of
vectors, each replaced by its nearest entry of a codebook of ``K = 8`` vectors
(straight-through gradient, codebook and commitment losses). Encoder outputs
and entries have unit length (nearest by cosine, as in Yu et al. 2021,
https://arxiv.org/abs/2110.04627), the entries start at encoder outputs and
unused ones are restarted there after every epoch: without these the codebook
collapsed to one entry. A convolutional decoder maps the quantised grid to a
factorised ``Categorical(17)`` per pixel, ``p(x | c)``.

Stage 2, Pyro: the prior ``p(c)`` over the code grid is
``GatedPixelCNN((1, 4, 4), Categorical(K))``, fitted to the training codes by
``SVI`` + ``Trace_ELBO`` with an empty guide:
``pyro.sample("codes", prior.condition(), obs=codes)`` under a subsampling
``pyro.plate``.

The bound. Under the generative model ``p(c) p(x | c)`` (``c`` discrete), for
any one code grid ``c*``

    log p(x) = log sum_c p(c) p(x | c) >= log p(c*) + log p(x | c*),

with the gap ``-log p(c* | x) >= 0``. With ``c*`` the encoder's codes of ``x``
this is the ELBO of a point-mass ``q(c | x)`` (entropy 0). It is reported for
three priors over the same codes and decoder: uniform (``log K`` per code),
independent per-position histograms (add-one smoothing), and the PixelCNN.

Both stages keep their own loops rather than ``pyro_autoregressive.training.fit``:
stage 1 is not a likelihood of an autoregressive model (VQ losses, codebook restarts),
and stage 2 deliberately fits the prior through Pyro (``SVI``), the way it would be
trained inside a larger Pyro model.

    python examples/vqvae_prior.py            # under a minute on one core
    python examples/vqvae_prior.py --quick    # seconds
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
import torch.nn.functional as F
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from torch import nn
from tqdm.auto import tqdm

import pyro_autoregressive as par
from pyro_autoregressive.datasets import DIGITS_LEVELS, load_digits_split
from pyro_autoregressive.plotting import save_image_grid


class VQVAE(nn.Module):
    """Encoder to a ``(G, G)`` grid of codes from a codebook of ``K`` entries, decoder to ``p(x | c)``."""

    def __init__(self, grid: int, num_codes: int, code_dim: int, hidden: int) -> None:
        super().__init__()
        downsamples = int(math.log2(8 // grid))
        if 2**downsamples * grid != 8:
            raise ValueError(f"grid: expected 1, 2, 4 or 8, got {grid}")
        self.grid, self.num_codes = grid, num_codes
        down: list[nn.Module] = [nn.Conv2d(1, hidden, 3, padding=1), nn.ReLU()]
        up: list[nn.Module] = [nn.Conv2d(code_dim, hidden, 3, padding=1), nn.ReLU()]
        for _ in range(downsamples):
            down += [nn.Conv2d(hidden, hidden, 4, stride=2, padding=1), nn.ReLU()]  # halves H and W
            up += [nn.ConvTranspose2d(hidden, hidden, 4, stride=2, padding=1), nn.ReLU()]  # doubles them
        down += [nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, code_dim, 1)]
        up += [nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, DIGITS_LEVELS, 1)]
        self.encoder = nn.Sequential(*down)  # (N, 1, 8, 8) -> (N, D, G, G)
        self.decoder = nn.Sequential(*up)  # (N, D, G, G) -> (N, 17, 8, 8) logits
        self.codebook = nn.Embedding(num_codes, code_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(N, 1, 8, 8)`` to encoder outputs ``(N, D, G, G)`` and codes ``(N, 1, G, G)``."""
        z_e = F.normalize(self.encoder(x.float() / (DIGITS_LEVELS - 1) * 2 - 1), dim=1)  # (N, D, G, G)
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])  # (N * G * G, D)
        codes = torch.cdist(flat, self.entries()).argmin(-1)  # nearest entry
        return z_e, codes.reshape(len(x), 1, self.grid, self.grid)

    def entries(self) -> torch.Tensor:
        """The codebook ``(K, D)``, each entry of unit length."""
        return F.normalize(self.codebook.weight, dim=1)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(*B, 1, G, G)`` to codebook vectors ``(*B, D, G, G)``."""
        return F.embedding(codes.squeeze(-3), self.entries()).movedim(-1, -3)

    @torch.no_grad()
    def restart(self, x: torch.Tensor, entries: torch.Tensor) -> None:
        """Move the codebook ``entries`` (indices) to encoder outputs of random positions of ``x``."""
        z_e = self.encode(x)[0].permute(0, 2, 3, 1).flatten(0, 2)  # (N * G * G, D)
        self.codebook.weight[entries] = z_e[torch.randint(len(z_e), (len(entries),))]

    def likelihood(self, z_q: torch.Tensor) -> dist.TorchDistribution:
        """``p(x | c)``: a ``Categorical(17)`` per pixel, event shape ``(1, 8, 8)``."""
        logits = self.decoder(z_q).permute(0, 2, 3, 1).unsqueeze(1)  # (N, 1, 8, 8, 17)
        return dist.Categorical(logits=logits).to_event(3)

    def loss(self, x: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean per image of ``-log p(x | c) + |sg(z_e) - e|^2 + beta |z_e - sg(e)|^2``, and the codes."""
        z_e, codes = self.encode(x)
        e = self.embed(codes)  # (N, D, G, G)
        z_q = z_e + (e - z_e).detach()  # straight-through: the forward value is e, the gradient goes to z_e
        nll = -self.likelihood(z_q).log_prob(x)
        codebook = (z_e.detach() - e).pow(2).flatten(1).sum(1)
        commitment = (z_e - e.detach()).pow(2).flatten(1).sum(1)
        return (nll + codebook + beta * commitment).mean(), codes

    @torch.no_grad()
    def reconstruction(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes ``c*`` of ``x`` and ``log p(x | c*)`` per image."""
        codes = self.encode(x)[1]
        return codes, self.likelihood(self.embed(codes)).log_prob(x)


def train_vqvae(vq: VQVAE, data: dict[str, torch.Tensor], args: argparse.Namespace) -> tuple[int, int]:
    """Stage 1 with plain torch; early stopping on the validation ``-log p(x | c*)``."""
    vq.restart(data["train"][: args.batch], torch.arange(vq.num_codes))  # data-dependent initialisation
    optimiser = torch.optim.Adam(vq.parameters(), lr=args.lr)
    best, best_state, best_epoch = -math.inf, copy.deepcopy(vq.state_dict()), 0
    started = time.perf_counter()
    bar = tqdm(range(args.epochs), desc="stage 1: VQ-VAE", disable=args.no_progress)
    for epoch in bar:
        counts = torch.zeros(vq.num_codes)
        for idx in torch.randperm(len(data["train"])).split(args.batch):
            loss, codes = vq.loss(data["train"][idx], args.beta)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            counts += torch.bincount(codes.flatten(), minlength=vq.num_codes)
        dead = (counts == 0).nonzero().flatten()
        if len(dead):
            vq.restart(data["train"][idx], dead)  # unused entries: restart at encoder outputs
        val = vq.reconstruction(data["val"])[1].mean().item()
        if val > best:
            best, best_state, best_epoch = val, copy.deepcopy(vq.state_dict()), epoch
        bar.set_postfix(val_log_px_given_c=f"{val:.2f}", best=f"{best:.2f}")
        if epoch - best_epoch >= args.patience or time.perf_counter() - started > 60 * args.max_minutes:
            break
    vq.load_state_dict(best_state)
    return best_epoch, epoch + 1


def train_prior(prior: par.GatedPixelCNN, codes: dict[str, torch.Tensor], args: argparse.Namespace) -> tuple[int, int]:
    """Stage 2 with Pyro: maximum likelihood by SVI with an empty guide, early stopping on validation NLL."""
    pyro.clear_param_store()

    def model(codes: torch.Tensor) -> None:
        pyro.module("prior", prior)
        with pyro.plate("data", len(codes), subsample_size=args.batch) as idx:
            pyro.sample("codes", prior.condition(), obs=codes[idx])

    def guide(codes: torch.Tensor) -> None:
        pass

    svi = SVI(model, guide, Adam({"lr": args.lr}), Trace_ELBO())
    best, best_state, best_epoch = -math.inf, copy.deepcopy(prior.state_dict()), 0
    started = time.perf_counter()
    bar = tqdm(range(args.epochs), desc="stage 2: PixelCNN prior", disable=args.no_progress)
    for epoch in bar:
        for _ in range(math.ceil(len(codes["train"]) / args.batch)):
            svi.step(codes["train"])
        with torch.no_grad():
            val = prior.condition().log_prob(codes["val"]).mean().item()
        if val > best:
            best, best_state, best_epoch = val, copy.deepcopy(prior.state_dict()), epoch
        bar.set_postfix(val_log_pc=f"{val:.2f}", best=f"{best:.2f}")
        if epoch - best_epoch >= args.patience or time.perf_counter() - started > 60 * args.max_minutes:
            break
    prior.load_state_dict(best_state)
    return best_epoch, epoch + 1


def histogram_log_prob(train: torch.Tensor, test: torch.Tensor, num_codes: int) -> torch.Tensor:
    """Per-image ``log p(c)`` under independent per-position histograms (add-one smoothing)."""
    train, test = train.flatten(1), test.flatten(1)  # (N, G * G)
    counts = torch.stack([torch.bincount(column, minlength=num_codes) for column in train.T]).double() + 1.0
    log_p = (counts / counts.sum(1, keepdim=True)).log()  # (G * G, K)
    return log_p.gather(1, test.T).sum(0).float()  # (N_test,)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=4, help="the code grid is grid x grid")
    parser.add_argument("--codes", type=int, default=8, help="codebook size K")
    parser.add_argument("--code-dim", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64, help="VQ-VAE channels")
    parser.add_argument("--beta", type=float, default=0.25, help="commitment weight")
    parser.add_argument("--prior-hidden", type=int, default=32, help="GatedPixelCNN hidden_channels")
    parser.add_argument("--prior-layers", type=int, default=4, help="GatedPixelCNN num_layers")
    parser.add_argument("--epochs", type=int, default=300, help="per stage")
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--max-minutes", type=float, default=3.0, help="per stage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/vqvae_prior"))
    parser.add_argument("--quick", action="store_true", help="tiny networks, 2 epochs (smoke test)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.prior_hidden, args.prior_layers, args.epochs = 8, 8, 1, 2

    torch.manual_seed(args.seed)
    data = load_digits_split(as_images=True)  # (N, 1, 8, 8) levels 0..16
    started = time.perf_counter()
    vq = VQVAE(args.grid, args.codes, args.code_dim, args.hidden)
    vq_epoch, vq_epochs = train_vqvae(vq, data, args)
    vq_seconds = time.perf_counter() - started
    codes, log_px_given_c = {}, {}
    for split, images in data.items():
        codes[split], log_px_given_c[split] = vq.reconstruction(images)  # (N, 1, G, G), (N,)
    used = len(codes["train"].unique())

    torch.manual_seed(args.seed)
    first_kernel = max(3, min(7, 2 * args.grid - 1))  # no wider than the code grid needs
    prior = par.GatedPixelCNN(
        (1, args.grid, args.grid),
        par.heads.Categorical(args.codes),
        hidden_channels=args.prior_hidden,
        num_layers=args.prior_layers,
        first_kernel_size=first_kernel,
    )
    started = time.perf_counter()
    prior_epoch, prior_epochs = train_prior(prior, codes, args)
    prior_seconds = time.perf_counter() - started

    test = codes["test"]
    with torch.no_grad():
        log_pc = {
            "uniform": torch.full((len(test),), -test[0].numel() * math.log(args.codes)),
            "histogram": histogram_log_prob(codes["train"], test, args.codes),
            "pixelcnn": prior.condition().log_prob(test),
        }
    recon = log_px_given_c["test"]
    names = {
        "uniform": "uniform (log K per code)",
        "histogram": "independent histograms",
        "pixelcnn": f"GatedPixelCNN({args.prior_hidden}, {args.prior_layers} layers)",
    }
    print(
        f"VQ-VAE: {args.grid}x{args.grid} codes, K = {args.codes} ({used} used), "
        f"best epoch {vq_epoch + 1}/{vq_epochs}, {vq_seconds:.0f} s; "
        f"prior: best epoch {prior_epoch + 1}/{prior_epochs}, {prior_seconds:.0f} s"
    )
    print("test split, nats per image; bound on log p(x) = log p(c*) + log p(x | c*), c* = the encoder's codes")
    print(f"{'prior over codes':<34}{'-log p(c*)':>12}{'-log p(x|c*)':>14}{'bound on log p(x)':>20}")
    results: dict[str, float] = {"used_codes": float(used), "log_px_given_c": recon.mean().item()}
    for prior_name, lp in log_pc.items():
        nll, bound = -lp.mean().item(), (lp + recon).mean().item()
        results[f"nll_codes_{prior_name}"], results[f"bound_{prior_name}"] = nll, bound
        print(f"{names[prior_name]:<34}{nll:>12.2f}{-recon.mean().item():>14.2f}{bound:>20.2f}")
    diff = log_pc["pixelcnn"] - log_pc["histogram"]  # paired over the same test images
    results["gain_over_histogram"] = diff.mean().item()
    results["gain_stderr"] = diff.std().item() / math.sqrt(len(diff))
    print(
        f"PixelCNN - histogram prior: {results['gain_over_histogram']:+.2f} +- {results['gain_stderr']:.2f} nats "
        "(paired, 1 s.e.)"
    )

    # pictures: codes from the PixelCNN prior decoded by the decoder's mode; test reconstructions
    num_samples = 16 if args.quick else 64
    with torch.no_grad():
        sampled = prior.condition().sample((num_samples,))  # (S, 1, G, G)
        images = vq.decoder(vq.embed(sampled)).argmax(1, keepdim=True)  # (S, 1, 8, 8) the mode of p(x | c)
        given = data["test"][:16]
        rebuilt = vq.decoder(vq.embed(codes["test"][:16])).argmax(1, keepdim=True)
    grid = torch.cat([given[:8], rebuilt[:8], given[8:], rebuilt[8:]])  # rows: test, reconstruction, test, ...
    title = f"codes ~ GatedPixelCNN prior ({args.grid}x{args.grid}, K={args.codes}), decoder mode"
    samples_png = save_image_grid(images, args.out / "samples.png", DIGITS_LEVELS, ncols=8, title=title)
    recon_png = save_image_grid(
        grid, args.out / "reconstructions.png", DIGITS_LEVELS, ncols=8, title="test (rows 1, 3) | decoder mode of c*"
    )
    print(f"samples -> {samples_png}; reconstructions -> {recon_png}")
    return results


if __name__ == "__main__":
    main()
