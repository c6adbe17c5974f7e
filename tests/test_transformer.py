"""What is specific to the Transformer: the KV cache, prompt prefill, lengths, channel coupling, errors."""

from __future__ import annotations

import pytest
import torch

import pyro_autoregressive as par
from pyro_autoregressive.heads import Bernoulli, Categorical, DiscretizedLogisticMixture, Normal
from pyro_autoregressive.models.transformer import TransformerState
from pyro_autoregressive.nn.attention import KVCache

from conftest import load_script

SMALL = {"d_model": 16, "num_heads": 2, "num_layers": 2}


def small(head: par.heads.Head | None = None, **kwargs) -> par.Transformer:
    torch.manual_seed(0)
    options = SMALL | kwargs
    if "image_shape" not in options:
        options.setdefault("max_length", 12)
    model = par.Transformer(head or Categorical(5), **options).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def cached_params(model: par.Transformer, d: par.AutoregressiveDistribution, x: torch.Tensor) -> torch.Tensor:
    """Per-step head parameters from the KV-cache state, teacher-forced on ``x (N, *E)``: ``(N, S, P)``."""
    steps = d.layout.to_steps(x)  # (N, S, C)
    state = model.incremental_state(d.layout, d.context, d.local_context, x.shape[0])
    assert isinstance(state, TransformerState)
    params = []
    for i in range(d.num_steps):
        params.append(state.params())
        state.advance(steps[:, i])
    return torch.stack(params, dim=1)


@pytest.mark.parametrize("head", [Categorical(5), Normal(), DiscretizedLogisticMixture(2, num_classes=8)], ids=str)
def test_kv_cache_equals_full_pass(head):
    model = small(head, context_size=3, local_context_channels=2).eval()
    context = torch.randn(4, 3, dtype=torch.float64)
    local = torch.randn(4, 2, 9, dtype=torch.float64)
    d = model.condition(context, local_context=local, length=9)
    x = d.sample()
    full = model(x, context, local)  # (N, S, P)
    torch.testing.assert_close(cached_params(model, d, x), full, rtol=1e-12, atol=1e-12)


def test_kv_cache_image_with_channel_coupling():
    model = small(Categorical(4), image_shape=(3, 2, 3)).eval()
    assert model.couples_channels
    d = model.condition()
    x = d.sample((5,))
    full = model(x)  # (N, 6, 3*4)
    state = model.incremental_state(d.layout, None, None, 5)
    steps = d.layout.to_steps(x)  # (N, 6, 3)
    for i in range(d.num_steps):
        for c in range(3):
            params = state.params(steps[:, i, :c])  # block c given channels < c
            torch.testing.assert_close(params[:, 4 * c : 4 * (c + 1)], full[:, i, 4 * c : 4 * (c + 1)])
        state.advance(steps[:, i])


