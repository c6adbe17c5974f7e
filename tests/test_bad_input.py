"""Property-based tests of bad input (issue 16): every call works as the contract says or is a clear error.

Hypothesis draws the arguments of ``condition``, ``log_prob``, ``sample``,
``condition_on_prefix``, ``temper``, ``expand``, the streaming helpers and the
audio helpers over tiny models of every family: random shapes (empty batches
included), dtypes (integer, bool, complex, float16/bfloat16/float64), devices
(``meta`` stands in for CUDA: a tensor on a device the model is not on),
out-of-support and non-finite values, wrong contexts, odd temperatures and sizes.

The oracle, for every example: the test works out from the contract whether the
arguments are valid. Valid arguments must work, and the result is checked
(shape, dtype, support, finiteness); invalid ones must raise ``ValueError`` or
``TypeError`` whose message starts with the argument's name and a colon (the
library's convention: ``"value: expected ..., got ..."``). Any other exception,
an error that names no argument (a reshape's, a matmul's), an error for valid
arguments or a result for invalid ones fails the test. The only other error
type allowed is torch's ``RuntimeError`` from ``expand`` to a shape that is not
an expansion (documented in ``docs/api.md``).

Examples are derandomised (the same on every run); ``EXAMPLES`` counts them.
"""

from __future__ import annotations

import collections
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pyro
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyro_autoregressive as par
from pyro_autoregressive import audio
from pyro_autoregressive.distribution import TEMPERATURE_RANGE
from pyro_autoregressive.heads import Categorical, DiscreteHead, Normal
from pyro_autoregressive.streaming import generate_stream, stream_to_wav

#: hypothesis examples run per test (reported by ``test_examples_were_run``)
EXAMPLES: collections.Counter[str] = collections.Counter()

