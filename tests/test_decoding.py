"""Decoding as exact distributions: filters (top-k, top-p, min-p), greedy decoding, stop values.

Generic tests over the case table (``tests/cases*.py``), with the seed and
goodness-of-fit policy of ``test_properties.py``: every filtered or stopped
distribution is normalised by enumeration on the tiny events, its samples lie in
its support and agree with its ``log_prob``, and cached sampling equals the naive
reference. Branches are on the head and the layout, never on a model's name.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from test_properties import _gof_pvalue

import pyro_autoregressive as par
from pyro_autoregressive.decoding import filter_log_probs
from pyro_autoregressive.heads import Bernoulli, Categorical, DiscreteHead, DiscretizedLogisticMixture, Truncated

from cases import Case
from conftest import all_values, build, condition, seed_for

ALPHA = 1e-3

#: filter chains, applied to a distribution in order (temper always acts first, wherever it is called)
CHAINS = {
    "top_k2": lambda d: d.top_k(2),
    "top_p0.6": lambda d: d.top_p(0.6),
    "min_p0.3": lambda d: d.min_p(0.3),
    "top_k1": lambda d: d.top_k(1),
    "top_p-temper-min_p-top_k": lambda d: d.top_p(0.8).temper(0.7).min_p(0.1).top_k(2),
}


def unvalidated(model: par.AutoregressiveModel, case: Case, batch_shape=(2,), **kwargs):
    """The case's distribution with validation off: values outside a truncation score ``-inf``."""
    d = _condition(model, case, batch_shape, **kwargs)
    d._validate_args = False  # kept by every distribution made from it (temper, filters, expand)
    return d


def _condition(model, case, batch_shape, **kwargs):
    from conftest import make_context

    context, local = make_context(model, case, batch_shape)
    d = model.condition(context, local_context=local, length=case.length, **kwargs)
    return d if d.batch_shape == batch_shape else d.expand(batch_shape)


def log_mass(d: par.AutoregressiveDistribution, values: torch.Tensor) -> torch.Tensor:
    """logsumexp of ``log_prob`` over ``values (M, *E)``, per batch element."""
    shape = (len(values),) + (1,) * len(d.batch_shape) + tuple(d.event_shape)
    return torch.logsumexp(d.log_prob(values.reshape(shape)), dim=0)


def is_sequence(model: par.AutoregressiveModel, case: Case) -> bool:
    return isinstance(model.layout(case.length), par.SequenceLayout)


# -- filters ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("chain", list(CHAINS))
def test_filtered_is_normalised(case: Case, device, chain):
    """logsumexp of the filtered ``log_prob`` over every value == 0 (float64), for every chain of filters."""
    model = build(case, device)
    d = unvalidated(model, case)
    if not isinstance(model.head, DiscreteHead):
        with pytest.raises(ValueError, match=r"head: .*continuous head"):
            CHAINS[chain](d)
        return
    f = CHAINS[chain](d)
    assert log_mass(f, all_values(d)).abs().max().item() < 1e-9
    # top-k truncates whatever the model (the other filters may keep every value of a flat conditional)
    if chain == "top_k1" or (chain == "top_k2" and model.head.num_classes > 2):
        assert torch.isneginf(f.log_prob(all_values(d)[:, None])).any()


@pytest.mark.parametrize("chain", ["top_k2", "top_p-temper-min_p-top_k"])
def test_filtered_samples_match_log_prob(case: Case, device, chain):
    """Samples never leave the truncated support, and agree with the filtered ``log_prob`` (chi-square)."""
    model = build(case, device)
    if not isinstance(model.head, DiscreteHead):
        pytest.skip("filters need enumerable values")
    f = CHAINS[chain](unvalidated(model, case, ()))
    torch.manual_seed(seed_for("filtered-gof", case.id, chain))
    n = 4000
    x = f.sample((n,))
    assert torch.isfinite(f.log_prob(x)).all(), "a sample outside the filtered support"
    values = all_values(f)
    probs = f.log_prob(values).exp()
    index = (x.reshape(n, 1, -1) == values.reshape(1, len(values), -1)).all(-1).float().argmax(-1)
    observed = torch.bincount(index, minlength=len(values))
    assert observed[probs == 0].sum() == 0
    if (n * probs * (1 - probs) > 1).sum() < 2:
        pytest.skip("the filtered distribution has fewer than two testable values")
    pvalue = _gof_pvalue(observed, probs)
    assert pvalue > ALPHA, f"filtered samples disagree with the filtered log_prob (p = {pvalue:.2e})"


