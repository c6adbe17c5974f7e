"""The run folder of ``train``: its files, resuming after ``kill -9`` and Ctrl-C, refused ``--out`` folders."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import pyro_autoregressive as par
from pyro_autoregressive import cli, runs
from pyro_autoregressive.checkpoints import read_checkpoint
from pyro_autoregressive.cli import main

ROOT = Path(__file__).resolve().parents[1]
#: a small MADE on the digits, one thread: bit-for-bit reproducible on the CPU; 100 steps an epoch, so that
#: a signal sent once the first checkpoint is written finds the run still training
TRAIN = [
    "train",
    "--model",
    "made",
    "--hidden-sizes",
    "32",
    "--batch-size",
    "10",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--no-progress",
]
EPOCHS = 10


@pytest.fixture
def one_thread():
    """``--threads 1`` in this process: put the thread count back after."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def start(argv: list[str]) -> subprocess.Popen:
    """``python -m pyro_autoregressive ARGV`` as a process of its own (this checkout first on the path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "pyro_autoregressive", *argv],
        env=env,
        # Ctrl-C's default handling, also where this test runs in the background (which ignores SIGINT, and
        # a Python started with SIGINT ignored keeps ignoring it: the run then ends normally)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_checkpoint(process: subprocess.Popen, run: Path, timeout: float = 300.0) -> None:
    """Poll until the run's first checkpoint is complete (its state file renamed into place)."""
    state = run / runs.CHECKPOINTS / "last" / "trainer.json"
    deadline = time.monotonic() + timeout
    while not state.is_file():
        if process.poll() is not None:
            pytest.fail(f"the run ended before its first checkpoint: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("no checkpoint in time")
        time.sleep(0.005)


def resume_counting_epochs(run: Path, monkeypatch) -> int:
    """``train --resume RUN`` in this process; the number of epochs it trained (not those it resumed from)."""
    trained = []
    fit = cli.train.fit

    def counting_fit(*args, callback, **kwargs):
        return fit(*args, callback=lambda result: (trained.append(1), callback(result)), **kwargs)

    monkeypatch.setattr(cli.train, "fit", counting_fit)
    assert main(["train", "--resume", str(run), "--no-progress", "--threads", "1"]) == 0
    return len(trained)


def epochs_kept(run: Path) -> int:
    _, state = read_checkpoint(run / runs.CHECKPOINTS / "last")
    return state["epoch"] + 1


def final_metrics(run: Path) -> tuple[list[tuple[float, float]], float]:
    """Per-epoch (train, validation) NLL and the test NLL of a finished run."""
    metrics = json.loads((run / runs.METRICS_JSON).read_text())
    return [(r["train_nll"], r["val_nll"]) for r in metrics["history"]], metrics["test_nll"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[list[tuple[float, float]], float]:
    """The metrics of the run trained in one go (in this process, one thread)."""
    run = tmp_path_factory.mktemp("runs") / "whole"
    threads = torch.get_num_threads()
    try:
        assert main([*TRAIN, "--epochs", str(EPOCHS), "--out", str(run)]) == 0
    finally:
        torch.set_num_threads(threads)
    return final_metrics(run)


def test_resume_after_kill_9_is_the_uninterrupted_run(tmp_path, uninterrupted, one_thread, monkeypatch):
    """SIGKILL once the first checkpoint is written; ``--resume`` ends bit for bit where one go ends."""
    run = tmp_path / "run"
    process = start([*TRAIN, "--epochs", str(EPOCHS), "--out", str(run)])
    wait_for_checkpoint(process, run)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    kept = epochs_kept(run)
    assert 1 <= kept < EPOCHS, "the run ended before it was killed: nothing was tested"
    assert not (run / runs.METRICS_JSON).exists() or final_metrics(run)[1] is None  # it had not finished
    assert resume_counting_epochs(run, monkeypatch) == EPOCHS - kept  # it went on, it did not start over
    assert final_metrics(run) == uninterrupted  # exact: the same floats
    assert json.loads((run / runs.CONFIG_NAME).read_text())["resumed"][0]["processes"] == 1


def test_ctrl_c_keeps_the_last_complete_epoch(tmp_path, uninterrupted, one_thread, monkeypatch):
    """SIGINT: one line naming the kept epoch and the command to go on, exit status 130; then resumable."""
    run = tmp_path / "run"
    process = start([*TRAIN, "--epochs", str(EPOCHS), "--out", str(run)])
    wait_for_checkpoint(process, run)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == cli.train.INTERRUPTED, err
    kept = epochs_kept(run)
    assert kept < EPOCHS, "the run ended before it was interrupted: nothing was tested"
    assert err.strip().splitlines() == [
        f"interrupted: epoch {kept} of {EPOCHS} is the last complete one, kept in {run / 'checkpoints' / 'last'}; "
        f"continue with: pyro-autoregressive train --resume {run}"
    ]
    par.load(run / runs.CHECKPOINTS / "last" / "model")  # the kept epoch's model loads as any saved model
    assert resume_counting_epochs(run, monkeypatch) == EPOCHS - kept
    assert final_metrics(run) == uninterrupted


def test_the_run_folder(tmp_path, one_thread):
    run = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "3", "--patience", "1", "--out", str(run), "--ema", "0.5"]) == 0
    assert sorted(p.name for p in run.iterdir()) == sorted(
        [
            "checkpoints",
            "completions.png",
            "config.json",
            "loss.png",
            "metrics.csv",
            "metrics.json",
            "model",
            "samples.png",
        ]
    )
    config = json.loads((run / "config.json").read_text())
    assert config["format"] == runs.FORMAT and config["settings"]["epochs"] == 3 and config["settings"]["ema"] == 0.5
    assert config["settings"]["seed"] == 0 and config["settings"]["hidden_sizes"] == [32]
    assert config["model"] == json.loads(json.dumps(par.load(run / "model").config()))
    assert config["data"]["kind"] == "image" and config["split"]["test"] == {"start": 1350, "stop": 1797}
    assert config["processes"] == 1
    assert {"python", "torch", "pyro-ppl", "pyro-autoregressive"} <= set(config["versions"])
    metrics = json.loads((run / "metrics.json").read_text())
    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    assert [int(row["epoch"]) for row in rows] == [r["epoch"] for r in metrics["history"]] == [1, 2, 3][: len(rows)]
    for row, record in zip(rows, metrics["history"], strict=True):
        assert float(row["train_nll"]) == record["train_nll"] and float(row["val_bits_per_dim"]) == pytest.approx(
            record["val_nll"] / (64 * 0.6931471805599453)
        )
    tested = [row for row in rows if row["test_nll"]]
    assert len(tested) == 1 and int(tested[0]["epoch"]) == metrics["best_epoch"]
    assert float(tested[0]["test_nll"]) == metrics["test_nll"]
    best, final = par.load(run / "checkpoints" / "best"), par.load(run / "model")
    assert all(torch.equal(t, final.state_dict()[k]) for k, t in best.state_dict().items())
    assert (run / "loss.png").read_bytes().startswith(b"\x89PNG") and (run / "samples.png").stat().st_size > 0
    # --force replaces the run; a resumed run may train longer
    assert main([*TRAIN, "--epochs", "1", "--out", str(run), "--force"]) == 0
    assert json.loads((run / "config.json").read_text())["settings"]["epochs"] == 1
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-progress", "--threads", "1"]) == 0
    assert len(json.loads((run / "metrics.json").read_text())["history"]) == 2