#: ``BAD_INPUT_EXAMPLES=500 BAD_INPUT_RANDOM=1 pytest tests/test_bad_input.py`` searches further, with new examples
SETTINGS = settings(
    max_examples=int(os.environ.get("BAD_INPUT_EXAMPLES", "100")),
    deadline=None,
    derandomize=not os.environ.get("BAD_INPUT_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

_TINY_IMAGE = {"hidden_channels": 4, "num_layers": 1, "context_size": 2, "local_context_channels": 2}
_TINY_TRANSFORMER = {"d_model": 8, "num_heads": 2, "num_layers": 1, "mlp_ratio": 2, "coupling_hidden": 4}
_TINY_WAVENET = {"residual_channels": 4, "skip_channels": 4, "num_layers": 2, "num_stacks": 1}

#: tiny models of every family with a discrete and a continuous head: name -> (build, max length or None)
FAMILIES: dict[str, tuple[Callable[[], par.AutoregressiveModel], int | None]] = {
    "made": (lambda: par.MADE(3, Categorical(3), hidden_sizes=(8,), context_size=2), None),
    "made-normal": (lambda: par.MADE(2, Normal(), hidden_sizes=(8,)), None),
    "made-300": (lambda: par.MADE(2, Categorical(300), hidden_sizes=(8,)), None),  # levels beyond int8 and uint8
    "pixelcnn": (lambda: par.PixelCNN((1, 2, 2), Categorical(3), first_kernel_size=3, **_TINY_IMAGE), None),
    "pixelcnn-normal": (lambda: par.PixelCNN((2, 1, 2), Normal(), hidden_channels=4, num_layers=1), None),
    "gatedpixelcnn": (lambda: par.GatedPixelCNN((1, 2, 2), Categorical(3), **_TINY_IMAGE), None),
    "pixelcnnpp": (
        lambda: par.PixelCNNPlusPlus(
            (1, 2, 2),
            num_components=2,
            num_classes=4,
            hidden_channels=4,
            num_resnet=1,
            num_hierarchies=1,
            context_size=2,
            local_context_channels=2,
        ),
        None,
    ),
    "rowlstm": (lambda: par.RowLSTM((1, 2, 2), Categorical(3), first_kernel_size=3, **_TINY_IMAGE), None),
    "diagonalbilstm": (
        lambda: par.DiagonalBiLSTM((2, 1, 2), Normal(), hidden_channels=4, num_layers=1, first_kernel_size=3),
        None,
    ),
    "wavenet": (
        lambda: par.WaveNet(
            Categorical(3), length=3, context_size=2, local_context_channels=2, hop_length=2, **_TINY_WAVENET
        ),
        3,
    ),
    "wavenet-normal": (lambda: par.WaveNet(Normal(), length=3, **_TINY_WAVENET), 3),
    "transformer": (
        lambda: par.Transformer(
            Categorical(3), max_length=4, context_size=2, local_context_channels=2, **_TINY_TRANSFORMER
        ),
        4,
    ),
    "transformer-image": (lambda: par.Transformer(Normal(), image_shape=(1, 1, 2), **_TINY_TRANSFORMER), None),
}

DTYPES = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.uint8,
    torch.int8,
    torch.bool,
    torch.complex64,
]
#: what a tensor holds: valid values, or one kind of bad value
KINDS = ["valid", "valid", "valid", "out_of_range", "negative", "non_integer", "nan", "inf"]
NOT_TENSORS = [None, 1.0, [0, 1], "x", np.zeros(2)]


class Models(dict):
    """The tiny models by name (with a short ``repr`` for hypothesis's reports)."""

    def __repr__(self) -> str:
        return "models"


def levels_of(head) -> int | None:
    """The number of levels of a discrete head; None for a continuous one."""
    return head.num_classes if isinstance(head, DiscreteHead) else None


@pytest.fixture(scope="module")
def models() -> Models:
    """Every family's tiny model, built once (float32, CPU, fixed seed)."""
    built = Models()
    for name, (build, _) in FAMILIES.items():
        torch.manual_seed(0)
        built[name] = build().eval()
    return built


# -- the oracle -------------------------------------------------------------------------------------


def names_argument(error: BaseException, names: tuple[str, ...]) -> bool:
    """Whether ``error``'s message starts with one of ``names`` (or a comma-separated list of them) and a colon."""
    head, colon, _ = str(error).partition(":")
    return bool(colon) and bool({part.strip() for part in head.split(",")} & set(names))


def attempt(call: Callable[[], Any], valid: bool | None, *names: str, runtime_ok: bool = False) -> Any:
    """``call()``: with ``valid`` arguments it must work; else it must raise a clear error naming one of ``names``.

    ``valid=None``: either outcome is allowed. Returns the result, or None after the expected error.
    """
    try:
        result = call()
    except (ValueError, TypeError) as error:
        assert names_argument(error, names), f"an error that names none of {names}: {type(error).__name__}: {error}"
        assert not valid, f"valid arguments were refused: {type(error).__name__}: {error}"
        return None
    except RuntimeError as error:
        assert runtime_ok and not valid, f"{type(error).__name__}: {error}"
        return None
    assert valid is not False, f"invalid arguments ({', '.join(names)}) were accepted, giving {summary(result)}"
    return result


def summary(result: Any) -> str:
    return f"a tensor {tuple(result.shape)} {result.dtype}" if isinstance(result, torch.Tensor) else repr(result)


# -- strategies ---------------------------------------------------------------------------------------


def batch_shapes(max_dims: int = 2) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.integers(0, 3), max_size=max_dims).map(tuple)


@st.composite
def tensors(
    draw: st.DrawFn, shape: tuple[int, ...], num_classes: int | None = None, bad: bool = True
) -> tuple[torch.Tensor, str]:
    """A tensor of ``shape``: values of the support (``num_classes`` levels, or reals), or of a bad kind.

    Returns ``(tensor, kind)``; the kind is ``"meta"`` for a tensor on the meta device.
    """
    dtype = draw(st.sampled_from(DTYPES)) if bad else torch.float32
    kind = draw(st.sampled_from(KINDS)) if bad else "valid"
    if bad and draw(st.integers(0, 9)) == 0:
        return torch.empty(shape, dtype=dtype, device="meta"), "meta"
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    if num_classes is None:
        values = torch.randn(shape, generator=generator, dtype=torch.float64)
    else:
        values = torch.randint(0, num_classes, shape, generator=generator).double()
    if values.numel():
        where = (torch.arange(values.numel()) == draw(st.integers(0, values.numel() - 1))).reshape(shape)
        bad_value = {
            "out_of_range": float(num_classes or 0) + 300.0,
            "negative": -1.0,
            "non_integer": 0.5,
            "nan": math.nan,
            "inf": math.inf,
        }.get(kind)
        if bad_value is not None:
            values = torch.where(where, torch.tensor(bad_value, dtype=torch.float64), values)
    if dtype.is_floating_point or dtype.is_complex:
        return values.to(dtype), kind
    # integer and bool tensors cannot hold NaN, inf or 0.5: what the conversion makes of them is the value
    return values.nan_to_num(0.0, 1e4, -1e4).to(dtype), kind


