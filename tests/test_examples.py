"""Examples run end to end at tiny size (the full runs are documented in docs/results.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def test_svi_maximum_likelihood_equals_direct_minimisation():
    out = run_example("svi_maximum_likelihood.py")
    gap = float(out.split("largest parameter difference ")[1].split()[0])
    assert gap < 1e-10


def test_vae_learned_prior():
    out = run_example("vae_learned_prior.py")
    assert "N(0, I)" in out and "MADE(NormalMixture(3))" in out and "paired" in out


def test_nuts_learned_prior():
    out = run_example("nuts_learned_prior.py")
    assert "ESS" in out and "R-hat" in out
