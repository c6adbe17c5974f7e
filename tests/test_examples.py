"""Examples run end to end at tiny size (the full runs are documented in docs/results.md)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # subprocess runs of the examples: `pytest -m "not slow"` is the fast inner loop


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), "--quick", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_made_digits(tmp_path):
    out = run_example("made_digits.py", "--out", str(tmp_path))
    assert "MADE, Categorical(17)" in out and "independent histograms" in out
    assert (tmp_path / "samples.png").stat().st_size > 0
    assert (tmp_path / "model" / "config.json").exists()


def test_svi_maximum_likelihood_equals_direct_minimisation(tmp_path):
    out = run_example("svi_maximum_likelihood.py", "--out", str(tmp_path))
    gap = float(out.split("largest parameter difference ")[1].split()[0])
    assert gap < 1e-10
    assert (tmp_path / "training_curves.png").stat().st_size > 0


def test_vae_learned_prior(tmp_path):
    out = run_example("vae_learned_prior.py", "--out", str(tmp_path))
    assert "N(0, I)" in out and "MADE(NormalMixture(3))" in out and "paired" in out
    for name in ("latents.png", "samples_standard.png", "samples_made.png", "curves.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("options", [["--ema", "0.5"], ["--decoder", "categorical", "--ema", "0"]])
def test_vae_learned_prior_pairs_the_variants(tmp_path, options):
    """A prior that starts as N(0, I) and never learns (lr 0) trains exactly as N(0, I) does: same batches and draws."""
    flags = ["--variants", "standard,made", "--components", "1", "--prior-lr", "0", "--epochs", "3", *options]
    out = run_example("vae_learned_prior.py", "--out", str(tmp_path), *flags)
    gains = [line.split(": ")[-1] for line in out.splitlines() if line.startswith("MADE(Normal), joint - N(0, I)")]
    assert len(gains) == 2 and all(g.split()[0] in ("+0.00", "-0.00") for g in gains), gains


def test_vae_learned_prior_options(tmp_path):
    flags = ["--variants", "standard,made", "--prior-init", "standard", "--components", "1", "--kl-warmup", "1"]
    out = run_example("vae_learned_prior.py", "--out", str(tmp_path), "--prior-lr", "1e-4", *flags)
    assert "MADE(Normal), joint - N(0, I), ELBO" in out and "prior fit" not in out
    with pytest.raises(AssertionError, match="needs"):
        run_example("vae_learned_prior.py", "--variants", "made_fit")


def test_vae_learned_prior_transformer(tmp_path):
    flags = ["--prior-model", "transformer", "--variants", "standard,made_fit"]
    out = run_example("vae_learned_prior.py", "--out", str(tmp_path), *flags)
    assert "Transformer(NormalMixture(3)), prior fit - N(0, I), ELBO" in out
    assert (tmp_path / "samples_made_fit.png").stat().st_size > 0


@pytest.mark.parametrize("prior_model", ["made", "transformer"])
@pytest.mark.parametrize("components", [1, 3])
def test_vae_prior_starts_as_standard_normal(components, prior_model):
    example = load_script("examples/vae_learned_prior.py")
    torch.manual_seed(0)
    sizes = {"latent": 5, "hidden": 8, "prior": "made", "prior_hidden": 16, "components": components}
    vae = example.VAE(**sizes, prior_init="standard", prior_model=prior_model)
    z = torch.randn(100, 5)
    standard = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    with torch.no_grad():
        learned = vae.prior_distribution().log_prob(z)
    # exact for one component; a mixture's locations are spread by +-0.1 (log-density within 0.1 nats)
    assert torch.allclose(learned, standard, atol=1e-5 if components == 1 else 0.1)


def test_vae_logistic_decoder_is_the_heads_distribution():
    """The logistic decoder gives each pixel the head's exact pmf over the 17 levels (normalised, its log_prob)."""
    example = load_script("examples/vae_learned_prior.py")
    torch.manual_seed(0)
    vae = example.VAE(latent=5, hidden=8, prior="standard", decoder="logistic")
    z, x = torch.randn(7, 5), torch.randint(0, 17, (7, 64))
    params = vae.decoder(z).unflatten(-1, (64, -1))  # (7, 64, P)
    table = vae.pixel_head.log_prob(params.unsqueeze(-2), torch.arange(17).unsqueeze(-1))  # (7, 64, 17), raw
    assert torch.allclose(table.logsumexp(-1), torch.zeros(7, 64), atol=1e-5)  # the head itself sums to 1
    expected = vae.pixel_head.log_prob(params, x.unsqueeze(-1)).sum(-1)
    assert torch.allclose(vae.likelihood(z).log_prob(x), expected, atol=1e-4)


def test_nuts_learned_prior(tmp_path):
    out = run_example("nuts_learned_prior.py", "--out", str(tmp_path))
    assert "ESS" in out and "R-hat" in out
    assert (tmp_path / "posterior.png").stat().st_size > 0


def test_pixelcnnpp_photos(tmp_path):
    out = run_example("pixelcnnpp_photos.py", "--out", str(tmp_path))
    assert "PixelCNN++" in out and "independent per-(channel, pixel) histograms" in out
    assert (tmp_path / "samples.png").stat().st_size > 0 and (tmp_path / "completions.png").stat().st_size > 0


def numbers_after(out: str, label: str) -> list[float]:
    """The numbers printed on the line that starts with ``label``."""
    line = next(line for line in out.splitlines() if line.startswith(label))
    return [float(word.split("/")[0]) for word in line[len(label) :].split()]


def test_vqvae_prior(tmp_path):
    out = run_example("vqvae_prior.py", "--out", str(tmp_path))
    for label in ("uniform (log K per code)", "independent histograms", "GatedPixelCNN(8, 1 layers)"):
        nll_codes, nll_given_codes, bound = numbers_after(out, label)
        assert math.isfinite(bound) and bound == pytest.approx(-(nll_codes + nll_given_codes), abs=0.02)
    assert numbers_after(out, "uniform (log K per code)")[0] == pytest.approx(16 * math.log(8), abs=0.01)
    assert "paired" in out
    assert (tmp_path / "samples.png").stat().st_size > 0
    assert (tmp_path / "reconstructions.png").stat().st_size > 0


def test_pixelvae(tmp_path):
    out = run_example("pixelvae.py", "--out", str(tmp_path))
    for label in ("factorised (MLP)", "GatedPixelCNN(8, 1 layers)"):
        elbo, log_px, recon, kl = numbers_after(out, label)[:4]
        assert all(math.isfinite(v) for v in (elbo, log_px, recon, kl))
        assert elbo == pytest.approx(recon - kl, abs=0.02) and kl >= 0
    assert "paired" in out
    assert (tmp_path / "samples.png").stat().st_size > 0
