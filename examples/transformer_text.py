"""A byte-level Transformer on CPython's own standard library, against ``xz -9`` and ``bzip2 -9``.

Training text: a fixed list of modules of the running interpreter's standard
library; test text: a different fixed list. Every byte is a step of a
``Categorical(256)`` sequence. The test score is an exact code length: the test
bytes are cut into windows of ``T`` bytes overlapping by half, the first window
is scored whole and every later one only on its second half, given the first
(``condition_on_prefix``), so each byte is predicted from 128 to 255 bytes
before it and every byte is counted exactly once. The compressors see exactly
the same bytes, concatenated in the same order (``lzma`` preset 9 is ``xz -9``,
``bz2`` level 9 is ``bzip2 -9``; their container headers count).

Training is a step budget over random windows of one long byte stream, with a
warm-up and a cosine decay driven by elapsed time and no validation split, so it keeps
its own short loop rather than the epoch-based ``pyro_autoregressive.training.fit``.

    python examples/transformer_text.py                  # about 25 minutes on 2 CPU cores
    python examples/transformer_text.py --quick          # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import bz2
import lzma
import math
import sysconfig
import time
from pathlib import Path

import torch

import pyro_autoregressive as par

TEST_MODULES = ("bisect", "calendar", "csv", "fractions", "heapq", "shlex", "statistics", "string", "textwrap")
TRAIN_MODULES = (
    "abc", "argparse", "ast", "base64", "bdb", "cmd", "code", "codecs", "colorsys", "compileall", "configparser",
    "contextlib", "copy", "dataclasses", "datetime", "difflib", "dis", "doctest", "enum", "filecmp", "fileinput",
    "fnmatch", "ftplib", "functools", "genericpath", "getopt", "gettext", "glob", "gzip", "hashlib", "hmac",
    "imaplib", "inspect", "ipaddress", "keyword", "linecache", "locale", "lzma", "mailbox", "mimetypes", "netrc",
    "ntpath", "numbers", "operator", "optparse", "os", "pathlib", "pdb", "pickle", "pkgutil", "platform",
    "plistlib", "poplib", "posixpath", "pprint", "profile", "pstats", "py_compile", "queue", "quopri", "random",
    "reprlib", "rlcompleter", "runpy", "sched", "secrets", "selectors", "shelve", "shutil", "signal", "site",
    "smtplib", "socket", "socketserver", "ssl", "stat", "subprocess", "symtable", "tabnanny", "tarfile",
    "tempfile", "threading", "timeit", "token", "tokenize", "trace", "traceback", "tracemalloc", "types",
    "typing", "uuid", "warnings", "wave", "weakref", "zipimport",
)  # fmt: skip
PROMPT = b"def read_config(path):\n    "


def read_modules(names: tuple[str, ...]) -> tuple[bytes, list[str]]:
    """The source bytes of the stdlib modules ``names`` (those present), concatenated; and the names found."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    found = [name for name in names if (stdlib / f"{name}.py").is_file()]
    return b"".join((stdlib / f"{name}.py").read_bytes() for name in found), found


def compressed_bits_per_byte(data: bytes) -> dict[str, float]:
    """Bits per byte of ``xz -9`` and ``bzip2 -9`` on ``data``."""
    return {
        "xz -9": 8.0 * len(lzma.compress(data, preset=9)) / len(data),
        "bzip2 -9": 8.0 * len(bz2.compress(data, compresslevel=9)) / len(data),
    }


@torch.no_grad()
def test_bits_per_byte(model: par.Transformer, data: torch.Tensor, length: int, batch_size: int = 64) -> float:
    """Exact code length of ``data (n,)`` in bits per byte, with windows of ``length`` overlapping by half."""
    model.eval()
    n, half = len(data), length // 2
    d = model.condition(length=length)
    # (start, number of leading steps already scored); the last window ends at the last byte
    windows = [(0, 0)]
    while windows[-1][0] + length < n:
        start = min(windows[-1][0] + half, n - length)
        windows.append((start, windows[-1][0] + length - start))
    total = 0.0
    for fixed in sorted({f for _, f in windows}):
        starts = torch.tensor([s for s, f in windows if f == fixed])
        for chunk in starts.split(batch_size):
            x = data[chunk[:, None] + torch.arange(length)]  # (B, T)
            scored = d.condition_on_prefix(x, fixed) if fixed else d
            total -= scored.log_prob(x).sum().item()
    return total / (n * math.log(2.0))


