"""Fit WaveNet to pygame's bundled 8-bit sounds; compare held-out codelength with lossless compressors.

Data: the 8-bit unsigned PCM WAV files shipped in ``pygame/examples/data``
(11025 Hz, mono; no download). The last 20% of every file is held out; of the
first 80%, the last eighth is a validation set for early stopping (the held-out
audio is never used to choose anything). The model
is a ``Categorical(256)`` over the raw 8-bit levels (the file's bytes), so its
held-out NLL in bits per sample is a codelength for exactly the bytes that
``xz -9``, ``bzip2 -9`` and FLAC compress. Each held-out part is scored on its
own (no context from the training part), as the compressors see it.

    python examples/wavenet_audio.py            # full run (5-10 minutes on 2 CPU cores)
    python examples/wavenet_audio.py --quick    # seconds, for smoke tests

Writes ``generated.wav``, ``waveforms.png`` and ``continuation.png`` and the model to ``--out``.
"""

from __future__ import annotations

import argparse
import bz2
import importlib.util
import io
import lzma
import math
import shutil
import subprocess
import time
from pathlib import Path

import torch

import pyro_autoregressive as par
from pyro_autoregressive.audio import linear_decode, linear_encode, read_wav, write_wav
from pyro_autoregressive.streaming import generate_stream
from pyro_autoregressive.training import fit

LEVELS = 256


def pygame_sounds() -> dict[str, torch.Tensor]:
    """8-bit PCM levels ``(frames,)`` of every 8-bit unsigned mono WAV in pygame's example data."""
    import soundfile

    spec = importlib.util.find_spec("pygame")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pygame is not installed: pip install pygame")
    folder = Path(next(iter(spec.submodule_search_locations))) / "examples" / "data"
    sounds = {}
    for path in sorted(folder.glob("*.wav")):
        info = soundfile.info(str(path))
        if info.subtype != "PCM_U8" or info.channels != 1:
            continue  # e.g. secosmic_lo.wav is MS ADPCM, not 8-bit PCM
        audio, _ = read_wav(path, dtype=torch.float64)
        sounds[path.stem] = linear_encode(audio[0], LEVELS)  # exactly the file's bytes
    return sounds


def compressed_bits(data: bytes, tool: str) -> int:
    """Size in bits of ``data`` compressed by ``xz -9`` or ``bzip2 -9`` (the CLI if present, else the library)."""
    if shutil.which(tool):
        return 8 * len(subprocess.run([tool, "-9", "-c"], input=data, capture_output=True, check=True).stdout)
    if tool == "xz":
        return 8 * len(lzma.compress(data, preset=9))
    return 8 * len(bz2.compress(data, 9))


def flac_bits(levels: torch.Tensor, sample_rate: int) -> int:
    """Size in bits of the levels as an 8-bit FLAC file at the highest compression level (soundfile)."""
    import soundfile

    buffer = io.BytesIO()
    samples = (levels.numpy().astype("int16") - 128) * 256  # the 8-bit values, exactly, in 16-bit range
    soundfile.write(buffer, samples, sample_rate, format="FLAC", subtype="PCM_S8", compression_level=1.0)
    return 8 * len(buffer.getvalue())


def codelength_bits(model: par.WaveNet, parts: dict[str, torch.Tensor]) -> float:
    """Total NLL in bits of every part ``(frames,)`` scored whole and on its own (no padding, no context)."""
    return -sum(model.condition(length=len(x)).log_prob(x[None]).item() for x in parts.values()) / math.log(2.0)


