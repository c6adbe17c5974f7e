"""``sample``, ``evaluate`` and ``info`` for images, audio and text: the files written, the figures, the errors."""

from __future__ import annotations

import importlib.util
import inspect
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch
from cli_data import make_run, png_folder, text_file, wav_file, wav_folder

import pyro_autoregressive as par
from pyro_autoregressive import cli
from pyro_autoregressive.cli import main
from pyro_autoregressive.data import load_data
from pyro_autoregressive.sampling import sampling_progress


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("image")
    return make_run(root, png_folder(root), "gated", ["--hidden-channels", "4", "--num-layers", "1"], levels=4)


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    flags = ["--residual-channels", "4", "--skip-channels", "4", "--num-layers", "2", "--num-stacks", "1"]
    return make_run(root, wav_folder(root), "wavenet", flags, length=32)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    flags = ["--d-model", "8", "--num-heads", "2", "--num-layers", "1"]
    return make_run(root, text_file(root), "transformer", flags, length=16)


def run_ok(argv, capsys):
    """``main(argv)`` succeeds; what it printed."""
    capsys.readouterr()
    assert main([*argv, "--no-progress"] if argv[0] == "sample" else argv) == 0
    return capsys.readouterr().out


def run_error(argv, capsys):
    """``main(argv)`` fails with one line on stderr and exit status 2; that line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    return err


def test_sampling_progress_counts_every_step():
    torch.manual_seed(0)
    model = par.Transformer(par.heads.Categorical(3), 6, d_model=8, num_heads=2, num_layers=1)
    done = []
    with sampling_progress(done.append):
        model.condition().condition_on_prefix(torch.tensor([1, 2, 0, 0, 0, 0]), 2).sample((2,))
    assert done[0] == 2 and sum(done) == 6  # the prompt's steps at once, then one per step
    done.clear()
    with sampling_progress(done.append):
        model.condition(stop_value=0).top_k(1).condition_on_prefix(torch.zeros(6, dtype=torch.long), 1).sample()
    assert sum(done) == 6  # a stopped batch counts its padded steps
    model.condition().sample()
    assert sum(done) == 6  # outside the block: no calls


# -- images ---------------------------------------------------------------------------------------------


def test_image_samples_by_extension(image_run, tmp_path, capsys):
    printed = run_ok(["sample", str(image_run), "--num", "6", "--out", str(tmp_path / "s.png")], capsys)
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "6 samples (16 steps each)" in printed
    run_ok(["sample", str(image_run), "--num", "6", "--out", str(tmp_path / "s.npy"), "--context", "class1"], capsys)
    values = np.load(tmp_path / "s.npy")
    assert values.shape == (6, 1, 4, 4) and values.min() >= 0 and values.max() < 4
    err = run_error(["sample", str(image_run), "--out", str(tmp_path / "s.wav")], capsys)
    assert "--out: a .wav file cannot hold image samples (event shape (1, 4, 4)); use .png, .npy" in err
    assert not (tmp_path / "s.wav").exists()


def test_image_completions_keep_the_top_half(image_run, tmp_path, capsys):
    run_ok(["sample", str(image_run), "--complete", "2", "--num", "3", "--out", str(tmp_path / "c.npy")], capsys)
    completed = np.load(tmp_path / "c.npy").reshape(2, 3, 1, 4, 4)  # each test item's completions together
    dataset = load_data(**json.loads((image_run / "config.json").read_text())["data"]["load"])
    test = dataset.values[dataset.split(0).test[:2]].numpy()
    assert (completed[:, :, :, :2] == test[:, None, :, :2]).all()  # the given top halves, unchanged
    run_ok(["sample", str(image_run), "--complete", "2", "--num", "3", "--out", str(tmp_path / "c.png")], capsys)
    assert (tmp_path / "c.png").stat().st_size > 0


def test_context_labels_are_checked(image_run, text_run, capsys):
    err = run_error(["sample", str(image_run), "--context", "7"], capsys)
    assert "argument --context: expected a class label in [0, 1] or a name (class0, class1), got '7'" in err
    err = run_error(["sample", str(text_run), "--context", "0"], capsys)
    assert "argument --context: the model takes no class labels" in err
    err = run_error(["sample", str(image_run), "--complete", "1", "--context", "0"], capsys)
    assert "argument --context: not with --complete, whose test items keep their own labels" in err


# -- audio ----------------------------------------------------------------------------------------------


def test_audio_samples_as_wav_png_npy(audio_run, tmp_path, capsys):
    run_ok(["sample", str(audio_run), "--num", "2", "--out", str(tmp_path / "a.wav")], capsys)
    audio, rate = soundfile.read(tmp_path / "a.wav")
    assert rate == 4000 and len(audio) == 2 * 32 + 1000  # two samples, a quarter second of silence between
    run_ok(["sample", str(audio_run), "--num", "2", "--out", str(tmp_path / "a.png")], capsys)
    assert (tmp_path / "a.png").stat().st_size > 0  # waveforms and spectrograms


def test_audio_prompt_is_continued(audio_run, tmp_path, capsys):
    prompt = wav_file(tmp_path / "p.wav", seconds=0.01, rate=4000)  # 40 samples
    argv = ["sample", str(audio_run), "--num", "1", "--prompt", str(prompt), "--length", "60"]
    run_ok([*argv, "--out", str(tmp_path / "c.npy")], capsys)
    continued = np.load(tmp_path / "c.npy")
    given = load_data(str(prompt), length=40, levels=256).values[0].numpy()  # the prompt as the loader encodes it
    assert continued.shape == (1, 60) and (continued[0, :40] == given).all()


# -- text -----------------------------------------------------------------------------------------------


def test_text_prompt_filters_and_stop_value(text_run, tmp_path, capsys):
    argv = ["sample", str(text_run), "--num", "2", "--prompt", "the ", "--top-p", "0.9", "--min-p", "0.01"]
    run_ok([*argv, "--out", str(tmp_path / "t.txt")], capsys)
    texts = (tmp_path / "t.txt").read_text().split("----- sample ")[1:]
    assert len(texts) == 2 and all(t.split("\n", 1)[1].startswith("the ") for t in texts)
    run_ok(["sample", str(text_run), "--greedy", "--seed", "1", "--num", "2", "--out", str(tmp_path / "g.npy")], capsys)
    run_ok(
        ["sample", str(text_run), "--top-k", "1", "--seed", "2", "--num", "2", "--out", str(tmp_path / "k.npy")], capsys
    )
    greedy = np.load(tmp_path / "g.npy")
    assert (greedy == np.load(tmp_path / "k.npy")).all() and (greedy[0] == greedy[1]).all()
    stop = int(greedy[0, 3])  # the 4th greedy value stops the sequence there
    run_ok(["sample", str(text_run), "--greedy", "--stop-value", str(stop), "--out", str(tmp_path / "s.npy")], capsys)
    stopped = np.load(tmp_path / "s.npy")[0]
    first = int(np.flatnonzero(stopped == stop)[0])
    assert first <= 3 and (stopped[first:] == stop).all()
    run_ok(
        [
            "sample",
            str(text_run),
            "--greedy",
            "--stop-value",
            str(stop),
            "--num",
            "1",
            "--out",
            str(tmp_path / "s.txt"),
        ],
        capsys,
    )
    text = (tmp_path / "s.txt").read_text(encoding="utf-8", errors="replace").split("\n", 1)[1]
    assert text == bytes(stopped[: first + 1].tolist()).decode("utf-8", errors="replace") + "\n"  # no padding


def test_text_length_beyond_the_model_is_one_error(text_run, tmp_path, capsys):
    err = run_error(["sample", str(text_run), "--length", "17", "--out", str(tmp_path / "t.txt")], capsys)
    assert "argument --length: Transformer: expected an int in [1, 16] (max_length" in err and "got 17" in err
    err = run_error(["sample", str(text_run), "--prompt", "x" * 20, "--out", str(tmp_path / "t.txt")], capsys)
    assert "argument --prompt: 20 steps, but the samples have 16 (give a longer --length)" in err
    err = run_error(["sample", str(text_run), "--out", str(tmp_path / "t.png")], capsys)
    assert "a .png file cannot hold text samples" in err


@pytest.mark.skipif(
    "attention_window" not in inspect.signature(par.Transformer).parameters, reason="no windowed Transformer yet"
)
def test_a_windowed_transformer_samples_any_length(tmp_path, capsys):
    flags = ["--d-model", "8", "--num-heads", "2", "--num-layers", "1", "--attention-window", "4"]
    run = make_run(tmp_path, text_file(tmp_path), "transformer", flags, length=16)
    assert par.load(run / "model").config()["attention_window"] == 4
    run_ok(
        ["sample", str(run), "--num", "2", "--length", "40", "--prompt", "the ", "--out", str(tmp_path / "t.npy")],
        capsys,
    )
    values = np.load(tmp_path / "t.npy")
    assert values.shape == (2, 40) and bytes(values[0, :4].tolist()) == b"the "


# -- evaluate -------------------------------------------------------------------------------------------


def test_evaluate_writes_bits_per_byte_and_per_sample(text_run, audio_run, tmp_path, capsys):
    printed = run_ok(["evaluate", str(text_run)], capsys)
    result = json.loads((text_run / "evaluate.json").read_text())
    assert result["split"] == "test" and result["kind"] == "text" and result["dims"] == 16
    assert result["bits_per_byte"] == result["bits_per_dim"] == pytest.approx(result["nll_nats"] / (16 * math.log(2)))
    assert f"{result['nll_nats']:.2f} nats/window" in printed and "bits/byte" in printed
    run_ok(["evaluate", str(audio_run), "--split", "all", "--out", str(tmp_path / "a.json")], capsys)
    result = json.loads((tmp_path / "a.json").read_text())
    assert result["split"] == "all" and result["bits_per_sample"] == result["bits_per_dim"]
    dataset = load_data(**result["data"])
    model = par.load(audio_run / "model")
    expected = -model.condition().log_prob(dataset.values).mean().item()
    assert result["items"] == len(dataset) and result["nll_nats"] == pytest.approx(expected, rel=1e-5)


def test_evaluate_on_other_data_scores_all_of_it(text_run, tmp_path, capsys):
    other = tmp_path / "other.txt"
    other.write_text("a different text, long enough for a few windows of sixteen bytes each.")
    run_ok(["evaluate", str(text_run), "--data", str(other), "--out", str(tmp_path / "o.json")], capsys)
    result = json.loads((tmp_path / "o.json").read_text())
    assert result["split"] == "all" and result["items"] == len(other.read_bytes()) // 16
    err = run_error(["evaluate", str(text_run / "model"), "--data", "digits"], capsys)  # the run's: its length
    assert "length: does not apply to the built-in data set 'digits'" in err or "models events of shape" in err


def test_evaluate_a_bare_model_needs_data(tmp_path, capsys):
    par.save(par.MADE(5, par.heads.Categorical(17), hidden_sizes=(4,)), tmp_path / "m")
    err = run_error(["evaluate", str(tmp_path / "m")], capsys)
    assert "argument --data: a bare model records no data; give --data SOURCE" in err


# -- info -----------------------------------------------------------------------------------------------


def test_info_text_and_json(image_run, capsys):
    printed = run_ok(["info", str(image_run)], capsys)
    model = par.load(image_run / "model")
    parameters = sum(p.numel() for p in model.parameters())
    for expected in ("GatedPixelCNN (--model gated)", f"{parameters:,} (float32)", "event shape", "(1, 4, 4)"):
        assert expected in printed, expected
    assert "image (1, 4, 4), 4 levels, 2 classes" in printed and "split" in printed
    info = json.loads(run_ok(["info", str(image_run), "--json"], capsys))
    assert info["parameters"] == parameters and info["event_shape"] == [1, 4, 4] and info["family"] == "gated"
    assert info["config"]["hidden_channels"] == 4 and info["data"]["class_names"] == ["class0", "class1"]
    assert info["split"]["train"] + info["split"]["val"] + info["split"]["test"] == 20


def test_info_of_a_bare_model(tmp_path, capsys):
    par.save(
        par.WaveNet(par.heads.Categorical(8), length=12, residual_channels=2, skip_channels=2, num_layers=1),
        tmp_path / "w",
    )
    info = json.loads(run_ok(["info", str(tmp_path / "w"), "--json"], capsys))
    assert info["kind"] == "saved model" and info["data"]["kind"] == "sequence" and info["data"]["recorded"] is False
    assert info["event_shape"] == [12] and info["config"]["residual_channels"] == 2


@pytest.mark.parametrize("command", ["info", "sample", "evaluate"])
def test_a_bare_model_over_real_values_is_refused(tmp_path, capsys, command):
    """The command line reads and writes levels: a continuous head is one clear error, not made-up "levels"."""
    par.save(par.MADE(4, par.heads.NormalMixture(2), hidden_sizes=(4,)), tmp_path / "real")
    message = run_error([command, str(tmp_path / "real")], capsys)
    assert "models over levels" in message and "NormalMixture" in message


# -- the command line itself ----------------------------------------------------------------------------


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"pyro-autoregressive {par.__version__}"


def without(module, monkeypatch):
    """Pretend the optional package ``module`` is not installed (as the flag checks look for it)."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else find_spec(name, *a))