def train(
    model: par.Transformer,
    data: torch.Tensor,
    *,
    length: int,
    batch_size: int,
    lr: float,
    max_seconds: float,
    max_steps: int,
    log_every: int = 50,
) -> int:
    """Adam on random windows of ``data``, warm-up then cosine decay of the learning rate; returns the steps taken."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    d = model.condition(length=length)
    started, step, warmup = time.perf_counter(), 0, 100
    model.train()
    while step < max_steps:
        elapsed = time.perf_counter() - started
        if elapsed > max_seconds:
            break
        progress = max(elapsed / max_seconds, step / max_steps)
        scale = min(1.0, (step + 1) / warmup) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        for group in optimiser.param_groups:
            group["lr"] = lr * max(scale, 0.02)
        starts = torch.randint(0, len(data) - length, (batch_size,))
        x = data[starts[:, None] + torch.arange(length)]  # (B, T)
        loss = -d.log_prob(x).mean() / length  # nats per byte
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        step += 1
        if step % log_every == 0:
            print(f"step {step:5d}  {elapsed:6.0f} s  train {loss.item() / math.log(2.0):.3f} bits/byte", flush=True)
    model.eval()
    return step


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=25.0, help="training time budget")
    parser.add_argument("--max-steps", type=int, default=100_000)
    parser.add_argument("--length", type=int, default=256, help="window T (the model's max_length)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/transformer_text"))
    parser.add_argument("--quick", action="store_true", help="tiny model, a few steps, a slice of the test text")
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.max_steps, args.length, args.batch_size = 1.0, 5, 64, 4
        args.d_model, args.heads, args.layers = 16, 2, 1

    torch.manual_seed(args.seed)
    train_bytes, train_found = read_modules(TRAIN_MODULES)
    test_bytes, test_found = read_modules(TEST_MODULES)
    if args.quick:
        test_bytes = test_bytes[:2000]
    print(
        f"train: {len(train_found)} modules, {len(train_bytes)} bytes; test: {', '.join(test_found)}, "
        f"{len(test_bytes)} bytes"
    )
    train_data = torch.frombuffer(bytearray(train_bytes), dtype=torch.uint8).long()
    test_data = torch.frombuffer(bytearray(test_bytes), dtype=torch.uint8).long()

    model = par.Transformer(
        par.heads.Categorical(256),
        max_length=args.length,
        d_model=args.d_model,
        num_heads=args.heads,
        num_layers=args.layers,
    )
    print(f"Transformer: {sum(p.numel() for p in model.parameters())} parameters")
    started = time.perf_counter()
    steps = train(
        model,
        train_data,
        length=args.length,
        batch_size=args.batch_size,
        lr=args.lr,
        max_seconds=60.0 * args.minutes,
        max_steps=args.max_steps,
    )
    seconds = time.perf_counter() - started
    bits = test_bits_per_byte(model, test_data, args.length)
    results = {"transformer": bits, **compressed_bits_per_byte(test_bytes)}
    print(f"{steps} steps of {args.batch_size} x {args.length} bytes in {seconds:.0f} s")
    print(f"{'test bits per byte':<22}{len(test_bytes):>10} bytes")
    for name, value in results.items():
        print(f"  {name:<20}{value:>10.3f}")

    prompt = torch.tensor(list(PROMPT))
    value = torch.zeros(args.length, dtype=torch.long)
    value[: len(prompt)] = prompt
    torch.manual_seed(args.seed)
    d = model.condition(length=args.length).condition_on_prefix(value, len(prompt)).temper(0.8)
    sample = bytes(d.sample().tolist())
    print("sampled continuation (temperature 0.8):")
    print(sample.decode("utf-8", errors="replace"))
    par.save(model, args.out / "model")
    return results | {"train_seconds": seconds, "steps": float(steps)}


if __name__ == "__main__":
    main()
