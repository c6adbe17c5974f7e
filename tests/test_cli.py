"""The command line end to end at tiny size: train, sample, evaluate."""

from __future__ import annotations

import json

import pytest
import torch

import pyro_autoregressive as par
from pyro_autoregressive import cli
from pyro_autoregressive.cli import flags, main


@pytest.mark.slow
def test_train_sample_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--epochs", "1", "--hidden", "8", "--out", str(out), "--no-progress", "--device", "cpu"]
    assert main([*argv, "--threads", "1", "--ema", "0.9", "--max-grad-norm", "1", "--schedule", "cosine"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_nll"] > 0 and metrics["baseline_test_nll"] > 0
    assert metrics["device"] == "cpu" and len(metrics["history"]) == 1 and metrics["stopped"] == "epochs"
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


BAD_FLAGS = [  # (argv, the flag the one-line error names)
    (["train", "--epochs", "0"], "argument --epochs: expected an int >= 1, got '0'"),
    (["train", "--epochs", "2.5"], "argument --epochs: expected an int >= 1, got '2.5'"),
    (["train", "--batch-size", "-1"], "argument --batch-size: expected an int >= 1, got '-1'"),
    (["train", "--max-minutes", "0"], "argument --max-minutes: expected a finite number > 0, got '0'"),
    (["train", "--max-minutes", "-3"], "argument --max-minutes: expected a finite number > 0, got '-3'"),
    (["train", "--lr", "nan"], "argument --lr: expected a finite number > 0, got 'nan'"),
    (["train", "--lr", "inf"], "argument --lr: expected a finite number > 0, got 'inf'"),
    (["train", "--lr", "fast"], "argument --lr: expected a finite number > 0, got 'fast'"),
    (["train", "--patience", "0"], "argument --patience: expected an int >= 1, got '0'"),
    (["train", "--hidden", "8", "0"], "argument --hidden: expected an int >= 1, got '0'"),
    (["train", "--seed", "-1"], "argument --seed: expected an int >= 0, got '-1'"),
    (["train", "--weight-decay", "-1"], "argument --weight-decay: expected a finite number >= 0, got '-1'"),
    (["train", "--max-grad-norm", "0"], "argument --max-grad-norm: expected a finite number > 0, got '0'"),
    (["train", "--ema", "1"], "argument --ema: expected a finite number > 0 and < 1, got '1'"),
    (["train", "--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    (["train", "--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
    (["train", "--data", "cifar"], "argument --data: invalid choice: 'cifar'"),
    (["train", "--device", "tpu"], "argument --device: expected auto, cpu, cuda or cuda:N, got 'tpu'"),
    (["train", "--device", "cuda:99"], "argument --device: 'cuda:99': this machine has"),
    (["train", "--threads", "0"], "argument --threads: expected an int >= 1, got '0'"),
    (["sample", "{missing}"], "argument model_dir: no saved model at"),
    (["sample", "{model}", "--temperature", "0"], "argument --temperature: expected a finite number > 0, got '0'"),
    (["sample", "{model}", "--temperature", "-1"], "argument --temperature: expected a finite number > 0, got '-1'"),
    (["sample", "{model}", "--num", "0"], "argument --num: expected an int >= 1, got '0'"),
    (["evaluate", "{missing}"], "argument model_dir: no saved model at"),
    (["evaluate", "{model}", "--split", "dev"], "argument --split: invalid choice: 'dev'"),
    (["evaluate", "{model}", "--batch-size", "0"], "argument --batch-size: expected an int >= 1, got '0'"),
]


@pytest.fixture
def saved_made(tmp_path):
    """A tiny MADE over 5 values (not the digits' 64: it cannot be drawn as an image or scored on them)."""
    path = tmp_path / "made5"
    par.save(par.MADE(5, par.heads.Categorical(17), hidden_sizes=(4,)), path)
    return path


def run_cli(argv, capsys):
    """``main(argv)`` in-process: its exit status and what it wrote to stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize(("argv", "expected"), BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flag_is_one_line_naming_it(argv, expected, tmp_path, saved_made, capsys, monkeypatch):
    """Rejected by the parser before any work: nothing is trained or written, exit status 2."""
    monkeypatch.setattr(cli.train, "fit", lambda *a, **k: pytest.fail("trained despite a bad flag"))
    argv = [a.format(missing=tmp_path / "missing", model=saved_made) for a in argv]
    code, err = run_cli(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"pyro-autoregressive {argv[0]}: error: {expected}"), err


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["sample", "{model}", "--num", "2", "--out", "{out}"], "sample: only image events can be drawn as a PNG grid"),
        (["evaluate", "{model}"], "value: expected"),
        (["evaluate", "{broken}"], "config.json"),
    ],
)
def test_library_error_is_one_line(command, expected, tmp_path, saved_made, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    (broken / "model.safetensors").write_bytes(b"")
    argv = [a.format(model=saved_made, broken=broken, out=tmp_path / "s.png") for a in command]
    code, err = run_cli(argv, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("pyro-autoregressive: error: "), err
    assert expected in err, err


def test_device_flags_resolve(monkeypatch):
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    args = cli.build_parser().parse_args(["train"])
    assert args.device == "auto" and args.threads is None
    assert flags.device(args).type == ("cuda" if torch.cuda.is_available() else "cpu") and threads == []
    args = cli.build_parser().parse_args(["train", "--device", "cpu", "--threads", "3"])
    assert flags.device(args) == torch.device("cpu") and threads == [3]
