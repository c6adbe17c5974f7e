"""What the commands write and print: samples as PNG / WAV / text / ``.npy``, NLL lines and figures.

Which file a sample becomes follows the data (:class:`DataSpec`) or the extension asked:
``.png`` a grid of images (audio: waveforms and spectrograms), ``.wav`` audio, ``.txt``
text (other sequences as numbers), ``.npy`` the integer values of any data.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..model import AutoregressiveModel
from ..runs import LOSS_PLOT
from ..training import bits_per_dim
from .data import one_hot
from .data_spec import DataSpec
from .draw import draw
from .flags import FlagError, require_module

__all__ = [
    "EXTENSIONS",
    "as_items",
    "check_output",
    "check_run_outputs",
    "default_output",
    "label_context",
    "nll_figures",
    "report",
    "save_completions",
    "write_run_samples",
    "write_samples",
]

#: what each extension writes, and the kinds of data it can show
EXTENSIONS = {
    ".png": ("image", "audio"),
    ".wav": ("audio",),
    ".txt": ("text", "sequence", "audio"),
    ".npy": ("image", "audio", "text", "sequence"),
}
#: the default file name of samples of each kind of data
DEFAULT_OUTPUT = {"image": "samples.png", "audio": "samples.wav", "text": "samples.txt", "sequence": "samples.npy"}
#: the optional package each extension needs, and what for
NEEDS = {".png": ("matplotlib", "writing PNG files"), ".wav": ("soundfile", "writing WAV files")}
#: the sample rate of audio samples whose data recorded none (a bare model)
DEFAULT_RATE = 16000


def default_output(spec: DataSpec) -> str:
    return DEFAULT_OUTPUT[spec.kind]


def check_output(path: str | Path, spec: DataSpec | None, flag: str = "--out") -> None:
    """A :class:`FlagError` naming ``flag`` unless samples of ``spec``'s data can be written to ``path``.

    The extension must be one of :data:`EXTENSIONS` and fit the data (``spec`` None: only the
    extension is checked), and the optional package it needs must be installed.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise FlagError(flag, f"expected a file name ending in {', '.join(EXTENSIONS)}, got {str(path)!r}")
    if spec is not None and spec.kind not in EXTENSIONS[suffix]:
        fits = ", ".join(s for s, kinds in EXTENSIONS.items() if spec.kind in kinds)
        raise FlagError(
            flag, f"a {suffix} file cannot hold {spec.kind} samples (event shape {spec.event_shape}); use {fits}"
        )
    if suffix in NEEDS:
        require_module(*NEEDS[suffix][:1], flag, NEEDS[suffix][1])


#: the files of samples a run writes for each kind of data
RUN_FILES = {
    "image": ("samples.png", "completions.png"),
    "audio": ("samples.wav", "samples.png"),
    "text": ("samples.txt",),
    "sequence": ("samples.npy",),
}


def check_run_outputs(kind: str) -> None:
    """A :class:`FlagError` (naming ``--out``) if a package needed to write a run of ``kind`` data is missing: for
    its samples, or for the loss curve (``loss.png``) that every run writes."""
    for name in RUN_FILES[kind]:
        suffix = Path(name).suffix
        if suffix in NEEDS:
            module, purpose = NEEDS[suffix]
            require_module(module, "--out", f"{purpose} (the run's samples of {kind} data)")
    module, purpose = NEEDS[Path(LOSS_PLOT).suffix]
    require_module(module, "--out", f"{purpose} (the run's loss curve, {LOSS_PLOT})")


