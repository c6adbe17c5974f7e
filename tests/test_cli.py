"""The command line end to end at tiny size: train, sample, evaluate."""

from __future__ import annotations

import json

import pytest

from pyro_autoregressive.cli import main


@pytest.mark.slow
def test_train_sample_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--hidden", "8", "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_nll"] > 0 and metrics["baseline_test_nll"] > 0
    assert (out / "samples.png").stat().st_size > 0
    assert main(["sample", str(out / "model"), "--num", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["evaluate", str(out / "model"), "--split", "test"]) == 0
    printed = capsys.readouterr().out
    assert f"{metrics['test_nll']:.2f}" in printed


@pytest.mark.slow
def test_train_image_models(tmp_path):
    for name in ("gated", "transformer"):
        out = tmp_path / name
        assert main(["train", "--model", name, "--epochs", "1", "--out", str(out), "--no-progress"]) == 0
        assert json.loads((out / "metrics.json").read_text())["model"] == name
