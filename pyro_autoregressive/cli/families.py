"""The model families of ``--model``, their size flags and ``--model-config``, and building one for the data."""

from __future__ import annotations

import argparse
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import heads
from ..model import AutoregressiveModel
from .data_spec import DataSpec
from .flags import FlagError

__all__ = ["DEFAULT_MODEL", "FAMILIES", "MODELS", "OPTIONS", "Family", "add_model_flags", "build_model", "family_of"]

DEFAULT_MODEL = "gated"


@dataclass(frozen=True)
class Value:
    """How a size option's value is checked, from a flag's text or from a JSON value."""

    expected: str
    check: Callable[[Any], bool]
    convert: Callable[[str], Any] = int
    nargs: str | None = None
    metavar: str = "N"

    def from_text(self, text: str) -> Any:
        try:
            value = self.convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self.expected}, got {text!r}") from None
        if not self.check(value):
            raise argparse.ArgumentTypeError(f"expected {self.expected}, got {text!r}")
        return value

    def from_json(self, key: str, value: Any) -> Any:
        ok = self.check(value) if self.nargs is None else _is_list(value) and all(map(self.check, value))
        if not ok:
            expected = self.expected if self.nargs is None else f"a list of {self.expected.removeprefix('an ')}s"
            raise FlagError("--model-config", f"key {key!r}: expected {expected}, got {json.dumps(value)}")
        return list(value) if self.nargs is not None else value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0


COUNT = Value("an int >= 1", lambda v: _is_int(v) and v >= 1)
ODD = Value("an odd int >= 1", lambda v: _is_int(v) and v >= 1 and v % 2 == 1)
ODD3 = Value("an odd int >= 3", lambda v: _is_int(v) and v >= 3 and v % 2 == 1)
AT_LEAST_2 = Value("an int >= 2", lambda v: _is_int(v) and v >= 2)
DROPOUT = Value(
    "a number in [0, 1)",
    lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
    float,
    metavar="P",
)
SIZES = Value("an int >= 1", COUNT.check, nargs="+")


@dataclass(frozen=True)
class Option:
    """A size flag: ``--hidden-channels`` sets the constructor keyword ``hidden_channels``."""

    key: str
    value: Value
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


#: every size option of every family, by constructor keyword
OPTIONS = {
    o.key: o
    for o in (
        Option("hidden_sizes", SIZES, "hidden layer sizes"),
        Option("hidden_channels", COUNT, "channels of the hidden layers"),
        Option("num_layers", COUNT, "layers (residual blocks, LSTM layers, dilated layers per stack, blocks)"),
        Option("kernel_size", COUNT, "kernel size of the hidden convolutions (odd; WaveNet: the dilated ones, >= 2)"),
        Option("first_kernel_size", ODD3, "kernel size of the first, masked convolution (odd, >= 3)"),
        Option("num_components", COUNT, "logistic components per pixel"),
        Option("num_resnet", COUNT, "gated ResNet blocks per level"),
        Option("num_hierarchies", COUNT, "levels of the up and down passes (H and W divisible by 2 ** (n - 1))"),
        Option("dropout", DROPOUT, "dropout probability while training"),
        Option("residual_channels", COUNT, "channels of the residual stream"),
        Option("skip_channels", COUNT, "channels of the skip connections"),
        Option("num_stacks", COUNT, "stacks of dilated layers"),
        Option("d_model", COUNT, "width of the residual stream"),
        Option("num_heads", COUNT, "attention heads (dividing --d-model)"),
        Option("mlp_ratio", COUNT, "width of the feed-forward layers over --d-model"),
        Option("attention_window", COUNT, "attend to the last W steps only (any --length then works)"),
    )
}
#: the kernels of the image families: odd, so that they have a centre
IMAGE_KERNELS = {"kernel_size": ODD, "first_kernel_size": ODD3}
#: constructor keywords the data sets: never a size option
FROM_DATA = ("image_shape", "head", "event_size", "length", "max_length", "context_size", "num_classes")


@dataclass(frozen=True)
class Auto:
    """A default that depends on the data: ``resolve(spec)``, described by ``text`` in the help."""

    text: str
    resolve: Callable[[DataSpec], Any]

    def __str__(self) -> str:
        return self.text