@pytest.mark.parametrize("chain", ["top_p0.6", "top_p-temper-min_p-top_k"])
def test_filtered_cached_equals_naive(case: Case, device, chain):
    model = build(case, device)
    if not isinstance(model.head, DiscreteHead):
        pytest.skip("filters need enumerable values")
    f = CHAINS[chain](condition(model, case, (2,)))
    torch.manual_seed(seed_for("filtered-cache", case.id))
    cached = f.sample((3,), cache=True)
    torch.manual_seed(seed_for("filtered-cache", case.id))
    assert torch.equal(cached, f.sample((3,), cache=False))


def test_filters_survive_expand_and_prefix(case: Case, device):
    model = build(case, device)
    if not isinstance(model.head, DiscreteHead):
        pytest.skip("filters need enumerable values")
    d = unvalidated(model, case, (2,))
    f = d.top_k(2)
    assert f.expand((3, 2)).filters == f.filters
    if d.num_steps < 2:
        return
    c = f.condition_on_prefix(d.sample(), 1)
    assert c.filters == f.filters
    values = all_values(d)[:, None]  # (M, 1, *E)
    keep = (c.layout.to_steps(values)[..., :1, :] == c.prefix).all(-1).all(-1)  # (M, 2)
    log_p = c.log_prob(torch.where(keep.reshape(keep.shape + (1,) * len(d.event_shape)), values, c.sample()))
    assert torch.logsumexp(log_p.masked_fill(~keep, -math.inf), dim=0).abs().max().item() < 1e-9


def test_validation_rejects_values_outside_the_truncation(case: Case, device):
    model = build(case, device)
    if not isinstance(model.head, DiscreteHead):
        pytest.skip("filters need enumerable values")
    d = condition(model, case)
    assert d._validate_args
    f = d.top_k(1)
    x = f.sample()
    assert f.log_prob(x).item() == 0.0
    other = next(v for v in all_values(d) if not torch.equal(v, x))
    with pytest.raises(ValueError, match=r"value: outside the support of the filtered distribution \(top_k\(1\)\)"):
        f.log_prob(other)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_low_precision_truncation_error_says_why(dtype):
    """In bfloat16 the cached sampler and the parallel pass round differently: the error says so (float32: not)."""
    torch.manual_seed(0)
    model = par.Transformer(Categorical(4), max_length=3, d_model=8, num_heads=2, num_layers=1).eval().to(dtype)
    f = model.condition().top_k(1)
    x = f.sample()
    other = (x + 1) % 4  # every step off the argmax
    with pytest.raises(ValueError, match="outside the support of the filtered distribution") as error:
        f.log_prob(other)
    assert ("ran in torch.bfloat16" in str(error.value)) == (dtype == torch.bfloat16)


# -- greedy -----------------------------------------------------------------------------------------


def test_greedy(case: Case, device):
    """Deterministic, no random numbers drawn, the degenerate top_k(1); the argmax of every conditional."""
    model = build(case, device)
    d = condition(model, case, (2,))
    if not isinstance(model.head, DiscreteHead):
        with pytest.raises(ValueError, match="continuous head"):
            d.greedy()
        return
    state = torch.random.get_rng_state()
    x = d.greedy()
    assert torch.equal(torch.random.get_rng_state(), state), "greedy decoding drew random numbers"
    assert x.shape == d.batch_shape + d.event_shape
    assert torch.equal(x, d.greedy(cache=False))
    assert torch.equal(d.top_k(1).log_prob(x), torch.zeros(2, dtype=model.dtype))
    # every step's value is the argmax of its conditional (channel by channel), under the teacher-forced pass
    steps = d.layout.to_steps(x)
    params = model(x, *d._flat_contexts(d.batch_shape))
    for c in range(d.layout.channels):
        log_probs = model.head.level_log_probs(params, steps[..., :c], d.layout.channels)  # (N, S, K)
        assert torch.equal(log_probs.argmax(-1), steps[..., c])


def test_greedy_is_the_limit_of_tempering():
    """For a histogram head (tempering divides the logits), temper(1e-6) samples are the greedy sequence."""
    torch.manual_seed(0)
    model = par.Transformer(Categorical(5), max_length=6, d_model=8, num_heads=2, num_layers=1).double()
    d = model.condition().expand((4,))
    x = d.greedy()
    assert torch.equal(d.temper(1e-6).sample((3,)), x.expand(3, -1, -1))


