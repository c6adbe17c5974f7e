"""Cached Transformer generation against a hand-written functional loop and HuggingFace ``generate``.

Model: ``Transformer(Categorical(256), max_length=1024, d_model=128, num_heads=4,
num_layers=4)`` in eval mode, float32, random weights (speed does not depend on them).
Three ways to draw ``batch`` sequences of ``T`` tokens, each with a KV cache:

* **ours**: ``model.condition(length=T).sample((batch,))``, end to end (the
  distribution's checks, the library's one sampling loop, the model's state);
* **functional**: :func:`functional_sample`, a plain loop written for this model
  alone over the same weights (``F.linear``, ``F.layer_norm``,
  ``F.scaled_dot_product_attention``, preallocated key/value buffers, the same
  Gumbel-max draw from the same random numbers) -- the floor for this model
  in eager PyTorch. It draws the same tokens as ours under the same seed
  (checked every run, and in ``tests/test_transformer.py``);
* **HF** (optional): ``transformers``' ``GPT2LMHeadModel.generate(do_sample=True,
  use_cache=True, max_new_tokens=T, top_k=0)`` of a GPT-2 of the same size
  (``n_embd=128, n_head=4, n_layer=4, vocab_size=256, n_positions=1024``, exact GELU,
  untied output layer) holding **the same weights**: ours map one to one onto
  GPT-2's (``Conv1D`` weights are our ``Linear`` weights transposed; our start token
  is set to the embedding of token 0, which HF gets as its one-token prompt; our
  output bias is zero at initialisation, as HF's head has none). The logits of the
  two agree (the largest difference is printed). HF runs in its own virtual
  environment (the pinned torch beside ``transformers``), in a subprocess, like
  ``bench_tfp.py``::

      python3 -m venv .venv-hf
      .venv-hf/bin/pip install torch==2.13.0 transformers
      python benchmarks/bench_generate.py --hf-python .venv-hf/bin/python

Each round times every configuration once on each side, the three sides of a
configuration back to back (ours and the functional loop alternate which goes first;
HF runs in a fresh subprocess, timing ``generate`` alone after a short warm-up);
medians over ``--repeats`` rounds, and the ratios of those medians; one thread
everywhere (``--threads``). On a machine shared with other jobs single runs vary by
tens of percent: take the ratios, measured side by side, rather than the times.
Without an HF interpreter (``--hf-python``, ``$HF_PYTHON`` or ``./.venv-hf``) the HF
column is left out.

    python benchmarks/bench_generate.py
    python benchmarks/bench_generate.py --quick        # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import pyro_autoregressive as par

from common import ROOT, print_table, subprocess_env

CONFIG = {"d_model": 128, "num_heads": 4, "num_layers": 4, "vocab": 256, "max_length": 1024}


def build(max_length: int = 1024, dtype: torch.dtype = torch.float32) -> par.Transformer:
    """The benchmark's model, seeded; its start token is the embedding of token 0 (HF's prompt)."""
    torch.manual_seed(0)
    model = par.Transformer(
        par.heads.Categorical(CONFIG["vocab"]),
        max_length=max_length,
        d_model=CONFIG["d_model"],
        num_heads=CONFIG["num_heads"],
        num_layers=CONFIG["num_layers"],
    )
    with torch.no_grad():
        model.start.copy_(model.token_embedding.weight[:, 0])
    return model.to(dtype).eval()


@torch.no_grad()
def functional_sample(model: par.Transformer, batch: int, length: int) -> torch.Tensor:
    """``batch`` sequences of ``length`` tokens drawn by a hand-written KV-cached loop over ``model``'s weights.

    Written for a ``Categorical`` head, absolute positions, no context and no
    window; the same arithmetic and random numbers as ``sample`` (Gumbel-max on
    ``torch.rand`` of the logits' shape), so the same tokens under one seed.
    """
    D, nh = model.d_model, model.blocks[0].attn.num_heads
    hs = D // nh
    dtype, device = model.start.dtype, model.start.device
    embedding, position = model.token_embedding.weight.t(), model.position  # (K, D), (T_max, D)
    layers = []
    for block in model.blocks:
        attn, fc1, fc2 = block.attn, block.mlp[0], block.mlp[2]
        layers.append(
            (
                block.norm1.weight,
                block.norm1.bias,
                attn.qkv.weight,
                attn.qkv.bias,
                attn.proj.weight,
                attn.proj.bias,
                block.norm2.weight,
                block.norm2.bias,
                fc1.weight,
                fc1.bias,
                fc2.weight,
                fc2.bias,
                torch.empty(batch, nh, length, hs, dtype=dtype, device=device),  # keys
                torch.empty(batch, nh, length, hs, dtype=dtype, device=device),  # values
            )
        )
    norm_w, norm_b, out_w, out_b = model.norm.weight, model.norm.bias, model.output.weight, model.output.bias
    tiny = torch.finfo(dtype).tiny
    tokens = torch.empty(batch, length, dtype=torch.long, device=device)
    x = (model.start + position[0]).expand(batch, 1, D)  # (B, 1, D), the input of position 0
    for t in range(length):
        for ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, w1, b1, w2, b2, keys, values in layers:
            h = F.layer_norm(x, (D,), ln1_w, ln1_b)
            q, k, v = F.linear(h, qkv_w, qkv_b).view(batch, 1, 3, nh, hs).unbind(2)  # (B, 1, nh, hs)
            keys[:, :, t : t + 1] = k.transpose(1, 2)
            values[:, :, t : t + 1] = v.transpose(1, 2)
            y = F.scaled_dot_product_attention(q.transpose(1, 2), keys[:, :, : t + 1], values[:, :, : t + 1])
            x = x + F.linear(y.transpose(1, 2).reshape(batch, 1, D), proj_w, proj_b)
            h = F.layer_norm(x, (D,), ln2_w, ln2_b)
            x = x + F.linear(F.gelu(F.linear(h, w1, b1)), w2, b2)
        logits = F.linear(F.layer_norm(x[:, 0], (D,), norm_w, norm_b), out_w, out_b)  # (B, K)
        uniform = torch.rand(logits.shape, dtype=dtype, device=device)
        token = torch.argmax(logits - torch.log(-torch.log(uniform.clamp(min=tiny))), dim=-1)  # (B,)
        tokens[:, t] = token
        if t + 1 < length:
            x = (F.embedding(token, embedding) + position[t + 1]).unsqueeze(1)  # (B, 1, D)
    return tokens


# -- HuggingFace, in its own interpreter ---------------------------------------------------------------

_HF = """
import json, sys, time, torch
from safetensors.torch import load_file
from transformers import GPT2Config, GPT2LMHeadModel
weights_path, configs, threads, repeats = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
w = load_file(weights_path)
L = sum(1 for k in w if k.endswith("norm1.weight"))
D, K = w["norm.weight"].shape[0], w["output.weight"].shape[0]
cfg = GPT2Config(vocab_size=K, n_positions=w["position"].shape[0], n_embd=D, n_layer=L, n_head=int(sys.argv[5]),
                 activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                 layer_norm_epsilon=1e-5, tie_word_embeddings=False)
model = GPT2LMHeadModel(cfg).eval()
sd = {"transformer.wte.weight": w["token_embedding.weight"].t(), "transformer.wpe.weight": w["position"],
      "transformer.ln_f.weight": w["norm.weight"], "transformer.ln_f.bias": w["norm.bias"],
      "lm_head.weight": w["output.weight"]}
for i in range(L):
    p, b = f"transformer.h.{i}.", f"blocks.{i}."
    sd |= {p + "ln_1.weight": w[b + "norm1.weight"], p + "ln_1.bias": w[b + "norm1.bias"],
           p + "ln_2.weight": w[b + "norm2.weight"], p + "ln_2.bias": w[b + "norm2.bias"],
           p + "attn.c_attn.weight": w[b + "attn.qkv.weight"].t(), p + "attn.c_attn.bias": w[b + "attn.qkv.bias"],
           p + "attn.c_proj.weight": w[b + "attn.proj.weight"].t(), p + "attn.c_proj.bias": w[b + "attn.proj.bias"],
           p + "mlp.c_fc.weight": w[b + "mlp.0.weight"].t(), p + "mlp.c_fc.bias": w[b + "mlp.0.bias"],
           p + "mlp.c_proj.weight": w[b + "mlp.2.weight"].t(), p + "mlp.c_proj.bias": w[b + "mlp.2.bias"]}
missing, unexpected = model.load_state_dict({k: v.contiguous() for k, v in sd.items()}, strict=False)
assert not unexpected and all(".attn.bias" in k or "masked_bias" in k for k in missing), (missing, unexpected)
assert float(w["output.bias"].abs().max()) == 0.0, "HF's head has no bias: ours must be zero"
x = torch.load(sys.argv[6]) if len(sys.argv) > 6 else None
out = {"transformers": __import__("transformers").__version__}
with torch.no_grad():
    if x is not None:  # logits of [0] + x[:-1], to compare with ours
        out["logits"] = model(torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], 1)).logits.tolist()
    for T, B in configs:
        prompt = torch.zeros(B, 1, dtype=torch.long)
        kwargs = dict(do_sample=True, use_cache=True, max_new_tokens=T, min_new_tokens=T, top_k=0, top_p=1.0,
                      temperature=1.0, pad_token_id=0, eos_token_id=None)
        model.generate(prompt, **(kwargs | {"max_new_tokens": 8, "min_new_tokens": 8}))  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            generated = model.generate(prompt, **kwargs)
            times.append(time.perf_counter() - start)
        assert generated.shape == (B, T + 1), generated.shape
        out[f"{T},{B}"] = times
