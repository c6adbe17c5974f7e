"""The head hierarchy (discrete / continuous) and the decoding transforms (tempered, Truncated).

The filters' truncation is checked against a plain reference written from their
definitions (sorted probabilities, running mass), on random logits drawn by hypothesis.
"""

from __future__ import annotations

import math

import pyro
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import pyro_autoregressive as par
from pyro_autoregressive import decoding
from pyro_autoregressive.decoding import MinP, TopK, TopP, filter_log_probs, filter_logits, sort_descending
from pyro_autoregressive.heads import (
    Bernoulli,
    Categorical,
    ContinuousHead,
    DiscreteHead,
    DiscretizedLogisticMixture,
    Head,
    Normal,
    NormalMixture,
    Truncated,
)

DISCRETE = [Categorical(4), Bernoulli(), DiscretizedLogisticMixture(2, num_classes=5)]
CONTINUOUS = [Normal(), NormalMixture(3)]


@pytest.mark.parametrize("head", DISCRETE + CONTINUOUS, ids=repr)
def test_every_head_is_of_exactly_one_kind(head):
    assert isinstance(head, DiscreteHead) != isinstance(head, ContinuousHead)
    if isinstance(head, DiscreteHead):
        assert isinstance(head.num_classes, int) and head.num_classes >= 2
        assert head.value_dtype(torch.float32) == torch.long
    else:
        assert not hasattr(head, "num_classes")  # no None to assert away: the attribute exists only when discrete
        assert head.value_dtype(torch.float64) == torch.float64


@pytest.mark.parametrize("head", DISCRETE + CONTINUOUS, ids=repr)
def test_tempering_composes_and_leaves_the_head_unchanged(head):
    torch.manual_seed(0)
    params = torch.randn(6, head.num_params(2), dtype=torch.float64)
    value = par.MADE(2, head, hidden_sizes=(4,)).double().condition().sample((6,))
    twice = head.tempered(0.5).tempered(3.0)
    assert head.temperature == 1.0 and twice.temperature == pytest.approx(1.5)
    torch.testing.assert_close(twice.log_prob(params, value), head.tempered(1.5).log_prob(params, value))
    assert head.tempered(1.0) == head and head.tempered(0.5) != head
    assert hash(head.tempered(0.5)) == hash(head.tempered(0.5))
    assert "tempered(0.5)" in repr(head.tempered(0.5))
    with pytest.raises(ValueError, match="temperature"):
        head.tempered(0.0)


def test_transforms_are_not_saved_nor_model_heads():
    tempered = Categorical(3).tempered(0.5)
    truncated = Truncated(Categorical(3), (TopK(2),))
    for head in (tempered, truncated):
        with pytest.raises(ValueError, match="cannot be saved"):
            head.config()
        with pytest.raises(ValueError, match="head: expected a head as constructed"):
            par.MADE(2, head, hidden_sizes=(4,))
    assert Categorical(3).config() == {"type": "Categorical", "num_classes": 3}


@pytest.mark.parametrize("head", CONTINUOUS, ids=repr)
def test_truncating_a_continuous_head_names_the_head(head):
    with pytest.raises(ValueError, match=r"head: .*continuous head"):
        Truncated(head, (TopK(2),))  # type: ignore[arg-type]


def test_truncated_flattens_and_tempers_its_base():
    base = Categorical(5)
    nested = Truncated(Truncated(base, (TopP(0.9),)), (TopK(2),))
    assert nested.base == base and nested.filters == (TopP(0.9), TopK(2))
    assert nested == Truncated(base, (TopP(0.9), TopK(2))) and hash(nested) == hash(Truncated(base, nested.filters))
    # the temperature applies before the filters, whatever the order of the calls
    late = nested.tempered(0.3)
    assert late == Truncated(base.tempered(0.3), nested.filters) and late.temperature == pytest.approx(0.3)


@pytest.mark.parametrize("f", [TopP(0.6), MinP(0.5)], ids=str)
def test_the_temperature_applies_before_the_filters(f):
    """On logits where the two orders keep different levels: the tempered conditional is the one truncated."""
    params = torch.log(torch.tensor([[0.05, 0.15, 0.2, 0.25, 0.35]], dtype=torch.float64))
    no_prefix = params.new_zeros(1, 0).long()
    tempered_first = torch.isfinite(f.apply(params / 0.3))
    filtered_first = torch.isfinite(f.apply(params))
    assert not torch.equal(tempered_first, filtered_first)  # the example tells the orders apart
    for head in (Truncated(Categorical(5), (f,)).tempered(0.3), Truncated(Categorical(5).tempered(0.3), (f,))):
        log_probs = head.level_log_probs(params, no_prefix, 1)
        assert torch.equal(torch.isfinite(log_probs), tempered_first)
        torch.testing.assert_close(log_probs, torch.log_softmax(f.apply(params / 0.3), -1))
    model = par.Transformer(Categorical(5), max_length=1, d_model=8, num_heads=2, num_layers=1).double().eval()
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.copy_(params[0])  # the one conditional is softmax(params)
    d = model.condition()
    call = {TopP: d.top_p, MinP: d.min_p}[type(f)]
    x = torch.arange(5)[:, None]
    for late in (call(f.p).temper(0.3), d.temper(0.3).top_p(f.p) if isinstance(f, TopP) else d.temper(0.3).min_p(f.p)):
        with pyro.validation_enabled(False):
            torch.testing.assert_close(late.log_prob(x), torch.log_softmax(f.apply(params / 0.3), -1)[0])


def test_tempering_is_kept_in_range():
    with pytest.raises(ValueError, match=r"temperature: expected the tempered temperature .* in \[1e-06, 1e\+06\]"):
        Categorical(4).tempered(1e-4).tempered(1e-4)
    with pytest.raises(ValueError, match="temperature"):
        Categorical(4).tempered(1e-200)
    assert Categorical(4).tempered(1e-3).tempered(1e-3).temperature == pytest.approx(1e-6)


