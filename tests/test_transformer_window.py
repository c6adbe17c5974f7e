"""The windowed Transformer: a stationary model of any length (banded attention, rotary positions, a ring cache).

The property table (``tests/cases_transformer.py``) runs the generic contract on
windowed cases (``W = 2``, ``T = 5``); this file tests what is specific: which
steps a conditional sees, stationarity, the ring-buffer cache far past the window,
the blocked banded attention, rotary positions, streaming, persistence and errors.
"""

from __future__ import annotations

import json

import pytest
import torch

import pyro_autoregressive as par
from pyro_autoregressive.heads import Categorical, Normal
from pyro_autoregressive.nn import attention
from pyro_autoregressive.nn.kv_cache import KVCache
from pyro_autoregressive.nn.rotary import RotaryTable, rotary_table, rotate
from pyro_autoregressive.streaming import generate_stream


def windowed(head: par.heads.Head | None = None, **kwargs) -> par.Transformer:
    """A small float64 windowed model with weights far from their initialisation (every path is used)."""
    torch.manual_seed(0)
    options = {"max_length": 4, "d_model": 16, "num_heads": 2, "num_layers": 2, "attention_window": 3} | kwargs
    model = par.Transformer(head or Categorical(5), **options).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


def state_params(model: par.Transformer, d: par.AutoregressiveDistribution, x: torch.Tensor, prefix: int = 0):
    """Head parameters of every step from the KV-cache state, teacher-forced on ``x``: ``(N, S, P)``."""
    steps = d.layout.to_steps(x)
    state = model.incremental_state(d.layout, d.context, d.local_context, x.shape[0])
    out = [torch.full_like(state.params(), torch.nan)] * prefix
    with torch.no_grad():
        if prefix:
            state.advance_prefix(steps[:, :prefix])
        for i in range(prefix, d.num_steps):
            out.append(state.params())
            state.advance(steps[:, i])
    return torch.stack(out, dim=1), state


@pytest.mark.parametrize("window, num_layers", [(1, 1), (2, 1), (3, 1), (3, 2), (2, 3)])
def test_a_step_sees_exactly_its_receptive_field(window, num_layers):
    """The parameters of step i depend on x_{i-R..i-1} and on nothing else, R = num_layers (W - 1) + 1
    (R = W for one layer): by gradient (every step of the band is seen) and by perturbation (changing
    every step before the band, and step i itself and after, leaves them bit for bit)."""
    model = windowed(num_layers=num_layers, attention_window=window)
    R = model.receptive_field
    assert R == num_layers * (window - 1) + 1 and (num_layers > 1 or R == window)
    T = R + 6
    x = model.condition(length=T).sample((2,))
    features = model.embed(x).detach().requires_grad_(True)  # (N, T, F)
    params = model.network(features, None, None)  # (N, T, P)
    for i in range(T):
        (grad,) = torch.autograd.grad(params[:, i].sum(), features, retain_graph=True)
        seen = grad.abs().sum((0, 2)) > 0  # (T,)
        expected = torch.zeros(T, dtype=torch.bool)
        expected[max(0, i - R) : i] = True
        assert torch.equal(seen, expected), f"step {i}: sees {seen.nonzero().flatten().tolist()}"
        changed = x.clone()
        changed[:, : max(0, i - R)] = (x[:, : max(0, i - R)] + 1) % 5
        changed[:, i:] = (x[:, i:] + 2) % 5
        with torch.no_grad():
            assert torch.equal(model(changed)[:, i], params[:, i].detach()), f"step {i}"