print(json.dumps(out))
"""


def find_hf_python(given: str | None) -> str | None:
    for candidate in (given, os.environ.get("HF_PYTHON"), str(ROOT / ".venv-hf/bin/python")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def run_hf(python: str, weights: Path, configs: list[tuple[int, int]], threads: int, x: Path | None = None):
    args = [python, "-c", _HF, str(weights), json.dumps(configs), str(threads), "1", str(CONFIG["num_heads"])]
    out = subprocess.run(args + ([str(x)] if x else []), capture_output=True, text=True, env=subprocess_env())
    if out.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds (medians)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hf-python", default=None, help="python of a virtual environment with transformers")
    parser.add_argument("--no-hf", action="store_true", help="leave HF out even if it is found")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.lengths, args.batches, args.repeats = [16], [2], 1
    torch.set_num_threads(args.threads)
    model = build()
    configs = [(T, B) for T in args.lengths for B in args.batches]
    hf_python = None if args.no_hf else find_hf_python(args.hf_python)

    # the functional loop and ours draw the same tokens under one seed
    torch.manual_seed(1)
    ours_tokens = model.condition(length=configs[0][0]).sample((configs[0][1],))
    torch.manual_seed(1)
    same_tokens = torch.equal(functional_sample(model, configs[0][1], configs[0][0]), ours_tokens)
    print(f"functional loop draws the same tokens as ours under one seed: {same_tokens}")

    times: dict[tuple[str, int, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "model"
        par.save(model, weights)
        hf_version = None
        if hf_python is not None:
            x = torch.randint(0, CONFIG["vocab"], (2, 32))
            torch.save(x, Path(tmp) / "x.pt")
            check = run_hf(hf_python, weights / "model.safetensors", [], args.threads, Path(tmp) / "x.pt")
            with torch.no_grad():
                ours_logits = model(x)
            difference = (torch.tensor(check["logits"]) - ours_logits).abs().max().item()
            hf_version = check["transformers"]
            print(f"HF transformers {hf_version}: same weights, largest logit difference {difference:.2e}")
        with torch.no_grad():
            for T, B in configs:  # warm-up
                model.condition(length=T).sample((B,))
                functional_sample(model, B, T)
            for r in range(args.repeats):
                for T, B in configs:  # the three sides of one configuration back to back
                    d = model.condition(length=T)
                    sides = {
                        "ours": lambda d=d, B=B: d.sample((B,)),
                        "functional": lambda B=B, T=T: functional_sample(model, B, T),
                    }
                    for side in ("ours", "functional") if r % 2 == 0 else ("functional", "ours"):
                        times.setdefault((side, T, B), []).append(timed(sides[side]))
                    if hf_python is not None:
                        result = run_hf(hf_python, weights / "model.safetensors", [(T, B)], args.threads)
                        times.setdefault(("hf", T, B), []).extend(result[f"{T},{B}"])
                print(f"round {r + 1}/{args.repeats} done", flush=True)

    rows, figures = [], []
    for T, B in configs:
        ours = statistics.median(times[("ours", T, B)])
        functional = statistics.median(times[("functional", T, B)])
        row: list[object] = [T, B, ours / T * 1e3, functional / T * 1e3, ours / functional, B * T / ours]
        figure = {"kind": "generate", "model": "Transformer", "configuration": str(CONFIG), "T": T, "batch": B}
        figure |= {"ours_s": ours, "functional_s": functional}
        if hf_python is not None:
            hf = statistics.median(times[("hf", T, B)])
            row += [hf / T * 1e3, B * T / hf, hf / ours]
            figure["hf_s"] = hf
        rows.append(row)
        figures.append(figure)
    header = ["T", "batch", "ours ms/step", "functional ms/step", "ours / functional", "ours tok/s"]
    if hf_python is not None:
        header += ["HF ms/step", "HF tok/s", "ours / HF speed"]
    title = (
        f"Cached generation, {CONFIG}, float32, {args.threads} thread(s), median of {args.repeats} interleaved rounds; "
        f"torch {torch.__version__}" + (f", transformers {hf_version}" if hf_version else ", HF not run")
    )
    print_table(title, header, rows)
    return figures


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
