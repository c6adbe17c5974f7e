"""The data of ``--data``: its flags, loading it, its split, and its tensors in a model's event shape."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from ..data import BUILTINS, FORMATS, PARTS, Dataset, Split, load_data
from ..model import AutoregressiveModel
from .data_spec import DataSpec
from .flags import COUNT, int_at_least

__all__ = [
    "DEFAULT_DATA",
    "Part",
    "add_data_flags",
    "data_source",
    "load_options",
    "model_inputs",
    "one_hot",
    "open_data",
    "split_of",
    "split_parts",
]

DEFAULT_DATA = "digits"
AUDIO_ENCODINGS = ("mu-law", "linear")
#: data flags -> ``load_data`` keywords (passed only when given, so that each source keeps its defaults)
LOAD_FLAGS = ("format", "levels", "length", "audio_encoding", "sample_rate", "patch_size", "max_items")


def data_source(text: str) -> str:
    """A built-in data set's name or an existing file or folder."""
    if text in BUILTINS or Path(text).expanduser().exists():
        return text
    raise argparse.ArgumentTypeError(
        f"expected a built-in data set ({', '.join(BUILTINS)}) or an existing file or folder, got {text!r}"
    )


#: the kind of each built-in data set, and of data files by suffix
BUILTIN_KINDS = {"digits": "image", "photos": "image", "pygame-sounds": "audio", "stdlib-text": "text"}
FORMAT_KINDS = {"png": "image", "wav": "audio", "text": "text"}


def guess_kind(source: str) -> str | None:
    """The kind of data ``--data`` will load, where its name or its files' suffixes tell (else None)."""
    from ..data.folders import folder_format

    if source in BUILTIN_KINDS:
        return BUILTIN_KINDS[source]
    path = Path(source).expanduser()
    try:
        found = (
            folder_format(path)
            if path.is_dir()
            else {".png": "png", ".wav": "wav", ".txt": "text"}.get(path.suffix.lower())
        )
    except (ValueError, OSError):
        return None  # load_data says what is wrong with it
    return FORMAT_KINDS.get(found or "")


def add_data_flags(p: argparse.ArgumentParser, *, default: str | None = DEFAULT_DATA, training: bool = True) -> None:
    """``--data SOURCE`` and the options of loading it (each passed to ``load_data`` only when given).

    :param training: check at parse time that the files a run writes of this kind of data
        (PNG, WAV) can be written (matplotlib, soundfile), where the source tells its kind.
    """
    g = p.add_argument_group("data")
    where = "built-in: " + ", ".join(BUILTINS) + "; or a .npy/.npz/IDX/.png/.wav/.txt file or a folder of them"
    g.add_argument("--data", type=data_source, default=default, metavar="SOURCE", help=f"({where})")
    g.add_argument("--format", choices=tuple(FORMATS), help="the file format, where the name does not tell it")
    g.add_argument("--levels", type=int_at_least(2), help="quantise to this many levels (images, audio)")
    g.add_argument("--length", type=COUNT, help="window length of audio, text and 1-D arrays")
    g.add_argument("--audio-encoding", choices=AUDIO_ENCODINGS, help="audio levels by mu-law (default) or linearly")
    g.add_argument("--sample-rate", type=COUNT, help="resample audio to this rate (Hz)")
    g.add_argument("--patch-size", type=COUNT, help="patch side of the photos data set")
    g.add_argument("--max-items", type=COUNT, help="keep only the first items (quick runs)")
    g.add_argument("--split-seed", type=int_at_least(0), default=0, help="seed of the random train/val/test split")
    g.add_argument("--no-labels", action="store_true", help="ignore the class labels the data carries")
    if training:
        p.add_check(_check_run_outputs)  # type: ignore[attr-defined]


def _check_run_outputs(args: argparse.Namespace) -> None:
    from .outputs import check_run_outputs

    if getattr(args, "resume", None) is not None:  # the run's data, checked once it is read (train's --resume)
        return
    kind = FORMAT_KINDS.get(args.format) if args.format else guess_kind(args.data)
    if kind is not None:
        check_run_outputs(kind)


