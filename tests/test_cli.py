"""The command line end to end at tiny size (train, sample, evaluate, info), and its one-line errors."""

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
    argv = ["train", "--model", "made", "--epochs", "1", "--hidden", "8", "--out", str(out), "--no-progress"]
    argv += ["--device", "cpu", "--threads", "1", "--ema", "0.9", "--max-grad-norm", "1", "--schedule", "cosine"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_nll"] > 0 and metrics["baseline_test_nll"] > 0
    assert metrics["device"] == "cpu" and len(metrics["history"]) == 1 and metrics["stopped"] == "epochs"
    assert (out / "samples.png").stat().st_size > 0 and (out / "completions.png").stat().st_size > 0
    record = json.loads((out / "config.json").read_text())
    assert record["data"]["kind"] == "image" and record["data"]["num_classes"] == 10  # the digits' labels
    assert record["split"]["method"] == "fixed" and record["split"]["test"] == {"start": 1350, "stop": 1797}
    # RUN/model is the run's model: sampled as images (MADE's flat events unflattened), evaluated on its test split
    assert main(["sample", str(out / "model"), "--num", "4", "--out", str(tmp_path / "s.png"), "--no-progress"]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "test"]) == 0
    printed = capsys.readouterr().out
    assert f"{metrics['test_nll']:.2f}" in printed
    assert json.loads((out / "evaluate.json").read_text())["nll_nats"] == pytest.approx(metrics["test_nll"])


