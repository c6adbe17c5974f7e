"""Data parallelism: two gloo processes under torchrun train as one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from pyro_autoregressive import distributed
from pyro_autoregressive.cli import main

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 3
#: 1000 training images in steps of 100 (50 per process): no padding, every step's examples the same
TRAIN = [
    "--model",
    "made",
    "--hidden-sizes",
    "32",
    "--no-labels",
    "--batch-size",
    "100",
    "--epochs",
    str(EPOCHS),
    "--device",
    "cpu",
    "--threads",
    "1",
]
#: relative difference allowed between the two runs' NLLs: the gradients are averaged over two halves of each
#: batch (a different float32 summation order), which moves the weights by ~1e-7 per step; measured ~1e-7 here
TOLERANCE = 1e-5

#: ``python -m pyro_autoregressive`` with every checkpoint and model write logged with the writer's rank, then
#: ``evaluate`` and a sharded ``mean_nll`` in the same processes
DRIVER = textwrap.dedent(
    """
    import os, sys
    from pyro_autoregressive import cli, distributed, training
    from pyro_autoregressive.datasets import load_digits_split
    from pyro_autoregressive.persistence import load

    log, out = sys.argv[1], sys.argv[2]

    def logged(write, where):
        def logging_write(*args, **kwargs):
            with open(log, "a") as file:
                file.write(f"{os.environ['RANK']} {os.path.basename(args[where])}\\n")
            return write(*args, **kwargs)
        return logging_write

    training.write_checkpoint = logged(training.write_checkpoint, 0)  # (path, model, state)
    training.save = logged(training.save, 1)  # (model, path)
    cli.train.save = logged(cli.train.save, 1)
    with distributed.process_group("cpu"):
        assert cli.main(["train", *sys.argv[3:], "--out", out, "--no-progress"]) == 0
        assert cli.main(["evaluate", os.path.join(out, "model"), "--batch-size", "7"]) == 0
        test = load_digits_split()["test"]
        nll = training.mean_nll(load(os.path.join(out, "model")), test, batch_size=7, across_processes=True)
        if distributed.is_main():
            print("sharded mean_nll", repr(nll), "of", distributed.world_size(), "processes")
    """
)


def history(run: Path) -> tuple[list[tuple[float, float]], float]:
    metrics = json.loads((run / "metrics.json").read_text())
    return [(r["train_nll"], r["val_nll"]) for r in metrics["history"]], metrics["test_nll"]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_two_gloo_processes_train_as_one_with_the_global_batch(tmp_path, capsys, one_thread):
    driver, log = tmp_path / "driver.py", tmp_path / "writes.log"
    driver.write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*command, str(driver), str(log), str(tmp_path / "two"), *TRAIN],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    assert main(["train", *TRAIN, "--out", str(tmp_path / "one"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "one" / "model"), "--batch-size", "7"]) == 0
    evaluated = capsys.readouterr().out

    (two, two_test), (one, one_test) = history(tmp_path / "two"), history(tmp_path / "one")
    assert len(two) == len(one) == EPOCHS
    for (train_2, val_2), (train_1, val_1) in zip(two, one, strict=True):
        assert train_2 == pytest.approx(train_1, rel=TOLERANCE) and val_2 == pytest.approx(val_1, rel=TOLERANCE)
    assert two_test == pytest.approx(one_test, rel=TOLERANCE)
    assert json.loads((tmp_path / "two" / "config.json").read_text())["processes"] == 2

    # only rank 0 wrote: each epoch's checkpoint once, the best ones, the final model once
    writes = log.read_text().splitlines()
    assert {line.split()[0] for line in writes} == {"0"}, writes
    assert [line for line in writes if line.endswith(" last")] == ["0 last"] * EPOCHS
    assert [line for line in writes if line.endswith(" model")] == ["0 model"]
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == ["best", "last"]
    # printed once: the training report and the sharded evaluation (the test split's 447 images as 224 + 223)
    out = done.stdout.splitlines()
    assert sum(line.startswith("made on digits") for line in out) == 1 and "x 2 processes" in done.stdout
    assert [line for line in out if line.startswith("digits (test")] == [evaluated.splitlines()[0]]
    (sharded,) = [line for line in out if line.startswith("sharded mean_nll")]
    assert float(sharded.split()[2]) == pytest.approx(two_test, rel=1e-6) and sharded.endswith("of 2 processes")


def test_a_single_process_joins_nothing(monkeypatch):
    """Outside torchrun: no group, rank 0 of 1, every helper leaves its input as it is."""
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert not distributed.launched() and not distributed.active()
    with distributed.process_group("cpu") as device:
        assert device == torch.device("cpu") and not torch.distributed.is_initialized()
        assert distributed.rank() == 0 and distributed.world_size() == 1 and distributed.is_main()
        x = torch.arange(5.0)
        assert distributed.shard(x, None) == (x, None) and distributed.sum_over_processes(x) is x
        assert distributed.any_process(False, device) is False and distributed.broadcast_text("a") == "a"
        assert [t.tolist() for t in distributed.all_gather(x)] == [x.tolist()]
        module = torch.nn.Linear(2, 2)
        assert distributed.data_parallel(module, device) is module