def test_missing_plotting_packages_are_said_at_parse_time(image_run, tmp_path, capsys, monkeypatch):
    without("matplotlib", monkeypatch)
    monkeypatch.setattr(cli.train, "fit", lambda *a, **k: pytest.fail("trained without matplotlib"))
    err = run_error(["train", "--out", str(tmp_path / "run")], capsys)
    assert err.startswith("pyro-autoregressive train: error: argument --out: writing PNG files (the run's samples")
    assert "needs the optional package 'matplotlib', which is not installed" in err
    err = run_error(["sample", str(image_run), "--out", str(tmp_path / "s.png")], capsys)
    assert "argument --out: writing PNG files needs the optional package 'matplotlib'" in err
    run_ok(["sample", str(image_run), "--num", "2", "--out", str(tmp_path / "s.npy")], capsys)  # .npy needs none


def test_a_text_run_needs_matplotlib_for_its_loss_curve_before_training(tmp_path, capsys, monkeypatch):
    # samples.txt needs nothing, but every run writes loss.png: refused at parse time, not after training
    without("matplotlib", monkeypatch)
    monkeypatch.setattr(cli.train, "fit", lambda *a, **k: pytest.fail("trained without matplotlib"))
    argv = ["train", "--data", str(text_file(tmp_path)), "--model", "transformer", "--out", str(tmp_path / "run")]
    err = run_error(argv, capsys)
    assert "argument --out: writing PNG files (the run's loss curve, loss.png) needs the optional package" in err


def test_the_command_line_imports_no_plotting_package():
    code = "import sys, pyro_autoregressive.cli; print(sorted({'matplotlib', 'PIL', 'soundfile'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
