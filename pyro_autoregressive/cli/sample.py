"""``pyro-autoregressive sample``: draw from a run or a saved model, with prompts, filters and labels."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..data import load_data
from ..distribution import AutoregressiveDistribution
from .data import model_inputs, split_of
from .data_spec import DataSpec
from .draw import draw
from .flags import COUNT, POSITIVE, FlagError, add_device_flags, device, int_at_least, probability, run_or_model
from .outputs import check_output, default_output, label_context, save_completions, write_samples
from .run_info import Run, open_run

__all__ = ["add_parser", "sample"]

#: samples drawn when ``--num`` is not given
DEFAULT_NUM = {"image": 64, "audio": 4, "text": 4, "sequence": 16}


def sample(args: argparse.Namespace) -> int:
    run = open_run(args.path, map_location=device(args))
    model, spec = run.model, run.spec
    out = Path(args.out or default_output(spec))
    check_output(out, spec)  # before any work: the extension fits the data
    num = args.num or DEFAULT_NUM[spec.kind]
    torch.manual_seed(args.seed)
    d, sample_shape, given, prompt_steps = _distribution(args, run, num)
    if args.greedy:
        d = d.top_k(1)
    samples, seconds = draw(
        d, sample_shape, cache=not args.no_cache, batch_chunk=args.batch_size, progress=not args.no_progress
    )
    if given is not None and spec.is_image and out.suffix.lower() == ".png":
        paths = [save_completions(given, samples, spec, out)]
    else:
        if given is not None:
            samples = samples.transpose(0, 1)  # (N given, S, ...): each item's completions together
        title = f"{type(model).__name__} samples"
        paths = write_samples(samples, spec, out, title, stop_value=args.stop_value, after=prompt_steps)
    count = int(np.prod(sample_shape + tuple(d.batch_shape)))
    where = ", ".join(map(str, paths))
    print(
        f"{count} samples ({d.num_steps} steps each) at temperature {args.temperature:g} in {seconds:.2f} s -> {where}"
    )
    return 0


def _distribution(
    args: argparse.Namespace, run: Run, num: int
) -> tuple[AutoregressiveDistribution, tuple[int, ...], torch.Tensor | None, int]:
    """The distribution to draw from, the sample shape, the given test items of ``--complete`` (or None),
    and the steps given (a prompt's, or the halves of ``--complete``)."""
    model, spec = run.model, run.spec
    length = _length(args, model, spec)
    labels = _labels(args, run)
    kwargs = {"length": length} if length is not None else {}
    if args.stop_value is not None:
        if not 0 <= args.stop_value < model.head.num_classes:
            raise FlagError("--stop-value", f"expected a value in [0, {model.head.num_classes - 1}]")
        kwargs["stop_value"] = args.stop_value
    if args.complete:
        if labels is not None:
            raise FlagError("--context", "not with --complete, whose test items keep their own labels")
        given, context = _test_items(run, args.complete)
        d = model.condition(context, **kwargs).temper(args.temperature)
        d = _filtered(args, d).condition_on_prefix(given, d.num_steps // 2)
        return d, (num,), given, d.num_steps // 2
    context = label_context(model, num, labels)
    d = _filtered(args, model.condition(context, **kwargs).temper(args.temperature))
    n = 0
    if args.prompt is not None:
        prompt = _prompt(args.prompt, spec, model)
        n = prompt.shape[0] if not spec.is_image else d.num_steps // 2
        if n > d.num_steps:
            raise FlagError("--prompt", f"{n} steps, but the samples have {d.num_steps} (give a longer --length)")
        value = torch.zeros(d.event_shape, dtype=torch.long, device=model.device)
        value.view(-1)[: prompt.numel()] = prompt.reshape(-1)[: value.numel()]
        d = d.condition_on_prefix(value, n)
    return d, (() if context is not None else (num,)), None, n


def _filtered(args: argparse.Namespace, d: AutoregressiveDistribution) -> AutoregressiveDistribution:
    if args.top_k is not None:
        d = d.top_k(args.top_k)
    if args.top_p is not None:
        d = d.top_p(args.top_p)
    if args.min_p is not None:
        d = d.min_p(args.min_p)
    return d


def _length(args: argparse.Namespace, model, spec: DataSpec) -> int | None:
    """``--length`` checked against the model: sequence models only, within a Transformer's window."""
    if args.length is None:
        return None
    try:
        model.layout(args.length)
    except (TypeError, ValueError) as error:
        reason = str(error).partition(": ")[2] or str(error)
        raise FlagError("--length", f"{type(model).__name__}: {reason}") from None
    return args.length


def _labels(args: argparse.Namespace, run: Run) -> list[int] | None:
    """``--context``: class labels by number or by name, checked against the model."""
    if args.context is None:
        return None
    classes = run.model.context_size
    if not classes:
        raise FlagError("--context", "the model takes no class labels")
    names = run.spec.class_names
    labels = []
    for text in args.context:
        if text in names:
            labels.append(names.index(text))
        elif text.isdigit() and int(text) < classes:
            labels.append(int(text))
        else:
            known = f" or a name ({', '.join(names)})" if names else ""
            raise FlagError("--context", f"expected a class label in [0, {classes - 1}]{known}, got {text!r}")
    return labels


def _test_items(run: Run, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The first ``count`` items of the run's test split (values in the model's shape, one-hot contexts)."""
    if not run.spec.load:
        raise FlagError("--complete", "a bare model records no data to take test items from; give --prompt")
    dataset = load_data(**run.spec.load)
    split = split_of(dataset, 0, run.split)
    values, context = model_inputs(dataset, run.spec, run.model)
    test = split.test[:count]
    if len(test) == 0:
        raise FlagError("--complete", "the run's test split is empty")
    model = run.model
    return values[test].to(model.device), None if context is None else context[test].to(model.device)


def _prompt(text: str, spec: DataSpec, model) -> torch.Tensor:
    """The prompt's values: text bytes (a file's or the argument's), a WAV file's audio, a PNG or ``.npy``."""
    path = Path(text)
    levels = model.head.num_classes
    if path.suffix.lower() == ".npy" and path.is_file():
        values = torch.from_numpy(np.load(path, allow_pickle=False)).long()
    elif spec.kind == "audio":
        values = _audio_prompt(path, spec)
    elif spec.is_image:
        values = _image_prompt(path, spec)
    elif spec.kind == "text":
        data = path.read_bytes() if path.is_file() else text.encode("utf-8")
        values = torch.tensor(list(data), dtype=torch.long)
    else:
        raise FlagError("--prompt", f"expected a .npy file of values for {spec.kind} data, got {text!r}")
    if values.numel() == 0:
        raise FlagError("--prompt", "it is empty")
    if int(values.min()) < 0 or int(values.max()) >= levels:
        raise FlagError(
            "--prompt", f"values must lie in [0, {levels - 1}], got [{int(values.min())}, {int(values.max())}]"
        )
    if spec.is_image and tuple(values.shape) != tuple(spec.event_shape):
        raise FlagError("--prompt", f"expected an image of shape {spec.event_shape}, got {tuple(values.shape)}")
    return values.to(model.device)


def _audio_prompt(path: Path, spec: DataSpec) -> torch.Tensor:
    from ..data.wav import AUDIO_ENCODINGS, read_pcm, resample

    if not path.is_file():
        raise FlagError("--prompt", f"expected a WAV file for audio, got {str(path)!r}")
    try:
        samples, rate = read_pcm(path)
    except ValueError as error:
        raise FlagError("--prompt", str(error).partition(": ")[2]) from None
    if spec.sample_rate and rate != spec.sample_rate:
        samples = np.clip(resample(samples, rate, spec.sample_rate), -1.0, 1.0)
    return AUDIO_ENCODINGS[spec.audio_encoding](torch.from_numpy(samples), spec.levels)


def _image_prompt(path: Path, spec: DataSpec) -> torch.Tensor:
    from ..data.images import PNG_LEVELS, read_png
    from ..data.values import requantise

    if not path.is_file() or path.suffix.lower() != ".png":
        raise FlagError("--prompt", f"expected a .png or .npy image, got {str(path)!r}")
    try:
        pixels = torch.from_numpy(read_png(path)).long()
    except ValueError as error:
        raise FlagError("--prompt", str(error).partition(": ")[2]) from None
    return requantise(pixels, PNG_LEVELS, spec.levels if spec.levels < PNG_LEVELS else None)[0]


def _check_out(args: argparse.Namespace) -> None:
    if args.out is not None:
        check_output(args.out, None)


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "sample",
        help="draw samples (PNG, WAV, text or .npy by the data or the --out extension)",
        description="Draw samples from a run folder or a saved model. The files follow the run's data (images: "
        "a PNG grid, audio: WAV, text: a .txt file, other sequences: .npy) or the extension of --out.",
    )
    p.add_argument("path", type=run_or_model, metavar="RUN", help="a run folder (train --out) or a saved model")
    p.add_argument("--num", type=COUNT, help="samples to draw (default: 64 images, 4 audio or text, 16 sequences)")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--temperature", type=POSITIVE, default=1.0)
    p.add_argument("--top-k", type=COUNT, help="draw each value among the k most likely")
    p.add_argument("--top-p", type=probability, help="draw each value from the smallest set of mass >= p")
    p.add_argument("--min-p", type=probability, help="drop values below p times the most likely one's probability")
    p.add_argument("--greedy", action="store_true", help="the most likely value at every step (top-k 1)")
    p.add_argument("--context", nargs="+", metavar="LABEL", help="class labels (numbers or names), in turn")
    given = p.add_mutually_exclusive_group()
    given.add_argument("--prompt", metavar="FILE|TEXT", help="given start: text (or a text file), a WAV, a PNG, a .npy")
    given.add_argument(
        "--complete", type=COUNT, metavar="N", help="complete the second half of N test items of the run"
    )
    p.add_argument("--length", type=COUNT, help="steps of sequence models (default: the model's)")
    p.add_argument("--stop-value", type=int_at_least(0), metavar="V", help="sequences end at the first V")
    p.add_argument("--batch-size", type=COUNT, help="draw at most this many sequences at a time")
    p.add_argument("--no-cache", action="store_true", help="rerun the full network at every step (reference)")
    p.add_argument("--out", help="output file: .png, .wav, .txt or .npy (default: samples.<by the data>)")
    p.add_argument("--no-progress", action="store_true")
    add_device_flags(p)
    p.add_check(_check_out)  # type: ignore[attr-defined]
    p.set_defaults(run=sample)