def load_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``load_data`` keywords of the data flags given."""
    options = {name: getattr(args, name) for name in LOAD_FLAGS if getattr(args, name, None) is not None}
    if getattr(args, "no_labels", False):
        options["labels"] = False
    return options


def open_data(source: str, options: dict[str, Any]) -> Dataset:
    """``load_data(source, **options)``; a keyword the source does not take names its flag."""
    try:
        return load_data(source, **options)
    except (ValueError, TypeError, FileNotFoundError) as error:
        message = str(error).replace("give format=", "give --format")
        option, _, rest = message.partition(": ")
        if option == "source":
            raise ValueError(f"--data: {rest}") from None
        if option in LOAD_FLAGS or option == "labels":
            flag = "--no-labels" if option == "labels" else "--" + option.replace("_", "-")
            raise ValueError(f"{flag}: {rest} (--data {source})") from None
        raise ValueError(f"--data {source}: {message}") from None


class Part:
    """One part of the split (train, val or test): values in the model's event shape and one-hot contexts."""

    def __init__(self, values: torch.Tensor, context: torch.Tensor | None) -> None:
        self.values, self.context = values, context

    def __len__(self) -> int:
        return len(self.values)


def split_parts(dataset: Dataset, split: Split, spec: DataSpec, model: AutoregressiveModel) -> dict[str, Part]:
    """``{"train", "val", "test"}`` of ``dataset`` by ``split``, shaped for ``model`` (see :func:`model_inputs`)."""
    values, context = model_inputs(dataset, spec, model)
    return {name: Part(values[split[name]], None if context is None else context[split[name]]) for name in PARTS}


def model_inputs(
    dataset: Dataset, spec: DataSpec, model: AutoregressiveModel
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The values in the model's event shape and the labels one-hot (float), or None.

    A MADE sees flattened events; any other mismatch of shapes (a sequence model of
    another length, say) is a ``ValueError`` that points at ``--length``. Labels become a ``(N, num_classes)`` one-hot
    ``context`` when the model takes one (``spec.num_classes`` of them).
    """
    values = dataset.values
    event = tuple(model.layout().event_shape)
    if tuple(values.shape[1:]) != event:
        if len(event) == 1 and values[0].numel() == event[0]:
            values = values.reshape(len(values), -1)  # MADE: the flattened event
        else:
            hint = f" (give --length {event[0]})" if len(event) == 1 and values.dim() == 2 else ""
            raise ValueError(
                f"--data {spec.source}: its items have shape {tuple(values.shape[1:])}, but the model "
                f"{type(model).__name__} models events of shape {event}{hint}"
            )
    if int(values.max()) >= model.head.num_classes:
        raise ValueError(
            f"--data {spec.source}: values up to {int(values.max())}, but the model's head has "
            f"{model.head.num_classes} levels (give --levels {model.head.num_classes})"
        )
    context = None
    if model.context_size:
        if dataset.context is None:
            raise ValueError(
                f"--data {spec.source}: the model takes class labels ({model.context_size} classes as context), "
                "but this data has none"
            )
        if dataset.num_classes > model.context_size:
            raise ValueError(
                f"--data {spec.source}: {dataset.num_classes} classes, but the model takes {model.context_size}"
            )
        context = one_hot(dataset.context, model)
    return values, context


def one_hot(labels: torch.Tensor, model: AutoregressiveModel) -> torch.Tensor:
    """Class labels ``(N,)`` as the model's one-hot ``context (N, context_size)``."""
    return torch.nn.functional.one_hot(labels, model.context_size).to(model.dtype)


def split_of(dataset: Dataset, seed: int, record: dict[str, Any] | None = None) -> Split:
    """The recorded split, else the data's own (digits: Tomczak's), else a random one seeded by ``seed``."""
    if record is not None:
        split = Split.from_dict(record)
        if split.size != len(dataset):
            raise ValueError(f"--data: the run's split covers {split.size} items, this data has {len(dataset)}")
        return split
    return dataset.split(seed)