def crops(sounds: list[torch.Tensor], length: int, stride: int) -> torch.Tensor:
    """Overlapping training windows ``(M, length)`` (a sound shorter than ``length`` is left-padded with silence)."""
    windows = []
    for x in sounds:
        if len(x) < length:
            x = torch.cat([torch.full((length - len(x),), LEVELS // 2, dtype=x.dtype), x])
        windows.append(x.unfold(0, length, stride))
    return torch.cat(windows)


def save_plots(out: Path, real: torch.Tensor, generated: torch.Tensor, prompt: torch.Tensor, futures, truth) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(10, 4.5), sharey=True)
    for ax, audio, title in ((axes[0], real, "held-out audio"), (axes[1], generated, "WaveNet sample")):
        ax.plot(linear_decode(audio).numpy(), linewidth=0.4)
        ax.set_title(title, fontsize=9)
        ax.set_ylim(-1, 1)
    axes[1].set_xlabel("sample (11025 Hz)")
    fig.tight_layout()
    fig.savefig(out / "waveforms.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 3.5))
    n = len(prompt)
    ax.plot(range(n), linear_decode(prompt).numpy(), color="black", linewidth=0.6, label="prompt")
    span = range(n, n + len(truth))
    ax.plot(span, linear_decode(truth).numpy(), color="black", linewidth=0.6, alpha=0.35, label="true continuation")
    for i, future in enumerate(futures):
        ax.plot(span, linear_decode(future).numpy(), linewidth=0.5, alpha=0.8, label=f"sample {i + 1}")
    ax.axvline(n, color="grey", linestyle=":")
    ax.set_ylim(-1, 1)
    ax.set_xlabel("sample")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("continuations of a held-out prompt (condition_on_prefix / streaming)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "continuation.png", dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residual", type=int, default=32)
    parser.add_argument("--skip", type=int, default=64)
    parser.add_argument("--layers", type=int, default=9)
    parser.add_argument("--stacks", type=int, default=2)
    parser.add_argument("--segment", type=int, default=1024, help="training window length")
    parser.add_argument("--stride", type=int, default=256, help="step between training windows")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--patience", type=int, default=20, help="epochs without a better validation NLL")
    parser.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train on every window upside down (255 - x)",
    )
    parser.add_argument("--val-fraction", type=float, default=0.125, help="of each training part, for validation")
    parser.add_argument("--minutes", type=float, default=14.0, help="training time budget")
    parser.add_argument("--seconds-generated", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=Path("outputs/wavenet_audio"))
    parser.add_argument("--init", type=Path, default=None, help="continue training a model saved by a previous run")
    parser.add_argument("--quick", action="store_true", help="tiny network, seconds of training (smoke test)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.residual, args.skip, args.layers, args.stacks = 8, 8, 3, 1
        args.segment, args.stride, args.epochs, args.minutes, args.seconds_generated = 256, 2048, 1, 0.05, 0.02
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rate = 11025

    sounds = pygame_sounds()
    train, held_out = {}, {}
    for name, levels in sounds.items():
        cut = math.ceil(0.8 * len(levels))
        train[name], held_out[name] = levels[:cut], levels[cut:]
    model = par.WaveNet(
        par.heads.Categorical(LEVELS),
        length=args.segment,
        residual_channels=args.residual,
        skip_channels=args.skip,
        num_layers=args.layers,
        num_stacks=args.stacks,
        one_hot=True,
    )
    if args.init is not None:  # keep training a saved model (its architecture wins over the flags)
        model = par.load(args.init)
        args.segment = model.length
        print(f"continuing from {args.init}")
    # the last part of every training part validates; the held-out 20% is never seen. Early stopping
    # scores windows of the parts (padded with silence where a part is shorter than a window); the
    # printed "validation parts" figure scores each part whole, like the held-out audio
    fitted, validation = {}, {}
    for name, levels in train.items():
        cut = len(levels) - math.ceil(args.val_fraction * len(levels))
        fitted[name], validation[name] = levels[:cut], levels[cut:]
    windows = crops(list(fitted.values()), args.segment, args.stride)
    val_windows = crops(list(validation.values()), args.segment, args.segment)
    if args.flip:  # polarity inversion: the same sounds upside down (exact on the 8-bit levels)
        windows = torch.cat([windows, LEVELS - 1 - windows])
    print(
        f"{len(sounds)} sounds ({', '.join(sounds)}): {sum(map(len, fitted.values()))} training samples "
        f"in {len(windows)} windows, {sum(map(len, validation.values()))} validation samples in "
        f"{len(val_windows)} windows, {sum(map(len, held_out.values()))} held-out samples; "
        f"receptive field {model.receptive_field}"
    )
    result = fit(
        model,
        windows,
        val=val_windows,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=args.patience,
        max_seconds=60 * args.minutes,
        progress=not args.no_progress,
    )

    # held-out codelength: each held-out part scored on its own, like the compressors see it
    with torch.no_grad():
        total_bits = codelength_bits(model, held_out)
    count = sum(map(len, held_out.values()))
    joined = torch.cat(list(held_out.values()))
    data = bytes(joined.to(torch.uint8).tolist())
    per_file = {
        tool: sum(compressed_bits(bytes(x.to(torch.uint8).tolist()), tool) for x in held_out.values())
        for tool in ("xz", "bzip2")
    }
    baselines = {
        "xz -9": min(compressed_bits(data, "xz"), per_file["xz"]) / count,
        "bzip2 -9": min(compressed_bits(data, "bzip2"), per_file["bzip2"]) / count,
        "FLAC (level 8, soundfile)": min(flac_bits(joined, rate), sum(flac_bits(x, rate) for x in held_out.values()))
        / count,
        "raw 8-bit PCM": 8.0,
    }
    model_bits = total_bits / count
    per_window = 1.0 / (args.segment * math.log(2.0))  # nats per window -> bits per sample
    epoch = result.best_epoch
    with torch.no_grad():
        val_bits = codelength_bits(model, validation) / sum(map(len, validation.values()))
    print(
        f"trained {result.seconds:.0f} s, {len(result.train_nll)} epochs, best {epoch + 1}: train "
        f"{result.train_nll[epoch] * per_window:.3f}, validation windows {result.val_nll[epoch] * per_window:.3f}, "
        f"validation parts {val_bits:.3f} bits/sample"
    )
    print(f"{'codelength on the held-out 20% (' + str(count) + ' samples)':<48}{'bits/sample':>12}")
    print(f"{'WaveNet, Categorical(256) (NLL)':<48}{model_bits:>12.3f}")
    for name, bits in baselines.items():
        print(f"{name:<48}{bits:>12.3f}")
    best_tool = min(v for k, v in baselines.items() if k != "raw 8-bit PCM")
    print(f"WaveNet vs best compressor: {model_bits - best_tool:+.3f} bits/sample")

    args.out.mkdir(parents=True, exist_ok=True)
    # unconditional generation, streamed chunk by chunk
    steps = max(int(args.seconds_generated * rate), 1)
    started = time.perf_counter()
    generated = torch.cat(list(generate_stream(model, steps, chunk_size=2048, progress=not args.no_progress)), -1)[0]
    seconds = time.perf_counter() - started
    write_wav(args.out / "generated.wav", linear_decode(generated, dtype=torch.float64), rate, subtype="PCM_U8")
    # continuation of a held-out prompt: condition_on_prefix, three samples
    name = max(held_out, key=lambda k: len(held_out[k]))
    source = held_out[name]
    prompt_len = min(len(source) // 2, max(rate // 10, 8))
    future_len = min(len(source) - prompt_len, max(rate // 10, 8))
    d = model.condition(length=prompt_len + future_len).condition_on_prefix(
        source[None, : prompt_len + future_len], prompt_len
    )
    futures = d.sample((3,))[:, 0, prompt_len:]
    save_plots(args.out, source, generated, source[:prompt_len], futures, source[prompt_len : prompt_len + future_len])
    par.save(model, args.out / "model")
    rate_str = f"{steps / seconds:.0f} samples/s"
    print(f"generated {steps} samples in {seconds:.1f} s ({rate_str}) -> {args.out / 'generated.wav'}")
    print(f"plots -> {args.out / 'waveforms.png'}, {args.out / 'continuation.png'}; model -> {args.out / 'model'}")
    return {"model_bits": model_bits, **{k: v for k, v in baselines.items()}, "train_seconds": result.seconds}


if __name__ == "__main__":
    main()