@pytest.mark.parametrize("num_steps", [0, 1, 4, 8])
def test_prompt_prefill_equals_step_by_step(num_steps):
    model = small().eval()
    d = model.condition(length=8)
    x = d.sample((3,))
    one_pass = model.incremental_state(d.layout, None, None, 3)
    one_pass.advance_prefix(d.layout.to_steps(x)[:, :num_steps])
    stepwise = model.incremental_state(d.layout, None, None, 3)
    for i in range(num_steps):
        stepwise.advance(d.layout.to_steps(x)[:, i])
    assert one_pass.step == stepwise.step == num_steps
    if num_steps < 8:
        torch.testing.assert_close(one_pass.params(), stepwise.params(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(one_pass.params(), model(x)[:, num_steps], rtol=1e-12, atol=1e-12)


def test_prompt_continuation_cached_equals_naive():
    model = small().eval()
    d = model.condition(length=12)
    prompt = torch.tensor([1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0])
    c = d.condition_on_prefix(prompt, 4)
    torch.manual_seed(5)
    cached = c.sample((6,))
    torch.manual_seed(5)
    naive = c.sample((6,), cache=False)
    assert torch.equal(cached, naive)
    assert (cached[:, :4] == prompt[:4]).all()


def test_shorter_lengths_share_weights():
    """A sequence of length T < max_length has the conditionals of the first T steps of a longer one."""
    model = small().eval()
    x = model.condition(length=12).sample((2,))
    short = model.condition(length=5).step_log_prob(x[:, :5])
    torch.testing.assert_close(short, model.condition(length=12).step_log_prob(x)[:, :5])


def test_rsample_through_the_cache_has_gradients():
    model = small(Normal(), context_size=2)
    context = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    x = model.condition(context, length=6).rsample()
    (grad,) = torch.autograd.grad(x.sum(), context)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_kv_cache_buffers_and_concatenation_agree():
    keys = torch.randn(2, 3, 5, 4)
    values = torch.randn(2, 3, 5, 4)
    grown, buffered = KVCache(), KVCache(capacity=5)
    with torch.no_grad():
        for t in range(5):
            k1, v1 = grown.append(keys[:, :, t : t + 1], values[:, :, t : t + 1])
            k2, v2 = buffered.append(keys[:, :, t : t + 1], values[:, :, t : t + 1])
            assert torch.equal(k1, k2) and torch.equal(v1, v2) and k2.shape[2] == t + 1
    assert buffered._preallocated
    assert torch.equal(buffered.append(keys[:, :, :1], values[:, :, :1])[0][:, :, :5], keys)  # past capacity: grows


def test_dropout_only_in_training():
    model = small(dropout=0.5)
    x = model.condition(length=6).sample((2,))
    model.eval()
    torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)
    model.train()
    assert not torch.equal(model(x), model(x))


def test_errors():
    with pytest.raises(ValueError, match="length: expected an int in \\[1, 12\\]"):
        small().condition(length=13)
    with pytest.raises(ValueError, match="max_length, image_shape: expected exactly one"):
        par.Transformer(Categorical(3))
    with pytest.raises(ValueError, match="max_length, image_shape: expected exactly one"):
        par.Transformer(Categorical(3), max_length=4, image_shape=(1, 2, 2))
    with pytest.raises(ValueError, match="num_heads: expected a divisor of d_model=16"):
        par.Transformer(Categorical(3), max_length=4, d_model=16, num_heads=3)
    with pytest.raises(ValueError, match="dropout"):
        par.Transformer(Categorical(3), max_length=4, dropout=1.0)
    with pytest.raises(ValueError, match="image_shape"):
        par.Transformer(Categorical(3), image_shape=(2, 2))
    with pytest.raises(TypeError, match="length: an image Transformer"):
        small(image_shape=(1, 2, 2)).condition(length=4)
    with pytest.raises(TypeError, match="head"):
        par.Transformer("categorical", max_length=4)  # type: ignore[arg-type]


def test_image_event_semantics_and_save_load(tmp_path):
    model = small(Bernoulli(), image_shape=(2, 3, 2), context_size=1)
    d = model.condition(torch.zeros(4, 1, dtype=torch.float64))
    assert d.event_shape == (2, 3, 2) and d.batch_shape == (4,)
    x = d.sample()
    par.save(model, tmp_path / "m")
    loaded = par.load(tmp_path / "m")
    assert loaded.config()["image_shape"] == [2, 3, 2]
    e = loaded.condition(torch.zeros(4, 1, dtype=torch.float64))
    torch.testing.assert_close(e.log_prob(x), d.log_prob(x), rtol=0, atol=0)


@pytest.mark.slow
def test_text_example_quick(tmp_path):
    results = load_script("examples/transformer_text.py").main(["--quick", "--out", str(tmp_path)])
    assert 0 < results["transformer"] < 9 and 0 < results["xz -9"] < 9
    assert (tmp_path / "model" / "config.json").is_file()


@pytest.mark.slow
def test_digits_example_quick(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    results = load_script("examples/transformer_digits.py").main(["--quick", "--no-progress", "--out", str(tmp_path)])
    assert results["test_nll"] > 0
    assert (tmp_path / "samples.png").is_file()


@pytest.mark.slow
def test_benchmark_quick():
    rows = load_script("benchmarks/bench_transformer.py").main(["--quick"])
    assert rows[0]["cached_s"] > 0 and rows[-1]["log_prob_s"] > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_the_benchmarks_functional_loop_draws_our_tokens(dtype):
    """benchmarks/bench_generate.py times a hand-written loop against ``sample``: it must do the same work,
    so under one seed it draws the same tokens from the same weights."""
    bench = load_script("benchmarks/bench_generate.py")
    model = bench.build(max_length=64, dtype=dtype)
    torch.manual_seed(3)
    ours = model.condition(length=40).sample((3,))
    torch.manual_seed(3)
    assert torch.equal(bench.functional_sample(model, 3, 40), ours)


@pytest.mark.parametrize("image_shape", [None, (3, 2, 2)], ids=["sequence", "image-c3"])
def test_index_embedding_is_the_one_hot_product(image_shape):
    """Discrete values are embedded by index; the token embeddings (and the channel coupling's
    output) equal the products of the same weights with the one-hot features, channel-major."""
    torch.manual_seed(0)
    kwargs = {"max_length": 6} if image_shape is None else {"image_shape": image_shape}
    model = par.Transformer(Categorical(5), d_model=8, num_heads=2, num_layers=1, coupling_hidden=4, **kwargs)
    model = model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    d = model.condition()
    steps = d.layout.to_steps(d.sample((3,)))  # (N, S, C)
    one_hot = torch.nn.functional.one_hot(steps, 5).double().flatten(-2)  # (N, S, C*K), channel-major
    features = model._step_features(steps)  # (N, S, C, F)
    torch.testing.assert_close(model._tokens(features), model.token_embedding(one_hot), rtol=0, atol=1e-15)
    if model.coupling is not None:
        c, z = model.coupling, torch.randn(3, steps.shape[1], 8, dtype=torch.float64)
        expected = c.out(torch.relu(c.hidden(one_hot) + c.context(z))) + c.direct(one_hot)
        torch.testing.assert_close(c(features[..., 8:], z), expected, rtol=0, atol=1e-14)