@pytest.mark.slow
def test_train_the_default_model(tmp_path):
    """No --model, no --data: the Gated PixelCNN on the digits, given their labels."""
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), "--no-progress", "--threads", "1"]) == 0
    assert json.loads((out / "metrics.json").read_text())["model"] == "gated"
    model = par.load(out / "model")
    assert type(model).__name__ == "GatedPixelCNN" and model.context_size == 10


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
    (
        ["train", "--model", "made", "--hidden", "8", "0"],
        "argument --hidden-sizes/--hidden: expected an int >= 1, got '0'",
    ),
    (["train", "--hidden", "8"], "argument --hidden-sizes: --model gated does not take it"),
    (["train", "--seed", "-1"], "argument --seed: expected an int >= 0, got '-1'"),
    (["train", "--weight-decay", "-1"], "argument --weight-decay: expected a finite number >= 0, got '-1'"),
    (["train", "--max-grad-norm", "0"], "argument --max-grad-norm: expected a finite number > 0, got '0'"),
    (["train", "--ema", "1"], "argument --ema: expected a finite number > 0 and < 1, got '1'"),
    (["train", "--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    (["train", "--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
    (
        ["train", "--data", "cifar"],
        "argument --data: expected a built-in data set (digits, photos, pygame-sounds, stdlib-text)",
    ),
    (["train", "--levels", "1"], "argument --levels: expected an int >= 2, got '1'"),
    (["train", "--length", "0"], "argument --length: expected an int >= 1, got '0'"),
    (["train", "--audio-encoding", "alaw"], "argument --audio-encoding: invalid choice: 'alaw'"),
    (["train", "--sample-rate", "-8000"], "argument --sample-rate: expected an int >= 1, got '-8000'"),
    (["train", "--patch-size", "0"], "argument --patch-size: expected an int >= 1, got '0'"),
    (["train", "--max-items", "0"], "argument --max-items: expected an int >= 1, got '0'"),
    (["train", "--split-seed", "-1"], "argument --split-seed: expected an int >= 0, got '-1'"),
    (["train", "--format", "jpeg"], "argument --format: invalid choice: 'jpeg'"),
    (["train", "--device", "tpu"], "argument --device: expected auto, cpu, cuda or cuda:N, got 'tpu'"),
    (["train", "--device", "cuda:99"], "argument --device: 'cuda:99': this machine has"),
    (["train", "--threads", "0"], "argument --threads: expected an int >= 1, got '0'"),
    (["sample", "{missing}"], "argument RUN: no run or saved model at"),
    (["sample", "{model}", "--temperature", "0"], "argument --temperature: expected a finite number > 0, got '0'"),
    (["sample", "{model}", "--temperature", "-1"], "argument --temperature: expected a finite number > 0, got '-1'"),
    (["sample", "{model}", "--temperature", "nan"], "argument --temperature: expected a finite number > 0, got 'nan'"),
    (["sample", "{model}", "--num", "0"], "argument --num: expected an int >= 1, got '0'"),
    (["sample", "{model}", "--seed", "-2"], "argument --seed: expected an int >= 0, got '-2'"),
    (["sample", "{model}", "--top-k", "0"], "argument --top-k: expected an int >= 1, got '0'"),
    (["sample", "{model}", "--top-p", "0"], "argument --top-p: expected a finite number > 0 and <= 1, got '0'"),
    (["sample", "{model}", "--top-p", "1.5"], "argument --top-p: expected a finite number > 0 and <= 1, got '1.5'"),
    (["sample", "{model}", "--min-p", "nan"], "argument --min-p: expected a finite number > 0 and <= 1, got 'nan'"),
    (["sample", "{model}", "--length", "0"], "argument --length: expected an int >= 1, got '0'"),
    (["sample", "{model}", "--stop-value", "-1"], "argument --stop-value: expected an int >= 0, got '-1'"),
    (["sample", "{model}", "--batch-size", "0"], "argument --batch-size: expected an int >= 1, got '0'"),
    (["sample", "{model}", "--complete", "0"], "argument --complete: expected an int >= 1, got '0'"),
    (
        ["sample", "{model}", "--complete", "2", "--prompt", "x"],
        "argument --prompt: not allowed with argument --complete",
    ),
    (
        ["sample", "{model}", "--out", "s.jpg"],
        "argument --out: expected a file name ending in .png, .wav, .txt, .npy, got 's.jpg'",
    ),
    (["sample", "{model}", "--device", "tpu"], "argument --device: expected auto, cpu, cuda or cuda:N, got 'tpu'"),
    (["evaluate", "{missing}"], "argument RUN: no run or saved model at"),
    (["evaluate", "{model}", "--split", "dev"], "argument --split: invalid choice: 'dev'"),
    (["evaluate", "{model}", "--batch-size", "0"], "argument --batch-size: expected an int >= 1, got '0'"),
    (["evaluate", "{model}", "--data", "nowhere.npy"], "argument --data: expected a built-in data set"),
    (["evaluate", "{model}", "--levels", "0"], "argument --levels: expected an int >= 2, got '0'"),
    (["info", "{missing}"], "argument RUN_OR_MODEL: no run or saved model at"),
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
        (["sample", "{model}", "--temperature", "1e-7"], "temperature: expected the tempered temperature"),
        (["evaluate", "{model}", "--data", "digits"], "the model MADE models events of shape (5,)"),
        (["evaluate", "{broken}"], "config.json"),
        (["info", "{broken}"], "config.json"),
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


def test_flag_refused_after_loading_is_one_line_as_the_parser_says_it(saved_made, capsys):
    """Checks that need the model (here: its levels) speak as the parser does, naming the flag."""
    code, err = run_cli(["sample", str(saved_made), "--stop-value", "99"], capsys)
    assert (
        code == 2 and err == "pyro-autoregressive sample: error: argument --stop-value: expected a value in [0, 16]\n"
    )


def test_device_flags_resolve(monkeypatch):
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    args = cli.build_parser().parse_args(["train"])
    assert args.device == "auto" and args.threads is None
    assert flags.device(args).type == ("cuda" if torch.cuda.is_available() else "cpu") and threads == []
    args = cli.build_parser().parse_args(["train", "--device", "cpu", "--threads", "3"])
    assert flags.device(args) == torch.device("cpu") and threads == [3]


def test_flag_defaults_need_no_parse(monkeypatch):
    """A command's defaults come without running its checks (which may refuse: here, no matplotlib)."""
    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    monkeypatch.setattr(flags.importlib.util, "find_spec", lambda name, *a: None)
    defaults = train.flag_defaults()
    assert defaults["model"] == "gated" and defaults["data"] == "digits" and defaults["run"] is cli.train.train
    with pytest.raises(SystemExit):
        train.parse_args([])  # parsing runs the checks: the digits' samples need matplotlib