def is_valid_value(value: torch.Tensor, model: par.AutoregressiveModel) -> bool:
    """Whether ``value`` (of the right shape) is a valid value of the model's support."""
    head = model.head
    if value.device != model.device or value.dtype.is_complex:
        return False
    if isinstance(head, DiscreteHead):  # worked out in float64, not by the head's own support
        v = value.double()
        return bool(((v == v.round()) & (v >= 0) & (v <= head.num_classes - 1)).all())
    return value.dtype != torch.bool and bool(torch.isfinite(value).all())


def check_scores(log_p: torch.Tensor, shape: tuple[int, ...]) -> None:
    """A ``log_prob`` of valid values: the contract's shape, a real dtype, finite."""
    assert log_p.shape == shape, (log_p.shape, shape)
    assert log_p.dtype in (torch.float32, torch.float64), log_p.dtype
    assert torch.isfinite(log_p).all(), log_p


def check_samples(d: par.AutoregressiveDistribution, x: torch.Tensor, shape: tuple[int, ...]) -> None:
    """Samples: ``sample_shape + batch_shape + event_shape``, long for discrete heads, in the support."""
    assert x.shape == shape + tuple(d.batch_shape) + tuple(d.event_shape), (x.shape, shape, d)
    if isinstance(d.model.head, DiscreteHead):
        assert x.dtype == torch.long
    else:
        assert x.dtype == d.model.dtype
    assert d.model.head.element_support.check(x).all(), x
    if x.numel():
        check_scores(d.log_prob(x), shape + tuple(d.batch_shape))


def contexts(
    model: par.AutoregressiveModel, batch_shape: tuple[int, ...], length: int | None = None
) -> dict[str, torch.Tensor | None]:
    """Valid contexts of ``batch_shape`` (None where the model takes none)."""
    context = torch.randn(*batch_shape, model.context_size) if model.context_size else None
    local_shape = model.local_context_shape(model.layout(length))
    local = torch.randn(*batch_shape, *local_shape) if local_shape is not None else None
    return {"context": context, "local_context": local}


def seq_length(name: str) -> int | None:
    return FAMILIES[name][1]


# -- condition ---------------------------------------------------------------------------------------


@st.composite
def context_arguments(draw: st.DrawFn, expected: tuple[int, ...] | None) -> tuple[Any, tuple[int, ...] | None, bool]:
    """A context argument for a model expecting trailing shape ``expected`` (None: it takes none).

    Returns ``(argument, its batch shape, valid)``.
    """
    choice = draw(st.sampled_from(["none", "tensor", "tensor", "tensor", "not_tensor"]))
    if choice == "none":
        return None, (), expected is None
    if choice == "not_tensor":
        return draw(st.sampled_from(NOT_TENSORS[1:])), None, False
    batch = draw(batch_shapes())
    trailing = expected or (2,)
    if draw(st.booleans()):  # a wrong trailing shape: one size changed, or a dim dropped
        k = draw(st.integers(0, len(trailing) - 1))
        trailing = trailing[:k] + trailing[k + 1 :] if draw(st.booleans()) else trailing[:k] + (trailing[k] + 1,)
    value, kind = draw(tensors(batch + tuple(trailing)))
    valid = (
        expected is not None
        and tuple(trailing) == expected
        and value.dtype == torch.float32
        and kind in ("valid", "out_of_range", "negative", "non_integer")  # any finite real is a valid context
    )
    return value, batch, valid