def _channels_multiple(base: int) -> Auto:
    """``base`` rounded up to a multiple of the channels (channel masks split the hidden units into C groups)."""
    return Auto(
        f"{base}, a multiple of C",
        lambda spec: -(-base // spec.event_shape[0]) * spec.event_shape[0],
    )


#: PixelCNN++'s levels: the most, up to 3, whose downsampling divides H and W
_HIERARCHIES = Auto(
    "the most up to 3 that divide H and W",
    lambda spec: max(
        n for n in (1, 2, 3) if spec.event_shape[1] % 2 ** (n - 1) == 0 == spec.event_shape[2] % 2 ** (n - 1)
    ),
)


@dataclass(frozen=True)
class Family:
    """A ``--model`` choice: its class, the kinds of data it models, its size options and their defaults."""

    name: str
    class_name: str
    kinds: tuple[str, ...]
    defaults: dict[str, Any]
    summary: str
    #: this family's own check of an option (WaveNet's kernel need not be odd)
    values: dict[str, Value] = field(default_factory=dict)

    @property
    def options(self) -> tuple[str, ...]:
        """The size options it takes (those of its constructor that the library has)."""
        keywords = inspect.signature(_model_class(self.class_name).__init__).parameters
        return tuple(k for k in self.defaults if k in keywords)

    def value(self, key: str) -> Value:
        """How this family checks the option ``key``."""
        return self.values.get(key, IMAGE_KERNELS.get(key, OPTIONS[key].value))


_IMAGE = ("image",)
_SEQUENCES = ("audio", "text", "sequence")
FAMILIES = {
    f.name: f
    for f in (
        Family("made", "MADE", _IMAGE + _SEQUENCES, {"hidden_sizes": [512, 512]}, "MADE on the flattened event"),
        Family(
            "pixelcnn",
            "PixelCNN",
            _IMAGE,
            {"hidden_channels": _channels_multiple(64), "num_layers": 6, "kernel_size": 3, "first_kernel_size": 7},
            "PixelCNN (masked convolutions)",
        ),
        Family(
            "gated",
            "GatedPixelCNN",
            _IMAGE,
            {"hidden_channels": _channels_multiple(64), "num_layers": 6, "kernel_size": 3, "first_kernel_size": 7},
            "Gated PixelCNN (vertical and horizontal stacks)",
        ),
        Family(
            "pixelcnnpp",
            "PixelCNNPlusPlus",
            _IMAGE,
            {
                "num_components": 5,
                "hidden_channels": 64,
                "num_resnet": 2,
                "num_hierarchies": _HIERARCHIES,
                "dropout": 0.2,
            },
            "PixelCNN++ (discretized logistic mixture)",
        ),
        Family(
            "rowlstm",
            "RowLSTM",
            _IMAGE,
            {"hidden_channels": _channels_multiple(64), "num_layers": 3, "kernel_size": 3, "first_kernel_size": 7},
            "PixelRNN's Row LSTM",
        ),
        Family(
            "diagonalbilstm",
            "DiagonalBiLSTM",
            _IMAGE,
            {"hidden_channels": _channels_multiple(48), "num_layers": 2, "first_kernel_size": 7},
            "PixelRNN's Diagonal BiLSTM",
        ),
        Family(
            "wavenet",
            "WaveNet",
            _SEQUENCES,
            {
                "residual_channels": 32,
                "skip_channels": 64,
                "num_layers": 10,
                "num_stacks": 2,
                "kernel_size": 2,
            },
            "WaveNet (dilated causal convolutions)",
            {"kernel_size": AT_LEAST_2},
        ),
        Family(
            "transformer",
            "Transformer",
            _IMAGE + _SEQUENCES,
            {"d_model": 64, "num_heads": 4, "num_layers": 4, "dropout": 0.2, "mlp_ratio": 4, "attention_window": None},
            "decoder-only Transformer (images in raster order)",
        ),
    )
}
#: the families by name (what ``--model`` accepts)
MODELS = tuple(FAMILIES)


def _model_class(class_name: str) -> type[AutoregressiveModel]:
    from .. import models

    return getattr(models, class_name)


def family_of(model: AutoregressiveModel) -> str | None:
    """The ``--model`` name of a model's class (None for a class the command line does not build)."""
    return next((f.name for f in FAMILIES.values() if f.class_name == type(model).__name__), None)


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """``--model``, ``--model-config`` and every family's size flags, checked after parsing.

    A size flag of another family, an unknown or ill-typed ``--model-config`` key is one
    line naming it. Sets ``args.model_options``: the family's defaults, then the JSON's
    keys, then the flags given (a flag wins over the JSON).
    """
    names = ", ".join(MODELS)
    p.add_argument("--model", choices=MODELS, default=DEFAULT_MODEL, metavar="FAMILY", help=f"one of {names}")
    p.add_argument(
        "--model-config",
        metavar="JSON",
        help="constructor keywords as a JSON object (or a .json file), e.g. '{\"hidden_channels\": 32}'",
    )
    group = p.add_argument_group("model sizes (each family takes some; see docs/cli.md)")
    for option in OPTIONS.values():
        if not any(option.key in f.options for f in FAMILIES.values()):
            continue  # an option of a constructor this version of the library lacks
        takers = [
            f"{f.name}: {_default_text(f.defaults[option.key])}" for f in FAMILIES.values() if option.key in f.defaults
        ]
        group.add_argument(
            option.flag,
            *(["--hidden"] if option.key == "hidden_sizes" else []),
            dest=option.key,
            type=option.value.from_text,
            nargs=option.value.nargs,
            metavar=option.value.metavar,
            help=f"{option.help} ({'; '.join(takers)})",
        )
    p.add_check(_check_model_flags)  # type: ignore[attr-defined]


def _default_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, Auto):
        return value.text
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _check_model_flags(args: argparse.Namespace) -> None:
    if getattr(args, "resume", None) is not None:  # the run's model: checked against the run (train's --resume)
        args.model_options = None
        return
    family = FAMILIES[args.model]
    takes = family.options
    for key, option in OPTIONS.items():
        if getattr(args, key, None) is not None and key not in takes:
            flags = ", ".join(OPTIONS[k].flag for k in takes)
            raise FlagError(option.flag, f"--model {family.name} does not take it (its size flags: {flags})")
    options = {k: None if isinstance(family.defaults[k], Auto) else family.defaults[k] for k in takes}
    options.update(_read_model_config(args.model_config, family) if args.model_config else {})
    for key in takes:
        given = getattr(args, key, None)
        if given is not None:
            value = family.value(key)
            if not (all(map(value.check, given)) if value.nargs else value.check(given)):
                shown = " ".join(map(str, given)) if value.nargs else given
                raise FlagError(OPTIONS[key].flag, f"expected {value.expected} for --model {family.name}, got {shown}")
            options[key] = given
    args.model_options = options