REFUSALS = [  # (how to prepare tmp_path, argv after TRAIN, the one-line error)
    ("file", ["--out", "{tmp}/file"], "--out: '{tmp}/file' is a file; expected a folder for the run (new or empty)"),
    ("file", ["--out", "{tmp}/file/run"], "--out: '{tmp}/file/run' cannot be created: '{tmp}/file' is a file"),
    (
        "stranger",
        ["--out", "{tmp}/stranger"],
        "--out: '{tmp}/stranger' is not empty (notes.txt) and holds no run; choose a new or empty folder",
    ),
    (
        "other",
        ["--out", "{tmp}/run"],
        "--out: '{tmp}/run' holds a run of another configuration (model: 'made' here, 'pixelcnn' in the run;",
    ),
    (
        "same",
        ["--out", "{tmp}/run"],
        "--out: '{tmp}/run' holds a run of this configuration; continue it with --resume {tmp}/run, "
        "or replace it with --force",
    ),
    ("none", ["--resume", "{tmp}/missing"], "--resume: '{tmp}/missing' is not a run folder (no such directory)"),
    ("stranger", ["--resume", "{tmp}/stranger"], "--resume: '{tmp}/stranger' holds no run (no config.json"),
    (
        "same",
        ["--resume", "{tmp}/run", "--lr", "0.01"],
        "--resume: --lr 0.01 differs from the run's 0.002; a resumed run keeps its settings "
        "(only --epochs, --patience, --max-minutes may change)",
    ),
    ("same", ["--resume", "{tmp}/run", "--force"], "--force: expected --resume RUN (go on with the run) or --force"),
    ("same", ["--resume", "{tmp}/run", "--out", "{tmp}/b"], "--out: a resumed run stays in its folder '{tmp}/run'"),
]