@pytest.mark.parametrize("head", [Categorical(5), Normal()], ids=str)
def test_log_prob_is_the_sum_of_the_sliding_window_conditionals(head):
    """Stationarity: the conditional of step i >= R is that of the last step of the sequence x_{i-R..i}
    scored on its own (the same function of the R steps before it, wherever it is); log_prob is their sum."""
    model = windowed(head, context_size=2)
    R = model.receptive_field
    T = 3 * R + 2
    context = torch.randn(3, 2, dtype=torch.float64)
    d = model.condition(context, length=T)
    x = d.sample()
    terms = []
    for i in range(T):
        piece = x[:, max(0, i - R) : i + 1]  # the steps that step i sees, and step i
        terms.append(model.condition(context, length=piece.shape[1]).step_log_prob(piece)[:, -1])
    sliding = torch.stack(terms, dim=-1)  # (3, T)
    torch.testing.assert_close(sliding, d.step_log_prob(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(sliding.sum(-1), d.log_prob(x), rtol=0, atol=1e-11)
    # and not trivially: the same steps at another place of a sequence with other earlier steps
    assert not torch.allclose(sliding[:, R], d.step_log_prob(x.roll(1, dims=1))[:, R])


def test_a_model_without_window_is_not_stationary():
    """The sliding-window identity fails for absolute positions (the test above has teeth)."""
    model = windowed(attention_window=None, max_length=12)
    d = model.condition(length=12)
    x = d.sample((2,))
    piece = x[:, 5:12]
    assert not torch.allclose(model.condition(length=7).step_log_prob(piece)[:, -1], d.step_log_prob(x)[:, -1])


@pytest.mark.parametrize("prefix", [0, 1, 7, 70])
def test_ring_cache_far_past_the_window_equals_the_full_pass(prefix):
    """T = 100 >> W = 3, both contexts: every cached step's parameters equal the banded parallel pass
    (float64, to 1e-12), after a prompt of any length; the ring keeps W positions per layer."""
    model = windowed(context_size=2, local_context_channels=2)
    context, local = torch.randn(2, 2, dtype=torch.float64), torch.randn(2, 2, 100, dtype=torch.float64)
    d = model.condition(context, local_context=local, length=100)
    x = d.sample()
    with torch.no_grad():
        full = model(x, context, local)  # (N, S, P)
    cached, state = state_params(model, d, x, prefix)
    torch.testing.assert_close(cached[:, prefix:], full[:, prefix:], rtol=1e-12, atol=1e-12)
    assert all(cache._keys.shape[2] == 3 and cache._preallocated for cache in state.caches)


def test_windowed_cached_sample_equals_naive_far_past_the_window():
    model = windowed()
    d = model.condition(length=40)
    torch.manual_seed(1)
    cached = d.sample((3,))
    torch.manual_seed(1)
    assert torch.equal(cached, d.sample((3,), cache=False))


def test_rotary_without_window_keeps_max_length_and_caches_exactly():
    model = windowed(attention_window=None, positions="rotary", max_length=12)
    assert model.position is None and model.receptive_field is None
    with pytest.raises(ValueError, match=r"length: expected an int in \[1, 12\]"):
        model.condition(length=13)
    d = model.condition(length=12)
    x = d.sample((2,))
    torch.testing.assert_close(state_params(model, d, x, 5)[0][:, 5:], model(x)[:, 5:], rtol=1e-12, atol=1e-12)


def test_any_length_past_max_length(monkeypatch):
    monkeypatch.setattr(attention, "QUERY_BLOCK", 16)  # the banded parallel pass runs in blocks of queries
    model = windowed(max_length=4)
    d = model.condition(length=90)
    assert d.event_shape == (90,) and model.condition().event_shape == (4,)  # max_length: the default T
    x = d.sample()
    assert x.shape == (90,) and torch.isfinite(d.log_prob(x))
    cached, _ = state_params(model, d, x.unsqueeze(0))
    torch.testing.assert_close(cached, model(x.unsqueeze(0)), rtol=1e-12, atol=1e-12)


# -- the layers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("past", [0, 2, 5])
def test_banded_attention_in_query_blocks_equals_one_dense_mask(monkeypatch, past):
    monkeypatch.setattr(attention, "QUERY_BLOCK", 4)
    torch.manual_seed(0)
    q = torch.randn(2, 3, 11, 5, dtype=torch.float64)
    k, v = torch.randn(2, 3, past + 11, 5, dtype=torch.float64), torch.randn(2, 3, past + 11, 5, dtype=torch.float64)
    for window in (1, 3, 7, 40):
        t = torch.arange(past, past + 11)[:, None]
        s = torch.arange(past + 11)[None, :]
        band = (s <= t) & (s > t - window)
        dense = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=band)
        torch.testing.assert_close(attention.causal_attention(q, k, v, window), dense, rtol=1e-13, atol=1e-13)


def test_ring_cache_returns_the_window():
    """Keys tagged by position: one step at a time without gradients, the ring holds the last W positions;
    with gradients (rsample) they come back in order; a prompt gets the last W - 1 in order, then itself."""
    W, T = 3, 9
    tagged = torch.arange(T, dtype=torch.float64).view(1, 1, T, 1).expand(2, 2, T, 4)
    ring, ordered = KVCache(window=W), KVCache(window=W)
    for t in range(T):
        with torch.no_grad():
            keys, values = ring.append(tagged[:, :, t : t + 1], -tagged[:, :, t : t + 1])
        positions = sorted(keys[0, 0, :, 0].long().tolist())
        assert positions == list(range(max(0, t - W + 1), t + 1)) and torch.equal(values, -keys)
        keys, _ = ordered.append(tagged[:, :, t : t + 1], tagged[:, :, t : t + 1])
        assert keys[0, 0, :, 0].long().tolist() == list(range(max(0, t - W + 1), t + 1))
    assert ring._keys.shape[2] == W and ring._preallocated and not ordered._preallocated
    prompt = torch.full((2, 2, 4, 4), 100.0, dtype=torch.float64)
    with torch.no_grad():
        keys, _ = ring.append(prompt, prompt)
    assert keys[0, 0, :, 0].tolist() == [7.0, 8.0, 100.0, 100.0, 100.0, 100.0]
    with torch.no_grad():
        keys, _ = ring.append(tagged[:, :, :1] + 200, tagged[:, :, :1])  # a step after the prompt
    assert sorted(keys[0, 0, :, 0].tolist()) == [100.0, 100.0, 200.0]
    # kept in order with gradients, then one step at a time without: the kept positions move into the ring
    switching = KVCache(window=W)
    for t in range(T):
        with torch.set_grad_enabled(t < 5):
            keys, _ = switching.append(tagged[:, :, t : t + 1], tagged[:, :, t : t + 1])
        assert sorted(keys[0, 0, :, 0].long().tolist()) == list(range(max(0, t - W + 1), t + 1)), t
    assert switching._preallocated


def test_rotary_scores_depend_on_the_offset_only():
    torch.manual_seed(0)
    q, k = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    table = rotary_table(0, 200, 8, torch.float64)  # (200, 2, 8)

    def turned(x, m):
        return rotate(x, table[m, 0], table[m, 1])

    for m, n, shift in [(3, 5, 10), (0, 7, 100), (50, 2, 140)]:
        score = turned(q, m) @ turned(k, n)
        torch.testing.assert_close(turned(q, m + shift) @ turned(k, n + shift), score, rtol=1e-13, atol=1e-13)
    assert not torch.allclose(turned(q, 3) @ turned(k, 5), turned(q, 3) @ turned(k, 6))
    torch.testing.assert_close(turned(q, 17).norm(), q.norm())  # a rotation
    torch.testing.assert_close(turned(q, 0), q, rtol=0, atol=0)
    # the step's table, a block of positions at a time, has the same rows
    steps = RotaryTable(8, torch.float64, torch.device("cpu"), block=16)
    for m in (0, 15, 16, 199):
        cos, sin = steps.at(m)
        torch.testing.assert_close(torch.stack([cos.flatten(), sin.flatten()]), table[m], rtol=1e-15, atol=1e-15)


# -- streaming, persistence, errors ---------------------------------------------------------------------------


def test_stream_equals_one_sample_and_continues_a_prefix():
    """generate_stream over the ring-cache state draws what one sample of the whole length draws (the
    same random numbers in the same order: one torch.rand per step), also across the window."""
    model = windowed(context_size=2, local_context_channels=2)
    context, local = torch.randn(2, 2, dtype=torch.float64), torch.randn(2, 2, 50, dtype=torch.float64)
    d = model.condition(context, local_context=local, length=50)
    torch.manual_seed(3)
    whole = d.sample()
    torch.manual_seed(3)
    chunks = list(generate_stream(model, 50, chunk_size=7, context=context, local_context=local, progress=False))
    assert [c.shape[-1] for c in chunks] == [7] * 7 + [1]
    assert torch.equal(torch.cat(chunks, -1), whole)
    torch.manual_seed(4)
    completed = d.condition_on_prefix(whole, 20).sample()
    torch.manual_seed(4)
    stream = generate_stream(
        model, 30, chunk_size=8, context=context, local_context=local, prefix=whole[:, :20], progress=False
    )
    assert torch.equal(torch.cat(list(stream), -1), completed[:, 20:])


def test_stream_with_decoding_filters_equals_the_filtered_sample():
    """Text continuation: a prompt, a temperature and top_k, top_p, min_p, streamed past max_length."""
    model = windowed(max_length=4)
    d = model.condition(length=40)
    prompt = torch.tensor([[1, 2, 3, 4, 0, 1]])
    torch.manual_seed(5)
    whole = d.condition_on_prefix(torch.cat([prompt[0], torch.zeros(34, dtype=torch.long)]), 6)
    whole = whole.temper(0.8).top_k(4).top_p(0.9).min_p(0.05).sample()
    torch.manual_seed(5)
    chunks = generate_stream(
        model, 34, chunk_size=10, prefix=prompt, temperature=0.8, top_k=4, top_p=0.9, min_p=0.05, progress=False
    )
    assert torch.equal(torch.cat(list(chunks), -1)[0], whole[6:])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"top_k": 0}, ValueError, r"^top_k: expected an int >= 1, got 0"),
        ({"top_k": 1.5}, TypeError, r"^top_k: expected an int >= 1"),
        ({"top_p": 0.0}, ValueError, r"^top_p: expected a float in \(0, 1\], got 0.0"),
        ({"min_p": 1.5}, ValueError, r"^min_p: expected a float in \(0, 1\], got 1.5"),
        ({"top_p": True}, TypeError, r"^top_p: expected a float in \(0, 1\], got bool"),
    ],
)
def test_stream_filter_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        generate_stream(windowed(), 5, progress=False, **kwargs)