def _read_model_config(text: str, family: Family) -> dict[str, Any]:
    """The keys of ``--model-config`` (inline JSON or a JSON file), each checked as its flag would be."""
    path = Path(text)
    source = path.read_text() if path.is_file() else text
    try:
        config = json.loads(source)
    except json.JSONDecodeError as error:
        if not path.is_file() and not text.lstrip().startswith(("{", "[")):
            raise FlagError("--model-config", f"expected a JSON object or a .json file, got {text!r}") from None
        raise FlagError("--model-config", f"not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise FlagError("--model-config", f"expected a JSON object of constructor keywords, got {json.dumps(config)}")
    takes = family.options
    for key in config:
        if key in FROM_DATA:
            raise FlagError("--model-config", f"key {key!r} is set from the data (--data), not by the model config")
        if key not in takes:
            raise FlagError(
                "--model-config", f"unknown key {key!r} for --model {family.name} (expected: {', '.join(takes)})"
            )
    return {key: family.value(key).from_json(key, value) for key, value in config.items()}


def build_model(name: str, options: dict[str, Any], spec: DataSpec) -> AutoregressiveModel:
    """The ``--model name`` model for the data of ``spec``, sized by ``options`` (``args.model_options``).

    Images give ``image_shape``, sequences the length ``T``; the head is ``Categorical(levels)``
    (PixelCNN++: its ``DiscretizedLogisticMixture`` over ``levels``); class labels give
    ``context_size = num_classes``; an option that is None takes its data-dependent default
    (:class:`Auto`) or is left out. A family that cannot model the data is a ``ValueError``
    naming ``--model`` and ``--data``; a value the constructor refuses names its flag.
    """
    family = FAMILIES[name]
    if spec.kind not in family.kinds:
        fits = ", ".join(f.name for f in FAMILIES.values() if spec.kind in f.kinds)
        raise ValueError(
            f"--model {name} cannot model --data {spec.source}: it models {' or '.join(family.kinds)} data, and this "
            f"is {spec.kind} data of event shape {spec.event_shape}; for {spec.kind} data use --model {fits}"
        )
    cls = _model_class(family.class_name)
    kwargs = {}
    for key, value in options.items():
        default = family.defaults.get(key)
        if value is None and isinstance(default, Auto):
            value = default.resolve(spec)
        if value is not None:
            kwargs[key] = value
    kwargs["context_size"] = spec.num_classes
    head = heads.Categorical(spec.levels)
    if name == "made":
        args: tuple[Any, ...] = (spec.dims, head)
    elif name == "pixelcnnpp":
        args, kwargs["num_classes"] = (spec.event_shape,), spec.levels
    elif name == "wavenet":
        args, kwargs["length"] = (head,), spec.event_shape[0]
    elif name == "transformer":
        args = (head,)
        kwargs["image_shape" if spec.is_image else "max_length"] = spec.event_shape if spec.is_image else spec.dims
    else:
        args = (spec.event_shape, head)
    try:
        return cls(*args, **kwargs)
    except (TypeError, ValueError) as error:
        key, _, rest = str(error).partition(": ")
        message = f"{OPTIONS[key].flag}: {rest}" if key in OPTIONS and rest else str(error)
        raise ValueError(f"--model {name}: {message}") from None