def prepare(tmp: Path, kind: str) -> None:
    (tmp / "file").write_text("not a folder")
    (tmp / "stranger").mkdir()
    (tmp / "stranger" / "notes.txt").write_text("mine")
    if kind in ("other", "same"):
        other = [a for a in TRAIN if a not in ("--hidden-sizes", "32")] + ["--model", "pixelcnn"]
        args = cli.build_parser().parse_args(other if kind == "other" else TRAIN)
        (tmp / "run").mkdir()
        runs.write_config(tmp / "run", {"settings": cli.train._settings(args)})


def refused(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize(("kind", "argv", "expected"), REFUSALS, ids=[f"{k}: {' '.join(a)}" for k, a, _ in REFUSALS])
def test_out_refusals_are_one_line_before_any_work(kind, argv, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli.train, "open_data", lambda *a: pytest.fail("loaded data despite a refusal"))
    monkeypatch.setattr(cli.train, "fit", lambda *a, **k: pytest.fail("trained despite a refusal"))
    prepare(tmp_path, kind)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    code, err = refused([*TRAIN, *(a.format(tmp=tmp_path) for a in argv)], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"pyro-autoregressive: error: {expected.format(tmp=tmp_path)}"), err
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing created or removed


def test_an_unwritable_folder_is_refused(tmp_path, capsys, monkeypatch):
    """Where the permission bits bind (not as root), a read-only folder; anywhere, the check itself."""
    monkeypatch.setattr(cli.train, "fit", lambda *a, **k: pytest.fail("trained despite a refusal"))
    locked = tmp_path / "locked"
    locked.mkdir()
    cases = [
        (str(locked / "run"), f"--out: '{locked / 'run'}' cannot be created in '{locked}' (permission denied)"),
        (str(locked), f"--out: cannot write in '{locked}' (permission denied)"),
    ]
    if os.name == "posix" and os.geteuid() != 0:
        locked.chmod(0o500)
        try:
            for out, expected in cases:
                assert refused([*TRAIN, "--out", out], capsys) == (2, f"pyro-autoregressive: error: {expected}\n")
        finally:
            locked.chmod(0o700)
    monkeypatch.setattr(runs, "_writable", lambda folder: Path(folder) != locked)
    for out, expected in cases:
        assert refused([*TRAIN, "--out", out], capsys) == (2, f"pyro-autoregressive: error: {expected}\n")


def test_resume_reads_the_recorded_data_and_refuses_changed_data(tmp_path, capsys):
    """``--resume`` reloads the run's data as recorded: the same split, and data changed since is refused."""
    data = tmp_path / "values.npy"
    np.save(data, np.random.default_rng(0).integers(0, 4, size=(60, 6)))
    run = tmp_path / "run"
    flags = ["--model", "made", "--hidden-sizes", "8", "--no-progress", "--device", "cpu", "--threads", "1"]
    assert main(["train", "--data", str(data), *flags, "--epochs", "1", "--out", str(run)]) == 0
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-progress"]) == 0  # no --data: the run's
    assert len(json.loads((run / "metrics.json").read_text())["history"]) == 2
    np.save(data, np.random.default_rng(1).integers(0, 4, size=(60, 6)))
    code, err = refused(["train", "--resume", str(run), "--epochs", "3", "--no-progress"], capsys)
    assert code == 2 and err.count("\n") == 1 and "sha256" in err and "changed since it was recorded" in err, err