def test_stream_filters_need_enumerable_levels():
    with pytest.raises(ValueError, match=r"^top_p, min_p: decoding filters need a head over enumerable levels"):
        generate_stream(windowed(Normal()), 5, top_p=0.9, min_p=0.1, progress=False)


def test_stream_past_max_length_only_with_a_window():
    assert next(generate_stream(windowed(max_length=4), 10, progress=False)).shape == (1, 10)
    with pytest.raises(ValueError, match="num_samples: 0 prefix steps and 10 new steps are more than Transformer"):
        generate_stream(windowed(attention_window=None, max_length=4), 10, progress=False)


def test_save_load_round_trips_positions_and_window(tmp_path):
    model = windowed()
    assert model.config()["attention_window"] == 3 and model.config()["positions"] == "rotary"  # saved resolved
    par.save(model, tmp_path / "w")
    loaded = par.load(tmp_path / "w")
    x = model.condition(length=30).sample((2,))
    assert torch.equal(loaded.condition(length=30).log_prob(x), model.condition(length=30).log_prob(x))
    # a file written before windows existed has neither key: it loads as the absolute-position model it was
    plain = windowed(attention_window=None, max_length=6)
    par.save(plain, tmp_path / "p")
    config = json.loads((tmp_path / "p" / "config.json").read_text())
    del config["attention_window"], config["positions"]
    (tmp_path / "p" / "config.json").write_text(json.dumps(config))
    old = par.load(tmp_path / "p")
    assert old.positions == "absolute" and old.attention_window is None
    y = plain.condition().sample((2,))
    assert torch.equal(old.condition().log_prob(y), plain.condition().log_prob(y))


def test_errors():
    with pytest.raises(ValueError, match="positions: a Transformer with attention_window=4 takes 'rotary'"):
        par.Transformer(Categorical(3), max_length=4, attention_window=4, positions="absolute")
    with pytest.raises(ValueError, match="positions: expected 'absolute' or 'rotary', got 'alibi'"):
        par.Transformer(Categorical(3), max_length=4, positions="alibi")
    with pytest.raises(ValueError, match="num_heads: rotary positions need an even head size d_model / num_heads"):
        par.Transformer(Categorical(3), max_length=4, d_model=6, num_heads=2, attention_window=2)
    with pytest.raises(ValueError, match="attention_window: expected an int >= 1, got 0"):
        par.Transformer(Categorical(3), max_length=4, attention_window=0)
    with pytest.raises(TypeError, match="attention_window"):
        par.Transformer(Categorical(3), max_length=4, attention_window=2.0)
    with pytest.raises(ValueError, match="length: expected an int >= 1, got 0"):
        windowed().condition(length=0)
    with pytest.raises(ValueError, match="an attention_window lifts the limit"):
        windowed(attention_window=None).condition(length=5)