@SETTINGS
@given(data=st.data(), name=st.sampled_from(list(FAMILIES)))
def test_condition(models, data, name):
    EXAMPLES["condition"] += 1
    model = models[name]
    max_length = seq_length(name)
    length_choices: list[Any] = [None, None, 1, 2, 0, -1, 2**40, 2.0, True, "2"]
    length = data.draw(st.sampled_from(length_choices), label="length")
    if max_length is None:
        length_valid = length is None
    else:
        limit = max_length if isinstance(model, par.Transformer) else math.inf
        length_valid = length is None or (type(length) is int and 1 <= length <= limit)
    layout = model.layout(length) if length_valid else model.layout()
    context, context_batch, context_valid = data.draw(
        context_arguments((model.context_size,) if model.context_size else None), label="context"
    )
    local, local_batch, local_valid = data.draw(
        context_arguments(model.local_context_shape(layout)), label="local_context"
    )
    valid = length_valid and context_valid and local_valid
    if valid:
        try:
            batch = torch.broadcast_shapes(context_batch, local_batch)
        except RuntimeError:
            valid = False
    d = attempt(
        lambda: model.condition(context, local_context=local, length=length),
        valid,
        "context",
        "local_context",
        "length",
    )
    if d is None:
        return
    assert d.batch_shape == batch and d.event_shape == layout.event_shape
    if layout.num_steps <= 8:
        torch.manual_seed(0)
        check_samples(d, d.sample(), ())


# -- log_prob -----------------------------------------------------------------------------------------


@st.composite
def values(
    draw: st.DrawFn, model: par.AutoregressiveModel, event_shape: tuple[int, ...]
) -> tuple[torch.Tensor, tuple[int, ...], bool]:
    """A value for ``log_prob``: random leading dims, the event shape (or a wrong one), any dtype and content.

    Returns ``(value, its leading dims, valid apart from broadcasting)``.
    """
    lead = draw(batch_shapes(3))
    event = event_shape
    if draw(st.integers(0, 4)) == 0:  # a wrong event shape: a size changed, a dim dropped or added
        k = draw(st.integers(0, len(event) - 1))
        change = draw(st.sampled_from(["size", "drop", "add"]))
        if change == "size":
            event = event[:k] + (event[k] + draw(st.sampled_from([-1, 1, 5])),) + event[k + 1 :]
        elif change == "drop":
            event = event[:k] + event[k + 1 :]
        else:
            event = event + (1,)
    value, kind = draw(tensors(lead + event, levels_of(model.head)))
    valid = event == event_shape and kind != "meta" and is_valid_value(value, model)
    return value, lead, valid


def distribution(
    models: dict[str, par.AutoregressiveModel], name: str, batch: tuple[int, ...]
) -> par.AutoregressiveDistribution:
    model = models[name]
    length = seq_length(name)
    d = model.condition(**contexts(model, batch, length), length=length)
    return d if d.batch_shape == batch else d.expand(batch)