def test_the_distribution_holds_one_transformed_head():
    model = par.MADE(3, Categorical(4), hidden_sizes=(8,))
    d = model.condition()
    assert d.head is model.head and d.temperature == 1.0 and d.filters == ()
    f = d.top_p(0.8).temper(0.5).min_p(0.1)
    assert isinstance(f.head, Truncated) and f.head.base == Categorical(4).tempered(0.5)
    assert f.filters == (TopP(0.8), MinP(0.1)) and f.temperature == 0.5
    assert f.head == d.temper(0.5).top_p(0.8).min_p(0.1).head  # temper commutes with the filters' calls
    assert model.head == Categorical(4) and d.head is model.head  # nothing changed in place


def test_a_custom_head_must_say_its_kind():
    class Incomplete(Head):  # neither discrete nor continuous: no support, no value dtype, no encoding
        def num_params(self, channels):
            return channels

        def log_prob(self, params, value):
            return params.sum(-1)

        def sample_channel(self, params, prefix, channels):
            return params[..., 0]

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


def reference_kept(probs: list[float], f) -> set[int]:
    """The levels a filter keeps, from its definition (ties at the edge kept)."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    if isinstance(f, TopK):
        if f.k == 1:
            return {max(range(len(probs)), key=lambda i: (probs[i], -i))}
        edge = probs[order[min(f.k, len(probs)) - 1]]
    elif isinstance(f, TopP):
        mass, count = 0.0, 0
        for i in order:
            count += 1
            mass += probs[i]
            if mass >= f.p:
                break
        edge = probs[order[count - 1]]
    else:
        edge = max(probs) * f.p
    return {i for i, p in enumerate(probs) if p >= edge}


@settings(max_examples=300, deadline=None)
@given(
    logits=st.lists(st.floats(-8, 8, allow_nan=False), min_size=2, max_size=12),
    f=st.one_of(
        st.integers(1, 13).map(TopK),
        st.floats(0.01, 1.0).map(TopP),
        st.floats(0.01, 1.0).map(MinP),
    ),
)
def test_filters_keep_what_their_definition_keeps(logits, f):
    x = torch.tensor(logits, dtype=torch.float64)
    probs = torch.softmax(x, -1).tolist()
    kept = set(torch.isfinite(f.apply(x)).nonzero().flatten().tolist())
    expected = reference_kept(probs, f)
    if kept != expected:
        # only rounding at the edge may tell them apart: the levels in one set and not the other tie (within
        # 1e-12) with the least likely level kept (the filters compare logits, the reference probabilities),
        # or, for top_p, a running mass lies within 1e-12 of p
        edge = min(probs[i] for i in kept)
        ties = all(abs(probs[i] - edge) <= 1e-12 * max(probs) for i in kept ^ expected)
        ordered = sorted(probs, reverse=True)
        near_p = isinstance(f, TopP) and any(abs(sum(ordered[: n + 1]) - f.p) < 1e-12 for n in range(len(ordered)))
        assert ties or near_p, (logits, f, kept, expected)
    assert int(x.argmax()) in kept  # the most likely level is always kept
    assert all(math.isinf(v) for i, v in enumerate(f.apply(x).tolist()) if i not in kept)


FILTERS = st.one_of(
    st.integers(1, 13).map(TopK),
    st.sampled_from([0.05, 0.3, 0.5, 0.9, 0.95, 1.0]).map(TopP),
    st.sampled_from([0.01, 0.1, 0.5, 1.0]).map(MinP),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    seed=st.integers(0, 2**16),
    rows=st.integers(1, 3),
    levels=st.integers(2, 12),
    ties=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
    chain=st.lists(FILTERS, min_size=2, max_size=4),
)
def test_a_chain_is_its_filters_applied_one_after_another(seed, rows, levels, ties, dtype, chain):
    # filter_logits sorts once and keeps the levels at or above the largest threshold; each filter must still
    # see only the survivors of the ones before it (top_p renormalises over them), as if applied one by one
    x = torch.randn(rows, levels, generator=torch.Generator().manual_seed(seed)) * 3
    if ties:
        x = x.round()
    x = x.to(dtype)
    one_by_one = x
    for f in chain:
        one_by_one = f.apply(one_by_one)
    assert torch.equal(filter_logits(x, tuple(chain)), one_by_one)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_numpy_sort_gives_torch_sorts_values(dtype, monkeypatch):
    # on CPU the filters sort with NumPy (faster), elsewhere with torch.sort: the same values, so a model
    # filters alike on either device
    x = torch.randn(5, 7, 300, dtype=dtype).round_(decimals=1)  # ties
    x[0, 0, :5] = -math.inf
    x = x.transpose(0, 1)  # not contiguous
    expected = torch.sort(x, dim=-1, descending=True).values
    assert torch.equal(sort_descending(x), expected)
    assert torch.equal(sort_descending(x.requires_grad_()), expected)
    assert sort_descending(x[:0]).shape == (0, 5, 300)
    chain = (TopP(0.9), TopK(40), MinP(0.01))
    with_numpy = filter_logits(x.detach(), chain)
    monkeypatch.setattr(decoding, "_NUMPY_SORTED", ())
    assert torch.equal(filter_logits(x.detach(), chain), with_numpy)


def test_filtered_log_probs_keep_their_gradient():
    x = torch.randn(3, 10, requires_grad=True)
    log_q = filter_log_probs(x, (TopP(0.8), TopK(4)))
    kept = torch.isfinite(log_q)
    log_q[kept].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert (x.grad[~kept] == 0).all() and (x.grad[kept] != 0).any()