def as_items(samples: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    """Samples ``(*S, *model event)`` as items ``(N, *spec.event_shape)`` of the data (a MADE's events unflattened).

    Sequences of another length than the data's (``--length``) keep theirs.
    """
    if spec.kind == "image":
        return samples.reshape(-1, *spec.event_shape)
    return samples.reshape(-1, samples.shape[-1])


def write_samples(
    samples: torch.Tensor,
    spec: DataSpec,
    path: str | Path,
    title: str | None = None,
    *,
    stop_value: int | None = None,
    after: int = 0,
) -> list[Path]:
    """Write ``samples`` (items of ``spec``'s data) to ``path`` by its extension; the files written.

    A ``.txt`` file of sequences that end at ``stop_value`` (``condition(stop_value=)``) holds
    each up to its first ``stop_value`` at or after step ``after`` (a prompt's length),
    inclusive, without the padding.

    Several audio samples go into one WAV file, one after the other with a quarter of a
    second of silence between them (a ``.npy`` keeps them apart).
    """
    path = Path(path)
    check_output(path, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    items = as_items(samples.detach().cpu(), spec)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        np.save(path, items.numpy())
        return [path]
    if suffix == ".txt":
        rows = list(items)
        if stop_value is not None:
            rows = [row[: _end(row, stop_value, after)] for row in rows]
        path.write_text(_as_text(rows, spec))
        return [path]
    if suffix == ".wav":
        return [_write_wav(items, spec, path)]
    if spec.kind == "audio":
        return [_plot_audio(items, spec, path, title)]
    from ..plotting import save_image_grid

    return [save_image_grid(items, path, spec.levels, title=title)]


def _end(row: torch.Tensor, stop_value: int, after: int) -> int:
    """One past the first ``stop_value`` of ``row`` at or after ``after`` (the whole row without one)."""
    stops = (row[after:] == stop_value).nonzero()
    return after + int(stops[0, 0]) + 1 if len(stops) else len(row)


def _as_text(items: list[torch.Tensor], spec: DataSpec) -> str:
    """Text: each sample's bytes decoded as UTF-8 (invalid bytes as U+FFFD); other data: numbers, a line each."""
    if spec.kind == "text" and spec.levels <= 256:
        texts = [bytes(row.tolist()).decode("utf-8", errors="replace") for row in items]
        return "".join(f"----- sample {i} -----\n{text}\n" for i, text in enumerate(texts))
    return "".join(" ".join(map(str, row.tolist())) + "\n" for row in items)


def waveforms(items: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    """Audio levels ``(N, T)`` as samples in ``[-1, 1]``, by the data's encoding (mu-law or linear)."""
    from ..audio import linear_decode, mu_law_decode

    decode = linear_decode if spec.audio_encoding == "linear" else mu_law_decode
    return decode(items.long(), spec.levels)


def _write_wav(items: torch.Tensor, spec: DataSpec, path: Path, gap_seconds: float = 0.25) -> Path:
    """One WAV file of the samples one after the other, ``gap_seconds`` of silence between them."""
    from ..audio import write_wav

    audio = waveforms(items, spec)  # (N, T)
    rate = spec.sample_rate or DEFAULT_RATE
    gap = audio.new_zeros(len(audio), int(gap_seconds * rate))
    joined = torch.cat([audio, gap], dim=1).flatten()[: -gap.shape[1] or None]  # no gap after the last
    return write_wav(path, joined, rate)


def _plot_audio(items: torch.Tensor, spec: DataSpec, path: Path, title: str | None, most: int = 4) -> Path:
    """The waveform (above) and log-magnitude spectrogram (below) of up to ``most`` samples, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    audio = waveforms(items[:most], spec).double()
    rate = spec.sample_rate or 1
    n_fft = max(4, min(256, 2 ** int(math.log2(max(audio.shape[-1] // 4, 4)))))
    fig, axes = plt.subplots(2, len(audio), figsize=(3.2 * len(audio), 4.2), squeeze=False)
    for i, wave in enumerate(audio):
        seconds = np.arange(len(wave)) / rate
        axes[0, i].plot(seconds, wave.numpy(), linewidth=0.5)
        axes[0, i].set(ylim=(-1.05, 1.05), xlabel="s" if rate > 1 else "step", title=f"sample {i}")
        window = torch.hann_window(n_fft, dtype=wave.dtype)
        spectrum = torch.stft(wave, n_fft, n_fft // 4, window=window, return_complex=True).abs()
        decibels = 20 * torch.log10(spectrum + 1e-6)  # (n_fft // 2 + 1, frames)
        extent = (0.0, len(wave) / rate, 0.0, rate / 2)
        axes[1, i].imshow(decibels.numpy(), origin="lower", aspect="auto", extent=extent, cmap="magma")
        axes[1, i].set(xlabel="s" if rate > 1 else "step", ylabel="Hz" if rate > 1 else "")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def nll_figures(nll: float, spec: DataSpec, dims: int | None = None) -> dict[str, float]:
    """NLL in nats per item, bits per dimension, and bits per byte (text) or per sample (audio)."""
    dims = dims or spec.dims
    bits = bits_per_dim(nll, dims)
    figures = {"nll_nats": nll, "bits_per_dim": bits}
    if spec.kind == "text":
        figures["bits_per_byte"] = bits
    if spec.kind == "audio":
        figures["bits_per_sample"] = bits
    return figures


#: what an item of each kind of data is, in the NLL lines
ITEM = {"image": "image", "audio": "window", "text": "window", "sequence": "sequence"}
#: what a dimension is, beside bits per dimension
UNIT = {"text": "bits/byte", "audio": "bits/sample"}


def report(name: str, nll: float, dims: int, kind: str = "image") -> str:
    """One aligned line: NLL in nats per item and bits per dimension (per byte, per sample)."""
    unit = UNIT.get(kind, "bits/dim")
    return f"{name:<26}{nll:>12.2f} nats/{ITEM[kind]:<8}{bits_per_dim(nll, dims):>8.3f} {unit}"


#: samples a run writes of each kind of data
RUN_SAMPLES = {"image": 64, "audio": 4, "text": 4, "sequence": 16}


def label_context(model: AutoregressiveModel, num: int, labels: list[int] | None = None) -> torch.Tensor | None:
    """One-hot contexts ``(num, context_size)`` of ``labels`` repeated in turn (default: every class in turn).

    None for a model that takes no context.
    """
    if not model.context_size:
        return None
    cycle = torch.tensor(labels if labels else range(model.context_size))
    return one_hot(cycle.repeat(math.ceil(num / len(cycle)))[:num], model).to(model.device)


def write_run_samples(
    model: AutoregressiveModel,
    spec: DataSpec,
    out_dir: str | Path,
    *,
    test: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    num: int | None = None,
    progress: bool = True,
) -> tuple[list[Path], float]:
    """Samples of a trained model in its run folder, as its data calls for; the files and the seconds drawing took.

    Images: ``samples.png`` (a grid; with labels, every class in turn) and, given ``test``
    (values in the model's event shape and their one-hot contexts), ``completions.png``: the
    first 8 test images with the top half given and three completions each. Audio:
    ``samples.wav`` and ``samples.png`` (waveforms and spectrograms). Text: ``samples.txt``.
    Other sequences: ``samples.npy``.

    :param num: samples to draw (default: 64 images, 4 audio or text windows, 16 sequences).
    """
    out_dir = Path(out_dir)
    num = num or RUN_SAMPLES[spec.kind]
    context = label_context(model, num)
    d = model.condition(context)
    samples, seconds = draw(d, () if context is not None else (num,), progress=progress, desc="samples")
    title = f"{type(model).__name__} samples"
    names = [name for name in RUN_FILES[spec.kind] if name != "completions.png"]
    written = [path for name in names for path in write_samples(samples, spec, out_dir / name, title)]
    if spec.kind == "image" and test is not None:
        given, given_context = test[0][:8].to(model.device), None if test[1] is None else test[1][:8].to(model.device)
        half = model.condition(given_context).condition_on_prefix(given, d.num_steps // 2)
        completed, more = draw(half, (3,), progress=progress, desc="completions")
        seconds += more
        written.append(save_completions(given, completed, spec, out_dir / "completions.png"))
    return written, seconds


def save_completions(given: torch.Tensor, completed: torch.Tensor, spec: DataSpec, path: Path) -> Path:
    """A grid of each given image ``(N, *E)`` followed by its completions ``(S, N, *E)`` (model event shapes ``E``)."""
    from ..plotting import save_completion_grid

    shape = (len(given), *spec.event_shape)
    completed = completed.reshape(len(completed), *shape)
    title = "test images (left), completions of their bottom halves"
    return save_completion_grid(given.reshape(shape).cpu(), completed.cpu(), path, spec.levels, title=title)