def broadcast(lead: tuple[int, ...], batch: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(torch.broadcast_shapes(lead, batch))
    except RuntimeError:
        return None


@SETTINGS
@given(data=st.data(), name=st.sampled_from(list(FAMILIES)), batch=batch_shapes(1))
def test_log_prob(models, data, name, batch):
    EXAMPLES["log_prob"] += 1
    d = distribution(models, name, batch)
    value, lead, valid = data.draw(values(d.model, tuple(d.event_shape)), label="value")
    shape = broadcast(lead, batch) if valid else None
    for method in (d.log_prob, d.step_log_prob):
        result = attempt(lambda: method(value), shape is not None, "value")  # noqa: B023
        if result is not None:
            suffix = (d.num_steps,) if method == d.step_log_prob else ()
            check_scores(result, shape + suffix)


@SETTINGS
@given(data=st.data(), name=st.sampled_from(list(FAMILIES)), batch=batch_shapes(1))
def test_log_prob_without_validation(models, data, name, batch):
    """Validation off: a discrete value outside the support has log-probability -inf (never a made-up mass)."""
    EXAMPLES["log_prob_without_validation"] += 1
    d = distribution(models, name, batch)
    if not isinstance(d.model.head, DiscreteHead):
        return  # continuous values are not checked with validation off (docs/api.md)
    lead = data.draw(batch_shapes(1), label="lead")
    value, kind = data.draw(tensors(lead + tuple(d.event_shape), levels_of(d.model.head)), label="value")
    shape = broadcast(lead, batch)
    if kind == "meta" or value.dtype.is_complex or shape is None:
        return  # nothing is checked with validation off: such values are outside the documented behaviour
    with pyro.validation_enabled(False):  # Pyro's switch is global: read when log_prob runs
        log_p = distribution(models, name, batch).log_prob(value)
    assert log_p.shape == shape
    v = value.double()
    inside = (v == v.round()) & (v >= 0) & (v <= d.model.head.num_classes - 1)
    inside = inside.flatten(len(lead)).all(-1).expand(shape)
    assert torch.isfinite(log_p[inside]).all() and (log_p[~inside] == -math.inf).all(), (value, log_p)


# -- sample, expand -------------------------------------------------------------------------------------


@st.composite
def shapes(draw: st.DrawFn) -> tuple[Any, bool]:
    """A shape argument: a tuple of sizes (negative sizes, floats, bools among them), or not a sequence."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from([3, 2.0, "2", None])), False
    sizes = draw(st.lists(st.sampled_from([0, 1, 2, 3, -1, 2.0, True]), max_size=2))
    container = draw(st.sampled_from([tuple, list, torch.Size])) if all(type(s) is int for s in sizes) else tuple
    valid = all(type(s) is int and s >= 0 for s in sizes)
    return container(sizes), valid


@SETTINGS
@given(
    name=st.sampled_from(list(FAMILIES)),
    batch=batch_shapes(1),
    sample_shape=shapes(),
    cache=st.sampled_from([True, False, True, 1, None, "no"]),
)
def test_sample(models, name, batch, sample_shape, cache):
    EXAMPLES["sample"] += 1
    d = distribution(models, name, batch)
    sample_shape, valid = sample_shape
    torch.manual_seed(0)
    x = attempt(lambda: d.sample(sample_shape, cache=cache), valid and type(cache) is bool, "sample_shape", "cache")
    if x is not None:
        check_samples(d, x, tuple(sample_shape))


@SETTINGS
@given(name=st.sampled_from(list(FAMILIES)), batch=batch_shapes(1), new_shape=shapes())
def test_expand(models, name, batch, new_shape):
    EXAMPLES["expand"] += 1
    d = distribution(models, name, batch)
    new_shape, valid = new_shape
    expansion = valid and len(new_shape) >= len(batch)
    if expansion:
        kept = tuple(new_shape)[len(new_shape) - len(batch) :]
        expansion = all(old in (1, new) for old, new in zip(batch, kept, strict=True))
    e = attempt(lambda: d.expand(new_shape), expansion, "batch_shape", runtime_ok=valid)
    if e is not None:
        assert e.batch_shape == tuple(new_shape)
        torch.manual_seed(0)
        check_samples(e, e.sample(), ())


# -- temper ---------------------------------------------------------------------------------------------

TEMPERATURES: list[Any] = [
    1.0,
    0.5,
    2,
    1e-6,
    1e6,
    1e-7,
    1e7,
    0.0,
    -0.0,
    -1.0,
    5e-324,
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    np.float64(0.7),
    np.float32(2.0),
    True,
    None,
    "1.0",
    1j,
    torch.tensor(0.5),
]


def temperature_valid(temperature: Any, product: float) -> bool:
    real = isinstance(temperature, int | float | np.floating) and not isinstance(temperature, bool)
    if not real or not math.isfinite(temperature) or temperature <= 0:
        return False
    return TEMPERATURE_RANGE[0] <= product * float(temperature) <= TEMPERATURE_RANGE[1]


@SETTINGS
@given(
    name=st.sampled_from(list(FAMILIES)),
    temperatures=st.lists(st.sampled_from(TEMPERATURES), min_size=1, max_size=2),
)
def test_temper(models, name, temperatures):
    EXAMPLES["temper"] += 1
    d = distribution(models, name, (2,))
    product = 1.0
    for temperature in temperatures:
        valid = temperature_valid(temperature, product)
        tempered = attempt(lambda: d.temper(temperature), valid, "temperature")  # noqa: B023
        if tempered is None:
            return
        d, product = tempered, product * float(temperature)
        assert d.temperature == pytest.approx(product)
    torch.manual_seed(0)
    # a continuous head's values feed back into the network: at a high temperature they may overflow, an error
    x = attempt(
        lambda: d.sample((2,)),
        True if isinstance(d.model.head, DiscreteHead) or product <= 1.0 else None,
        "temperature",
    )
    if x is not None:
        check_samples(d, x, (2,))


# -- condition_on_prefix ----------------------------------------------------------------------------------


@SETTINGS
@given(
    data=st.data(),
    name=st.sampled_from(list(FAMILIES)),
    batch=batch_shapes(1),
    num_steps=st.sampled_from([0, 1, 2, 3, 4, 5, -1, 2**40, 1.0, True, None, "1", np.int64(1)]),
)
def test_condition_on_prefix(models, data, name, batch, num_steps):
    EXAMPLES["condition_on_prefix"] += 1
    d = distribution(models, name, batch)
    value, lead, valid = data.draw(values(d.model, tuple(d.event_shape)), label="value")
    shape = broadcast(lead, batch) if valid else None
    steps_valid = isinstance(num_steps, int | np.integer) and not isinstance(num_steps, bool)
    steps_valid = steps_valid and 0 <= num_steps <= d.num_steps
    prefixed = attempt(
        lambda: d.condition_on_prefix(value, num_steps), shape is not None and steps_valid, "value", "num_steps"
    )
    if prefixed is None:
        return
    assert prefixed.batch_shape == shape
    torch.manual_seed(0)
    x = prefixed.sample()
    check_samples(prefixed, x, ())
    kept = d.layout.to_steps(x)[..., :num_steps, :]
    given_steps = d.layout.to_steps(value.expand(shape + tuple(d.event_shape)))[..., :num_steps, :]
    assert (kept.to(torch.float64) == given_steps.to(torch.float64)).all()


# -- streaming --------------------------------------------------------------------------------------------

STREAM_NAMES = ["wavenet", "wavenet-normal", "transformer", "made", "made-300"]


@SETTINGS
@given(
    data=st.data(),
    name=st.sampled_from(STREAM_NAMES),
    num_samples=st.sampled_from([1, 3, 5, 0, -1, 2.0, True, None]),
    chunk_size=st.sampled_from([1, 2, 16000, 0, -3, 1.5, False]),
    num_sequences=st.sampled_from([None, None, 1, 2, 0, True, 2.0]),
    temperature=st.sampled_from([1.0, 0.5, 0.0, -1.0, math.nan, math.inf, True, "1", 2]),
)
def test_generate_stream(models, data, name, num_samples, chunk_size, num_sequences, temperature):
    EXAMPLES["generate_stream"] += 1
    model = models[name]
    n = data.draw(st.sampled_from([None, None, 0, 2]), label="prefix length")
    batch = data.draw(st.sampled_from([(), (1,), (2,), (3,), (0,), (2, 1)]), label="batch")
    prefix = None
    if n is not None:
        prefix, _ = data.draw(tensors(batch[-1:] + (n,), levels_of(model.head)), label="prefix")
    total = (n or 0) + (num_samples if type(num_samples) is int else 0)
    kwargs: dict[str, Any] = {}
    if model.context_size:
        kwargs["context"] = data.draw(st.sampled_from([None, torch.randn(*batch, model.context_size)]))
    if model.local_context_channels and total > 0:
        frames = model.num_frames(total) if isinstance(model, par.WaveNet) else total
        extra = data.draw(st.sampled_from([0, 0, 1]), label="extra frames")
        kwargs["local_context"] = torch.randn(*batch, model.local_context_channels, frames + extra)
    names = ("model", "num_samples", "chunk_size", "context", "local_context", "prefix", "num_sequences")
    names += ("temperature", "progress")

    def stream() -> list[torch.Tensor]:
        chunks = generate_stream(
            model,
            num_samples,
            chunk_size=chunk_size,
            prefix=prefix,
            num_sequences=num_sequences,
            temperature=temperature,
            progress=False,
            **kwargs,
        )
        return list(chunks)

    torch.manual_seed(0)
    try:
        chunks = stream()
    except (ValueError, TypeError) as error:
        assert names_argument(error, names), f"{type(error).__name__}: {error}"
        return
    # it worked: so every argument was of the contract
    assert isinstance(model, par.WaveNet | par.Transformer)
    assert type(num_samples) is int and num_samples >= 1 and type(chunk_size) is int and chunk_size >= 1
    assert temperature_valid(temperature, 1.0)
    assert prefix is None or is_valid_value(prefix, model)
    x = torch.cat(chunks, dim=-1)
    assert all(c.shape[-1] <= chunk_size for c in chunks)
    assert x.dim() == 2 and x.shape[1] == num_samples, x.shape
    if num_sequences is not None:
        assert x.shape[0] == num_sequences
    assert model.head.element_support.check(x).all()


@SETTINGS
@given(
    name=st.sampled_from(["wavenet", "wavenet-normal", "made"]),
    sample_rate=st.sampled_from([8000, 1, 0, -1, 8000.0, True]),
    num_classes=st.sampled_from([None, 3, 4, 1, 3.0, True]),
    mu_law=st.sampled_from([True, False, 1, None]),
    subtype=st.sampled_from(["PCM_16", "PCM_U8", "FLOAT", "NOT_A_SUBTYPE", 16]),
    num_sequences=st.sampled_from([None, 1, 2]),
)
def test_stream_to_wav(models, tmp_path_factory, name, sample_rate, num_classes, mu_law, subtype, num_sequences):
    EXAMPLES["stream_to_wav"] += 1
    model = models[name]
    path = tmp_path_factory.mktemp("wav") / "out.wav"
    kwargs: dict[str, Any] = {"progress": False, "num_sequences": num_sequences}
    if model.context_size:
        kwargs["context"] = torch.randn(1, model.context_size)
        kwargs["local_context"] = torch.randn(1, model.local_context_channels, 2)
    valid = (
        isinstance(model, par.WaveNet)
        and isinstance(model.head, DiscreteHead)
        and type(sample_rate) is int
        and sample_rate >= 1
        and (num_classes is None or (type(num_classes) is int and num_classes == model.head.num_classes))
        and type(mu_law) is bool
        and subtype in ("PCM_16", "PCM_U8", "FLOAT")
        and num_sequences in (None, 1)
    )
    names = ("model", "sample_rate", "num_classes", "mu_law", "subtype", "num_sequences", "context", "prefix")
    torch.manual_seed(0)
    written = attempt(
        lambda: stream_to_wav(
            model, path, 3, sample_rate, num_classes=num_classes, mu_law=mu_law, subtype=subtype, chunk_size=2, **kwargs
        ),
        valid,
        *names,
    )
    if written is None:
        assert not path.exists(), "a refused call created the file"
        return
    samples, rate = audio.read_wav(written)
    assert rate == sample_rate and samples.shape == (1, 3)
    assert samples.abs().max() <= 1.0


# -- audio helpers --------------------------------------------------------------------------------------


@SETTINGS
@given(
    data=st.data(),
    shape=st.lists(st.integers(0, 3), max_size=2).map(tuple),
    num_classes=st.sampled_from([256, 2, 3, 2**16, 2**24, 1, 0, -5, 256.0, True, np.int64(256)]),
    scale=st.sampled_from([1.0, 1.0, 3.0, 1e4]),
)
def test_encode(data, shape, num_classes, scale):
    EXAMPLES["encode"] += 1
    samples, kind = data.draw(tensors(shape), label="audio")
    if kind == "meta":
        return  # the helpers work on any device; a meta tensor holds no values to check
    if samples.dtype.is_floating_point:
        samples = (samples.double() * scale).clamp(-6e4, 6e4).to(samples.dtype)  # beyond [-1, 1]: clipped
    finite = samples.dtype.is_floating_point and bool(torch.isfinite(samples).all())
    k_valid = isinstance(num_classes, int | np.integer) and not isinstance(num_classes, bool) and num_classes >= 2
    for encode in (audio.mu_law_encode, audio.linear_encode):
        levels = attempt(lambda: encode(samples, num_classes), finite and k_valid, "audio", "num_classes")  # noqa: B023
        if levels is not None:
            assert levels.shape == samples.shape and levels.dtype == torch.long
            assert levels.numel() == 0 or (levels.min() >= 0 and levels.max() <= num_classes - 1), (samples, levels)


@SETTINGS
@given(
    data=st.data(),
    shape=st.lists(st.integers(0, 3), max_size=2).map(tuple),
    num_classes=st.sampled_from([256, 3, 300, 2**16, 1, 256.0, True]),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, "float32"]),
)
def test_decode(data, shape, num_classes, dtype):
    EXAMPLES["decode"] += 1
    k = num_classes if type(num_classes) is int and num_classes >= 2 else 256
    levels, kind = data.draw(tensors(shape, k), label="levels")
    if kind == "meta":
        return
    k_valid = type(num_classes) is int and num_classes >= 2
    levels_valid = not (levels.dtype.is_floating_point or levels.dtype.is_complex or levels.dtype == torch.bool)
    levels_valid = levels_valid and bool(((levels.long() >= 0) & (levels.long() < k)).all())
    valid = k_valid and levels_valid and isinstance(dtype, torch.dtype) and dtype.is_floating_point
    for decode in (audio.mu_law_decode, audio.linear_decode):
        samples = attempt(lambda: decode(levels, num_classes, dtype), valid, "levels", "num_classes", "dtype")  # noqa: B023
        if samples is not None:
            assert samples.shape == levels.shape and samples.dtype == dtype
            assert torch.isfinite(samples).all() and samples.abs().max() <= 1.0 if samples.numel() else True


@SETTINGS
@given(
    data=st.data(),
    shape=st.sampled_from([(3,), (0,), (1, 3), (2, 3), (0, 3), (2, 0), (3, 1, 2), ()]),
    sample_rate=st.sampled_from([8000, 1, 0, -1, 8000.0, True, np.int64(8000)]),
    subtype=st.sampled_from(["PCM_16", "PCM_U8", "FLOAT", "NOT_A_SUBTYPE", None]),
)
def test_write_wav(tmp_path_factory, data, shape, sample_rate, subtype):
    EXAMPLES["write_wav"] += 1
    samples, kind = data.draw(tensors(shape), label="audio")
    if kind == "meta":
        return
    path = tmp_path_factory.mktemp("wav") / "out.wav"
    audio_valid = samples.dtype.is_floating_point and bool(torch.isfinite(samples).all())
    audio_valid = audio_valid and (samples.dim() == 1 or (samples.dim() == 2 and samples.shape[0] > 0))
    rate_valid = isinstance(sample_rate, int | np.integer) and not isinstance(sample_rate, bool) and sample_rate >= 1
    valid = audio_valid and rate_valid and subtype in ("PCM_16", "PCM_U8", "FLOAT")
    written = attempt(
        lambda: audio.write_wav(path, samples, sample_rate, subtype), valid, "audio", "sample_rate", "subtype"
    )
    if written is None:
        assert not path.exists(), "a refused call created the file"
        return
    back, rate = audio.read_wav(written)
    channels = 1 if samples.dim() == 1 else samples.shape[0]
    assert rate == sample_rate and back.shape == (channels, samples.shape[-1])


def test_examples_were_run():
    """Runs last in this file: every property test ran examples (``pytest -s`` prints the counts)."""
    print(f"\nhypothesis examples in test_bad_input.py: {dict(EXAMPLES)}, {sum(EXAMPLES.values())} in all")
    if EXAMPLES:  # empty when only this test was selected
        assert all(EXAMPLES[name] > 0 for name in EXAMPLES)
