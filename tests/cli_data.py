"""Tiny data files for the command line's tests: PNG folders, WAV files, a text file (written, not shipped)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def png_folder(root: Path, *, classes: int = 2, per_class: int = 10, shape: tuple[int, int] = (4, 4)) -> Path:
    """``root/images/<class>/<n>.png``: 8-bit grey images, a sub-folder per class."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = root / "images"
    for c in range(classes):
        (folder / f"class{c}").mkdir(parents=True)
        for n in range(per_class):
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / f"class{c}" / f"{n}.png")
    return folder


def wav_file(path: Path, *, seconds: float = 0.25, rate: int = 4000, frequency: float = 440.0) -> Path:
    """A mono 16-bit PCM sine tone."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.5 * np.sin(2 * np.pi * frequency * t) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(samples.tobytes())
    return path


def wav_folder(root: Path, files: int = 3) -> Path:
    """``root/sounds/<n>.wav``: sine tones of different pitches."""
    for n in range(files):
        wav_file(root / "sounds" / f"{n}.wav", frequency=220.0 * (n + 1))
    return root / "sounds"


def text_file(root: Path, size: int = 4000) -> Path:
    """``root/text.txt``: repetitive ASCII text."""
    words = "the quick brown fox jumps over the lazy dog and sleeps "
    path = root / "text.txt"
    path.write_text((words * (size // len(words) + 1))[:size])
    return path


def make_run(root: Path, source: Path | str, model: str, flags: list[str], **load) -> Path:
    """A run folder of an untrained model for ``source`` (``root/run``), as ``train`` leaves one, in a second.

    ``flags`` are ``train``'s size flags; ``load`` the ``load_data`` keywords.
    """
    import json

    import pyro_autoregressive as par
    from pyro_autoregressive.cli import build_parser
    from pyro_autoregressive.cli.data import open_data
    from pyro_autoregressive.cli.data_spec import DataSpec
    from pyro_autoregressive.cli.families import build_model
    from pyro_autoregressive.cli.run_info import data_record

    dataset = open_data(str(source), load)
    spec = DataSpec.from_dataset(dataset)
    args = build_parser().parse_args(["train", "--model", model, *flags])
    run = root / "run"
    par.save(build_model(model, args.model_options, spec), run / "model")
    record = {"model": model, **data_record(spec, dataset.split(0))}
    (run / "config.json").write_text(json.dumps(record))
    return run