# -- stop values ------------------------------------------------------------------------------------


def stopped_values(d: par.AutoregressiveDistribution) -> torch.Tensor:
    """Every value of the support of a distribution with a stop value (padded after the first stop)."""
    values = all_values(d)
    return values[d.support.check(values).reshape(len(values), -1).all(-1)]


@pytest.mark.parametrize("chain", ["none", "top_p0.6"])
def test_stopped_is_normalised(case: Case, device, chain):
    model = build(case, device)
    if not is_sequence(model, case) or not isinstance(model.head, DiscreteHead):
        with pytest.raises(ValueError, match="stop_value"):
            _condition(model, case, (), stop_value=0)
        return
    stop = model.head.num_classes - 1
    d = unvalidated(model, case, (2,), stop_value=stop)
    if chain != "none":
        d = CHAINS[chain](d)
    values = stopped_values(d)
    assert len(values) < len(all_values(d))  # padding removes values
    assert log_mass(d, values).abs().max().item() < 1e-9
    # log_prob sums the unstopped model's steps up to and including the first stop
    base = d._copy()  # the same contexts and filters, without the stop
    base.stop_value = None
    x = values[:, None]
    is_stop = x == stop
    through = (is_stop.long().cumsum(-1) - is_stop.long()) == 0  # steps up to the first stop, inclusive
    expected = base.step_log_prob(x).masked_fill(~through, 0.0).sum(-1)
    torch.testing.assert_close(d.log_prob(x), expected, rtol=1e-12, atol=1e-12)


def test_stopped_sampling(case: Case, device):
    model = build(case, device)
    if not is_sequence(model, case) or not isinstance(model.head, DiscreteHead):
        pytest.skip("stop values are for sequence models with a discrete head")
    stop = 0
    d = _condition(model, case, (), stop_value=stop)
    torch.manual_seed(seed_for("stop-gof", case.id))
    n = 4000
    x = d.sample((n,))
    assert d.support.check(x).all()
    values = stopped_values(d)
    probs = d.log_prob(values).exp()
    index = (x.reshape(n, 1, -1) == values.reshape(1, len(values), -1)).all(-1).float().argmax(-1)
    pvalue = _gof_pvalue(torch.bincount(index, minlength=len(values)), probs)
    assert pvalue > ALPHA, f"stopped samples disagree with log_prob (p = {pvalue:.2e})"
    torch.manual_seed(1)
    cached = d.sample((5,), cache=True)
    torch.manual_seed(1)
    assert torch.equal(cached, d.sample((5,), cache=False))


def test_stop_padding_is_validated(case: Case, device):
    model = build(case, device)
    if not is_sequence(model, case) or not isinstance(model.head, DiscreteHead) or case.length < 2:
        pytest.skip("stop values are for sequence models with a discrete head")
    d = _condition(model, case, (), stop_value=1)
    x = torch.zeros(case.length, dtype=torch.long, device=device)
    x[0] = 1  # stops at once, then goes on with 0: not the padding
    assert not d.support.check(x)
    with pytest.raises(ValueError, match="every step after the first 1 must be 1"):
        d.log_prob(x)
    e = unvalidated(model, case, (), stop_value=1)
    assert torch.isneginf(e.log_prob(x))
    assert torch.isneginf(e.step_log_prob(x)[1:]).all() and torch.isfinite(e.step_log_prob(x)[0])
    x[1:] = 1
    torch.testing.assert_close(e.log_prob(x), e.step_log_prob(x)[0])


def test_sampling_ends_once_every_row_has_stopped():
    """The loop asks the network for no step after every row has drawn the stop value; the rest is padding."""
    torch.manual_seed(0)
    model = par.Transformer(Categorical(4), max_length=8, d_model=8, num_heads=2, num_layers=1).double()
    d = model.condition(stop_value=2)
    calls = []
    original = model.incremental_state

    def counting(*args, **kwargs):
        state = original(*args, **kwargs)
        params = state.params
        state.params = lambda *a: calls.append(state.step) or params(*a)
        return state

    model.incremental_state = counting
    prompt = torch.tensor([[3, 2, 0, 0, 0, 0, 0, 0]]).expand(3, -1)  # every row stops at its step 1
    x = d.condition_on_prefix(prompt, 2).sample()
    assert calls == [] and torch.equal(x, torch.tensor([[3, 2, 2, 2, 2, 2, 2, 2]] * 3))
    x = d.top_k(1).sample((2,))  # greedy: every row the same, so all stop together (or never)
    stop_step = int((x[0] == 2).nonzero()[0, 0]) if (x[0] == 2).any() else 7
    assert calls == list(range(stop_step + 1))


