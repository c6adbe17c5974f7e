"""PixelCNN++ side by side with TensorFlow Probability's ``tfd.PixelCNN``, same configuration, interleaved.

Configuration (both sides): one-channel 16x16 images with 17 levels, ``num_resnet=1``,
``num_hierarchies=2``, 32 filters, 5 logistics, dropout 0, one thread each, float32.
TFP's network is built without weight normalisation (ours has none), and each masked
layer's Keras kernel constraint is applied to its kernel once before timing: Keras
applies constraints only after an optimizer step, so a freshly built ``tfd.PixelCNN``
is not causal until then.

Measured, each in a fresh process, the two sides alternating (``--repeats`` rounds;
medians quoted): ``log_prob`` of a batch of 64 (images/s), and ``sample((16,))`` (ours
cached; TFP's sampler reruns the whole network at every pixel).

TensorFlow does not install beside the pinned CPU torch here, so the TFP side runs in
its own virtual environment::

    python3 -m venv .venv-tfp
    .venv-tfp/bin/pip install tensorflow==2.18.1 tensorflow-probability==0.25.0 tf-keras==2.18.0
    python benchmarks/bench_tfp.py --tfp-python .venv-tfp/bin/python
    python benchmarks/bench_tfp.py --quick       # one round

Without a TFP interpreter (``--tfp-python``, ``$TFP_PYTHON`` or ``./.venv-tfp``) the
script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from common import print_table

CONFIG = {"size": 16, "levels": 17, "num_resnet": 1, "num_hierarchies": 2, "filters": 32, "logistics": 5}

_OURS = """
import json, sys, time, torch
import pyro_autoregressive as par
what, threads, cfg = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = par.PixelCNNPlusPlus((1, cfg["size"], cfg["size"]), num_components=cfg["logistics"],
                             num_classes=cfg["levels"], hidden_channels=cfg["filters"],
                             num_resnet=cfg["num_resnet"], num_hierarchies=cfg["num_hierarchies"]).eval()
d = model.condition()
params = sum(p.numel() for p in model.parameters())
if what == "log_prob":
    x = torch.randint(0, cfg["levels"], (64, 1, cfg["size"], cfg["size"]))
    with torch.no_grad():
        d.log_prob(x)
        times = []
        for _ in range(5):
            t = time.perf_counter(); d.log_prob(x); times.append(time.perf_counter() - t)
else:
    d.sample((2,))
    t = time.perf_counter(); d.sample((16,)); times = [time.perf_counter() - t]
print(json.dumps({"seconds": sorted(times)[len(times) // 2], "params": params}))
"""

_TFP = """
import json, os, sys, time
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
what, threads, cfg = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(1)
import tensorflow_probability as tfp
tf.random.set_seed(0)
dist = tfp.distributions.PixelCNN(
    image_shape=(cfg["size"], cfg["size"], 1), num_resnet=cfg["num_resnet"], num_hierarchies=cfg["num_hierarchies"],
    num_filters=cfg["filters"], num_logistic_mix=cfg["logistics"], dropout_p=0.0, use_weight_norm=False,
    high=cfg["levels"] - 1, low=0)
x = tf.cast(tf.random.uniform((64, cfg["size"], cfg["size"], 1), 0, cfg["levels"], dtype=tf.int32), tf.float32)
dist.log_prob(x)  # builds the network
constrained = 0
for layer in dist.network.submodules:  # apply the causal masks (Keras would only after an optimizer step)
    constraint = getattr(layer, "kernel_constraint", None)
    if constraint is not None and getattr(layer, "kernel", None) is not None:
        layer.kernel.assign(constraint(layer.kernel))
        constrained += 1
params = int(sum(np.prod(v.shape) for v in dist.network.trainable_variables))
if what == "log_prob":
    times = []
    for _ in range(5):
        t = time.perf_counter(); dist.log_prob(x).numpy(); times.append(time.perf_counter() - t)
else:
    t = time.perf_counter(); dist.sample(16, seed=0).numpy(); times = [time.perf_counter() - t]
print(json.dumps({"seconds": sorted(times)[len(times) // 2], "params": params, "constrained": constrained}))
"""


def find_tfp_python(given: str | None) -> str | None:
    for candidate in (
        given,
        os.environ.get("TFP_PYTHON"),
        str(Path(__file__).resolve().parents[1] / ".venv-tfp/bin/python"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def run(python: str, code: str, what: str, threads: int) -> dict[str, float]:
    out = subprocess.run(
        [python, "-c", code, what, str(threads), json.dumps(CONFIG)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{python} failed on {what}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tfp-python", default=None, help="python of a virtual environment with TFP")
    parser.add_argument("--repeats", type=int, default=3, help="rounds, each side once per round and measurement")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--what", nargs="+", choices=["log_prob", "sample"], default=["log_prob", "sample"])
    parser.add_argument("--quick", action="store_true", help="one round")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    tfp_python = find_tfp_python(args.tfp_python)
    if (
        tfp_python is None
        or subprocess.run([tfp_python, "-c", "import tensorflow_probability"], capture_output=True).returncode
    ):
        print("skipped: no Python with tensorflow-probability (see the set-up in this script's docstring)")
        return []
    sides = {"ours": (sys.executable, _OURS), "tfp": (tfp_python, _TFP)}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for what in args.what:
        for r in range(args.repeats):
            for side in ("ours", "tfp") if r % 2 == 0 else ("tfp", "ours"):  # interleaved, alternating first
                results.setdefault((what, side), []).append(run(*sides[side], what, args.threads))
    rows: list[list[object]] = []
    figures: list[dict[str, object]] = []
    for what in args.what:
        ours = statistics.median(m["seconds"] for m in results[(what, "ours")])
        tfp = statistics.median(m["seconds"] for m in results[(what, "tfp")])
        unit = 64 if what == "log_prob" else 16
        rows.append([what, unit, ours, tfp, unit / ours, unit / tfp, tfp / ours])
        figures.append({"kind": "tfp", "model": "PixelCNNPlusPlus", "configuration": str(CONFIG), "what": what})
        figures[-1] |= {"ours_s": ours, "tfp_s": tfp}
    params = results[(args.what[0], "ours")][0]["params"], results[(args.what[0], "tfp")][0]["params"]
    constrained = {int(m["constrained"]) for key, runs in results.items() if key[1] == "tfp" for m in runs}
    print(f"TFP: kernel constraints (causal masks) applied to {sorted(constrained)} layers before timing")
    print_table(
        f"PixelCNN++ {CONFIG}, {args.threads} thread(s), median of {args.repeats} interleaved rounds; "
        f"parameters: ours {params[0]:,}, TFP {params[1]:,}",
        ["what", "images", "ours s", "TFP s", "ours images/s", "TFP images/s", "ours / TFP speed"],
        rows,
    )
    return figures


if __name__ == "__main__":
    main()
