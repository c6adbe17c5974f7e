"""Kill -9 during ``par.save``: after every kill, the directory must load as the old model or the new one.

A child process saves two models, A and B, to the same directory in turn, for ever;
the parent kills it with SIGKILL after a random delay (the child spends nearly all
its time inside ``save``: writing, hashing, flushing, renaming, cleaning up), then
loads the directory and checks that its weights are exactly A's or B's. A final
save checks that the leftovers of the killed saves are cleaned up.

    PYTHONPATH=. python benchmarks/kill_during_save.py --kills 60
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import pyro_autoregressive as par

_CHILD = """
import sys
import pyro_autoregressive as par
sys.path.insert(0, {here!r})
from kill_during_save import make_model
models = [make_model(0), make_model(1)]
print("ready", flush=True)
k = 0
while True:
    par.save(models[k % 2], {path!r})
    k += 1
"""


def make_model(which: int) -> par.MADE:
    """Model A (``which=0``) or B: the same architecture, different weights (a few MB, so a save takes a while)."""
    torch.manual_seed(which)
    return par.MADE(32, par.heads.Categorical(8), hidden_sizes=(512, 512))


def _which(model: par.AutoregressiveModel, models: list[par.MADE]) -> int | None:
    """The index of the model whose weights ``model`` holds exactly, or None."""
    state = model.state_dict()
    for k, candidate in enumerate(models):
        if all(torch.equal(state[name], tensor) for name, tensor in candidate.state_dict().items()):
            return k
    return None


def run(kills: int, directory: Path, seed: int = 0, max_delay: float = 0.3) -> dict[str, int]:
    """Kill ``kills`` saving children; returns how many kills left A, B, leftovers, and failures to load."""
    rng = random.Random(seed)
    models = [make_model(0), make_model(1)]
    path = directory / "model"
    par.save(models[0], path)
    counts = {
        "kills": 0,
        "loaded A": 0,
        "loaded B": 0,
        "with leftovers": 0,
        "between the renames": 0,
        "not loadable": 0,
    }
    here = str(Path(__file__).resolve().parent)
    root = str(Path(par.__file__).resolve().parents[1])
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD.format(here=here, path=str(path))],
            stdout=subprocess.PIPE,
            cwd=root,
            env={**os.environ, "PYTHONPATH": root},
        )
        assert child.stdout is not None
        if child.stdout.readline().strip() != b"ready":
            child.kill()
            raise RuntimeError("the saving child did not start")
        time.sleep(rng.uniform(0.0, max_delay))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        counts["kills"] += 1
        counts["with leftovers"] += any(p.name.startswith(".model.") for p in directory.iterdir())
        counts["between the renames"] += not path.exists()
        try:
            which = _which(par.load(path), models)
        except (OSError, ValueError):
            which = None
        counts["not loadable" if which is None else f"loaded {'AB'[which]}"] += 1
    par.save(models[1], path)
    leftovers = sorted(p.name for p in directory.iterdir() if p.name != "model")
    if leftovers:
        raise AssertionError(f"leftovers after a successful save: {leftovers}")
    return counts


def main(argv: list[str] | None = None) -> dict[str, int]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-delay", type=float, default=0.3, help="seconds after the child is ready")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        counts = run(args.kills, Path(directory), args.seed, args.max_delay)
    print(", ".join(f"{name}: {count}" for name, count in counts.items()))
    return counts


if __name__ == "__main__":
    main()