# -- ragged prompts ---------------------------------------------------------------------------------


def row_log_masses(c: par.AutoregressiveDistribution, values: torch.Tensor) -> torch.Tensor:
    """logsumexp of ``c.log_prob`` over the values ``(M, *E)`` in each row's support, ``batch_shape``."""
    keep = c.support.check(values.reshape((len(values),) + (1,) * len(c.batch_shape) + tuple(c.event_shape)))
    inside = keep.reshape(keep.shape + (1,) * len(c.event_shape))
    log_p = c.log_prob(torch.where(inside, values[:, None], c.sample())).masked_fill(~keep, -math.inf)
    return torch.logsumexp(log_p, dim=0)


def test_ragged_prefix_with_filters_and_greedy(case: Case, device):
    """A ragged prompt composes with temper and the filters (either order) and with greedy decoding."""
    model = build(case, device)
    if not isinstance(model.head, DiscreteHead):
        pytest.skip("filters need enumerable values")
    d = unvalidated(model, case, (3,))
    num_steps = d.num_steps
    torch.manual_seed(seed_for("ragged-decoding", case.id))
    prompt = d.sample()
    lengths = torch.tensor([0, num_steps // 2, num_steps], device=device)
    chain = CHAINS["top_p-temper-min_p-top_k"]
    c = chain(d.condition_on_prefix(prompt, lengths))
    assert row_log_masses(c, all_values(d)).abs().max().item() < 1e-9
    torch.manual_seed(1)
    x = c.sample((2,))
    torch.manual_seed(1)
    assert torch.equal(x, chain(d).condition_on_prefix(prompt, lengths).sample((2,), cache=False))
    assert torch.isfinite(c.log_prob(x)).all() and (c.log_prob(x)[:, 2] == 0).all()
    # greedy: each row keeps its prompt and continues with the argmax; a row of length 0 is d.greedy()
    g = d.condition_on_prefix(prompt, lengths)
    state = torch.random.get_rng_state()
    y = g.greedy()
    assert torch.equal(torch.random.get_rng_state(), state), "greedy decoding drew random numbers"
    assert torch.equal(y, g.greedy(cache=False)) and torch.equal(y[0], d.greedy()[0]) and torch.equal(y[2], prompt[2])
    assert torch.equal(g.top_k(1).log_prob(y), torch.zeros(3, dtype=model.dtype))


def test_ragged_prefix_with_stop_value(case: Case, device):
    """A row's prompt may stop inside it (then the row is padding) and go on after its own length (ignored)."""
    model = build(case, device)
    if not is_sequence(model, case) or not isinstance(model.head, DiscreteHead) or case.length < 3:
        pytest.skip("stop values are for sequence models with a discrete head")
    stop = model.head.num_classes - 1
    d = unvalidated(model, case, (3,), stop_value=stop)
    d._validate_args = True  # validation on: the prompts' padding is checked per row
    prompt = torch.zeros(3, case.length, dtype=torch.long, device=device)
    prompt[1, 0] = stop  # row 1 (length 1) stops in its prompt; its later 0s lie past its length: ignored
    lengths = torch.tensor([0, 1, 2], device=device)
    with pytest.raises(ValueError, match="every step after the first"):
        d.condition_on_prefix(prompt, torch.tensor([0, 2, 2], device=device))  # row 1's 0 is now in its prompt
    c = d.condition_on_prefix(prompt, lengths)
    torch.manual_seed(seed_for("ragged-stop", case.id))
    x = c.sample((4,))
    torch.manual_seed(seed_for("ragged-stop", case.id))
    assert torch.equal(x, c.sample((4,), cache=False))
    assert (x[:, 1] == stop).all() and (x[:, 2, :2] == 0).all() and c.support.check(x).all()
    assert (c.log_prob(x)[:, 1] == 0).all() and torch.isfinite(c.log_prob(x)).all()
    assert row_log_masses(c, stopped_values(d)).abs().max().item() < 1e-9


# -- arguments --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "bad", "error", "match"),
    [
        ("top_k", 0, ValueError, r"k: expected an int >= 1, got 0"),
        ("top_k", 2.0, TypeError, r"k: expected an int >= 1, got float 2.0"),
        ("top_k", True, TypeError, r"k: expected an int"),
        ("top_p", 0.0, ValueError, r"p: expected a float in \(0, 1\], got 0.0"),
        ("top_p", 1.5, ValueError, r"p: expected a float in \(0, 1\]"),
        ("top_p", math.nan, ValueError, r"p: expected a float in \(0, 1\]"),
        ("min_p", "0.1", TypeError, r"p: expected a float in \(0, 1\], got str"),
        ("min_p", -0.1, ValueError, r"p: expected a float in \(0, 1\]"),
    ],
)
def test_filter_arguments(method, bad, error, match):
    d = par.MADE(3, Categorical(3), hidden_sizes=(4,)).condition()
    with pytest.raises(error, match=match):
        getattr(d, method)(bad)


def test_stop_value_arguments():
    model = par.Transformer(Categorical(3), max_length=4, d_model=8, num_heads=2, num_layers=1)
    with pytest.raises(ValueError, match=r"stop_value: expected an int >= 0 <= 2, got 3"):
        model.condition(stop_value=3)
    with pytest.raises(TypeError, match="stop_value: expected an int"):
        model.condition(stop_value=1.0)
    image = par.Transformer(Categorical(3), image_shape=(1, 2, 2), d_model=8, num_heads=2, num_layers=1)
    with pytest.raises(ValueError, match="stop_value: only sequence models"):
        image.condition(stop_value=1)
    continuous = par.WaveNet(par.heads.Normal(), length=4, residual_channels=4, skip_channels=4, num_layers=1)
    with pytest.raises(ValueError, match="stop_value: needs a head over enumerable values"):
        continuous.condition(stop_value=1)


# -- heads ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", [Categorical(3), Bernoulli(), DiscretizedLogisticMixture(3, num_classes=5)], ids=repr)
@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("temperature", [1.0, 0.4])
def test_level_log_probs_are_the_channel_conditionals(head, channels, temperature):
    """Normalised over the levels, and their chain (no filter) is the head's ``log_prob``."""
    torch.manual_seed(0)
    params = 3.0 * torch.randn(4, head.num_params(channels), dtype=torch.float64)
    values = torch.tensor(list(itertools.product(range(head.num_classes), repeat=channels)))  # (M, C)
    for c in range(channels):
        levels = head.tempered(temperature).level_log_probs(params[:, None], values[None, :, :c], channels)  # (4, M, K)
        assert torch.logsumexp(levels, -1).abs().max() < 1e-12
    chained = Truncated(head.tempered(temperature), ()).log_prob(params[:, None], values[None])
    torch.testing.assert_close(chained, head.tempered(temperature).log_prob(params[:, None], values[None]))


def test_filter_semantics():
    log_probs = torch.log(torch.tensor([0.1, 0.4, 0.2, 0.2, 0.1], dtype=torch.float64))
    kept = {
        "top_k2": [1, 2, 3],  # values tying with the second largest are kept
        "top_p0.6": [1, 2, 3],  # 0.4 + 0.2 reaches 0.6, and the other 0.2 ties
        "min_p0.3": [1, 2, 3],  # >= 0.12
        "top_k1": [1],
        "top_p-temper-min_p-top_k": [1, 2, 3],  # no temper here (the recorder keeps filters only)
    }
    for chain, expected in kept.items():
        d = CHAINS[chain]
        f = d(_Recorder()).filters
        out = filter_log_probs(log_probs, f)
        assert torch.isfinite(out).nonzero().flatten().tolist() == expected, chain
        assert torch.logsumexp(out, -1).abs() < 1e-15


class _Recorder:
    """Collects the filters a chain asks for (the chains are written against the distribution's methods)."""

    def __init__(self, filters=()):
        self.filters = filters

    def __getattr__(self, name):
        from pyro_autoregressive import decoding

        classes = {"top_k": decoding.TopK, "top_p": decoding.TopP, "min_p": decoding.MinP}
        if name == "temper":
            return lambda arg: self
        return lambda arg: _Recorder(self.filters + (classes[name](arg),))
