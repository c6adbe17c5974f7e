"""WaveNet-specific tests: receptive field, queue state, conditioning, mu-law, streaming, WAV I/O.

The generic properties (normalisation, causality, samples vs log_prob, cached ==
naive, ...) run over the tiny cases of ``tests/cases_wavenet.py``. Seeds are fixed.
"""

from __future__ import annotations

import importlib.util
import math
import re

import pytest
import torch

import pyro_autoregressive as par
from pyro_autoregressive.audio import (
    linear_decode,
    linear_encode,
    mu_law_decode,
    mu_law_encode,
    read_wav,
    write_wav,
)
from pyro_autoregressive.heads import Categorical, DiscretizedLogisticMixture, Normal
from pyro_autoregressive.models.wavenet import WaveNetState
from pyro_autoregressive.nn.causal_conv import CausalConv1d, ConvQueue, shift_right
from pyro_autoregressive.streaming import generate_stream, stream_to_wav

from conftest import load_script


def _wavenet(head=None, **kwargs) -> par.WaveNet:
    torch.manual_seed(0)
    options = dict(length=40, residual_channels=8, skip_channels=16, num_layers=3, num_stacks=2)
    model = par.WaveNet(head or Categorical(5), **(options | kwargs)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def _contexts(model: par.WaveNet, batch: int, length: int):
    context = torch.randn(batch, model.context_size, dtype=model.dtype) if model.context_size else None
    local = None
    if model.local_context_channels:
        local = torch.randn(batch, model.local_context_channels, model.num_frames(length), dtype=model.dtype)
    return context, local


# -- building blocks --------------------------------------------------------------------------------


def test_causal_conv_step_matches_forward():
    torch.manual_seed(1)
    conv = CausalConv1d(3, 4, kernel_size=3, dilation=2).double()
    x = torch.randn(2, 3, 11, dtype=torch.float64)
    full = conv(x)  # (2, 4, 11)
    queue = ConvQueue(torch.zeros(2, 3, dtype=torch.float64), kernel_size=3, dilation=2)
    assert len(queue) == conv.context_length == 4
    step = queue.feed(conv)
    for t in range(11):
        torch.testing.assert_close(step(x[..., t]), full[..., t], rtol=1e-12, atol=1e-12)
    # a queue primed with a prefix continues it
    primed = ConvQueue(torch.zeros(2, 3, dtype=torch.float64), kernel_size=3, dilation=2)
    torch.testing.assert_close(primed.prime(conv)(x[..., :6]), full[..., :6], rtol=1e-12, atol=1e-12)
    step = primed.feed(conv)
    for t in range(6, 11):
        torch.testing.assert_close(step(x[..., t]), full[..., t], rtol=1e-12, atol=1e-12)
    assert torch.equal(shift_right(x)[..., 1:], x[..., :-1]) and (shift_right(x)[..., 0] == 0).all()


# -- receptive field and conditioning ----------------------------------------------------------------


@pytest.mark.parametrize(("kernel_size", "expected"), [(2, 15), (3, 29)])
def test_receptive_field(kernel_size, expected):
    """Step t depends on exactly x_{t-r}, ..., x_{t-1}: the gradient is nonzero there and zero elsewhere."""
    model = _wavenet(kernel_size=kernel_size, length=3 * expected)
    assert model.receptive_field == expected == 1 + 2 * 7 * (kernel_size - 1)
    x = model.condition().sample((4,))
    features = model.embed(x).detach().requires_grad_(True)
    t = 2 * expected + 3
    (grad,) = torch.autograd.grad(model.network(features, None, None)[:, t].sum(), features)
    seen = grad.abs().sum((0, 2)) > 0  # (T,)
    assert seen[t - expected : t].all(), "a step within the receptive field is not seen"
    assert not seen[: t - expected].any() and not seen[t:].any()


def test_local_context_frames_are_upsampled_by_hop_length():
    model = _wavenet(local_context_channels=2, hop_length=4, length=10)
    assert model.local_context_shape(model.layout()) == (2, 3)  # ceil(10 / 4) frames
    assert model.local_context_shape(model.layout(12)) == (2, 3)
    x = model.condition(local_context=torch.zeros(1, 2, 3, dtype=torch.float64)).sample()
    local = torch.randn(1, 2, 3, dtype=torch.float64, requires_grad=True)
    params = model(x, None, local)  # (1, 10, P)
    # step t sees its own frame t // 4 (and, through the layers, earlier ones), never a later one
    for t in range(10):
        (grad,) = torch.autograd.grad(params[0, t].sum(), local, retain_graph=True)
        seen = grad.abs().sum((0, 1)) > 0
        assert seen[t // 4] and not seen[t // 4 + 1 :].any()


def test_local_context_length_mismatch_is_a_clear_error():
    model = _wavenet(local_context_channels=2, hop_length=4, length=10)
    wrong = torch.zeros(3, 2, 4, dtype=torch.float64)  # 4 frames, expected ceil(10 / 4) = 3
    with pytest.raises(ValueError, match=r"local_context: expected shape \(\*batch, 2, 3\), got \(3, 2, 4\)"):
        model.condition(local_context=wrong)
    with pytest.raises(ValueError, match=r"local_context.*T = 10 and hop_length = 4, got \(3, 2, 4\)"):
        model(torch.zeros(3, 10, dtype=torch.long), None, wrong)
    with pytest.raises(ValueError, match="local_context"):
        model.condition()  # required


def test_length_and_constructor_validation():
    model = _wavenet()
    assert model.condition(length=1).event_shape == (1,)
    assert model.condition(length=123).event_shape == (123,)
    with pytest.raises(ValueError, match="length: expected an int >= 1, got 0"):
        model.condition(length=0)
    with pytest.raises(TypeError, match="length"):
        model.condition(length=2.5)
    with pytest.raises(ValueError, match="kernel_size: expected an int >= 2, got 1"):
        par.WaveNet(Categorical(3), kernel_size=1)
    with pytest.raises(TypeError, match="num_layers"):
        par.WaveNet(Categorical(3), num_layers=2.0)
    with pytest.raises(ValueError, match="one_hot: needs a discrete head"):
        par.WaveNet(Normal(), one_hot=True)


def test_any_length_log_prob_is_one_pass_and_consistent():
    """A longer sequence's log_prob restricted to its first steps equals the short one's (causality, no lookahead)."""
    model = _wavenet(context_size=3)
    context = torch.randn(2, 3, dtype=torch.float64)
    x = model.condition(context, length=50).sample()
    long = model.condition(context, length=50).step_log_prob(x)
    short = model.condition(context, length=17).step_log_prob(x[:, :17])
    torch.testing.assert_close(long[:, :17], short, rtol=1e-12, atol=1e-12)


# -- queue-cached generation ------------------------------------------------------------------------


@pytest.mark.parametrize("kernel_size", [2, 3])
def test_state_params_equal_teacher_forced_params(kernel_size):
    model = _wavenet(kernel_size=kernel_size, context_size=2, local_context_channels=3, hop_length=3, length=30)
    context, local = _contexts(model, 2, 30)
    layout = model.layout()
    x = model.condition(context, local_context=local).sample()
    expected = model(x, context, local)  # (2, 30, P)
    state = model.incremental_state(layout, context, local, 2)
    assert isinstance(state, WaveNetState)
    # the queues hold the receptive field and nothing that grows with the length
    assert sum(len(q) for q in state.queues) == sum(model.dilations) * (kernel_size - 1)
    with torch.no_grad():
        for t in range(30):
            torch.testing.assert_close(state.params(), expected[:, t], rtol=1e-10, atol=1e-12)
            state.advance(x[:, t : t + 1])
    # a prompt encoded in one parallel pass leaves the same state as step by step
    for n in (1, 7, 29):
        fast = model.incremental_state(layout, context, local, 2)
        fast.advance_prefix(layout.to_steps(x[:, :n]))
        torch.testing.assert_close(fast.params(), expected[:, n], rtol=1e-10, atol=1e-12)


def test_cached_equals_naive_beyond_the_receptive_field():
    """float64: identical samples with and without the queues over 3 receptive fields, with a prompt too."""
    model = _wavenet(head=DiscretizedLogisticMixture(3, num_classes=64), context_size=2, length=45)
    d = model.condition(torch.randn(2, 2, dtype=torch.float64))
    torch.manual_seed(7)
    cached = d.sample(cache=True)
    torch.manual_seed(7)
    assert torch.equal(cached, d.sample(cache=False))
    c = d.condition_on_prefix(cached, 20)
    torch.manual_seed(8)
    cached = c.sample(cache=True)
    torch.manual_seed(8)
    assert torch.equal(cached, c.sample(cache=False))


def test_rsample_differentiates_through_the_queues():
    model = _wavenet(head=Normal(), context_size=2, length=20)
    context = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    x = model.condition(context).rsample()
    (grad,) = torch.autograd.grad(x[:, -1].sum(), context)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


# -- streaming --------------------------------------------------------------------------------------


def test_stream_equals_sample_and_continues_a_prefix(tmp_path):
    model = _wavenet(local_context_channels=2, hop_length=5, context_size=1)
    context, local = _contexts(model, 2, 40)
    d = model.condition(context, local_context=local)
    torch.manual_seed(3)
    whole = d.sample()
    torch.manual_seed(3)
    chunks = list(generate_stream(model, 40, chunk_size=7, context=context, local_context=local, progress=False))
    assert [c.shape for c in chunks] == [(2, 7)] * 5 + [(2, 5)]
    assert torch.equal(torch.cat(chunks, -1), whole)
    assert torch.is_grad_enabled()  # the generator does not leak no_grad into the caller
    # continuation: the same draws as condition_on_prefix
    torch.manual_seed(4)
    completed = d.condition_on_prefix(whole, 15).sample()
    torch.manual_seed(4)
    stream = generate_stream(
        model, 25, chunk_size=10, context=context, local_context=local, prefix=whole[:, :15], progress=False
    )
    assert torch.equal(torch.cat(list(stream), -1), completed[:, 15:])


def test_stream_errors_and_wav(tmp_path):
    pytest.importorskip("soundfile")
    model = _wavenet(head=Categorical(256), residual_channels=4, skip_channels=4)
    with pytest.raises(ValueError, match="num_samples"):
        next(generate_stream(model, 0))
    with pytest.raises(TypeError, match="model: expected a sequence model"):
        next(generate_stream(par.MADE(3, Categorical(3), hidden_sizes=(4,)), 3, progress=False))
    path = stream_to_wav(model, tmp_path / "g.wav", 100, 8000, chunk_size=30, progress=False)
    audio, rate = read_wav(path)
    assert rate == 8000 and audio.shape == (1, 100) and audio.abs().max() <= 1.0


def _stream_errors(model, **kwargs):
    """The error of calling generate_stream (eagerly: before any chunk is asked for)."""
    with pytest.raises((TypeError, ValueError)) as info:
        generate_stream(model, 5, **{"progress": False, **kwargs})
    return info


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"temperature": -1.0}, ValueError, r"^temperature: expected a finite float > 0, got -1.0"),
        ({"temperature": 0.0}, ValueError, r"^temperature: expected a finite float > 0, got 0.0"),
        ({"temperature": math.nan}, ValueError, r"^temperature: .* got nan"),
        ({"temperature": math.inf}, ValueError, r"^temperature: .* got inf"),
        ({"temperature": "1"}, TypeError, r"^temperature: expected a finite float > 0, got str '1'"),
        ({"temperature": True}, TypeError, r"^temperature: .* got bool True"),
        ({"prefix": torch.tensor([[1, 100]])}, ValueError, r"^prefix: expected integers in \[0, 7\] .* in \[1, 100\]"),
        ({"prefix": torch.tensor([[1, -1]])}, ValueError, r"^prefix: expected integers in \[0, 7\]"),
        ({"prefix": torch.tensor([[0.5, 1.0]])}, TypeError, r"^prefix: expected an integer dtype .* got torch.float32"),
        ({"prefix": torch.tensor([[True]])}, TypeError, r"^prefix: expected an integer dtype .* got torch.bool"),
        ({"prefix": torch.tensor([1, 2])}, ValueError, r"^prefix: expected shape \(N, n\), got \(2,\)"),
        ({"prefix": [[1, 2]]}, TypeError, r"^prefix: expected a torch.Tensor"),
        ({"num_sequences": 0}, ValueError, r"^num_sequences: expected an int >= 1, got 0"),
        ({"num_sequences": 2.0}, TypeError, r"^num_sequences: expected an int >= 1, got float 2.0"),
        ({"num_sequences": 2, "prefix": torch.zeros(3, 4, dtype=torch.long)}, ValueError, r"^prefix: .* got 3"),
        ({"chunk_size": 0}, ValueError, r"^chunk_size: expected an int >= 1, got 0"),
        ({"chunk_size": 2.5}, TypeError, r"^chunk_size: expected an int >= 1, got float 2.5"),
        ({"progress": 1}, TypeError, r"^progress: expected a bool"),
    ],
)
def test_generate_stream_validates_every_argument(kwargs, error, message):
    """Once: temperature -1 sampled the inverted distribution, a prefix of 100 (or 0.5) for 8 levels was continued."""
    model = _wavenet(head=Categorical(8), residual_channels=4, skip_channels=4)
    info = _stream_errors(model, **kwargs)
    assert info.type is error and re.search(message, str(info.value)), str(info.value)


def test_generate_stream_checks_that_the_batches_agree():
    """num_sequences=2 with a context batch of 3 once gave 3 sequences; a batch of 1 is repeated, any other refused."""
    model = _wavenet(head=Categorical(8), residual_channels=4, skip_channels=4, context_size=2)
    context = torch.randn(3, 2, dtype=model.dtype)
    info = _stream_errors(model, context=context, num_sequences=2)
    assert info.type is ValueError
    assert (
        str(info.value)
        == "context, local_context: expected a batch of 1 or 2 (num_sequences=2), got 3; num_sequences: got 2"
    )
    info = _stream_errors(model, context=context, prefix=torch.zeros(2, 3, dtype=torch.long))
    assert str(info.value) == "prefix: expected a batch of 1 or 3 (the other arguments), got 2"
    assert next(generate_stream(model, 4, context=context, progress=False)).shape == (3, 4)
    chunk = next(generate_stream(model, 4, context=context[:1], num_sequences=4, progress=False))
    assert chunk.shape == (4, 4)
    prefix = torch.zeros(1, 2, dtype=torch.long)
    assert next(generate_stream(model, 4, context=context, prefix=prefix, progress=False)).shape == (3, 4)


def test_stream_to_wav_checks_the_levels_and_the_number_of_sequences(tmp_path):
    pytest.importorskip("soundfile")
    model = _wavenet(head=Categorical(8), residual_channels=4, skip_channels=4)
    with pytest.raises(
        ValueError, match=r"^num_classes: expected 8 \(the levels of Categorical\(num_classes=8\)\), got 65536"
    ):
        stream_to_wav(model, tmp_path / "a.wav", 10, 8000, num_classes=65536, progress=False)
    with pytest.raises(ValueError, match=r"^num_sequences, context, prefix: stream_to_wav writes one sequence, got 2"):
        stream_to_wav(model, tmp_path / "b.wav", 10, 8000, num_sequences=2, progress=False)
    with pytest.raises(ValueError, match=r"^temperature"):
        stream_to_wav(model, tmp_path / "c.wav", 10, 8000, temperature=-1.0, progress=False)
    with pytest.raises(TypeError, match=r"^model: stream_to_wav writes levels; expected a discrete head"):
        stream_to_wav(_wavenet(head=Normal()), tmp_path / "d.wav", 10, 8000, progress=False)
    with pytest.raises(TypeError, match=r"^sample_rate: expected an int >= 1"):
        stream_to_wav(model, tmp_path / "e.wav", 10, 8000.0, progress=False)
    assert not any(tmp_path.iterdir()), "nothing is written before the arguments are checked"
    path = stream_to_wav(model, tmp_path / "f.wav", 10, 8000, num_classes=8, progress=False)
    assert read_wav(path)[0].shape == (1, 10)


# -- audio helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_classes", [256, 65536])
def test_mu_law_is_an_exact_inverse_on_the_levels(dtype, num_classes):
    levels = torch.arange(num_classes)
    audio = mu_law_decode(levels, num_classes, dtype)
    assert audio.dtype == dtype and audio.min() == -1.0 and audio.max() == 1.0
    assert (audio.diff() > 0).all()
    assert torch.equal(mu_law_encode(audio, num_classes), levels)
    # decode(encode(x)) is within half a level's width of x
    x = torch.linspace(-1, 1, 10001, dtype=torch.float64)
    mu = num_classes - 1
    companded = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    back = mu_law_decode(mu_law_encode(x, num_classes), num_classes, torch.float64)
    back_companded = torch.sign(back) * torch.log1p(mu * back.abs()) / math.log1p(mu)
    assert (back_companded - companded).abs().max() <= 1.0 / mu + 1e-9


def test_mu_law_errors():
    with pytest.raises(TypeError, match="audio"):
        mu_law_encode(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"levels: expected integers in \[0, 255\]"):
        mu_law_decode(torch.tensor([256]))
    with pytest.raises(ValueError, match="num_classes"):
        mu_law_encode(torch.zeros(2), 1)


def test_linear_levels_and_wav_round_trip(tmp_path):
    pytest.importorskip("soundfile")
    levels = torch.arange(256)
    assert torch.equal(linear_encode(linear_decode(levels)), levels)
    path = write_wav(tmp_path / "u8.wav", linear_decode(levels, dtype=torch.float64), 11025, subtype="PCM_U8")
    audio, rate = read_wav(path, dtype=torch.float64)
    assert rate == 11025 and audio.shape == (1, 256)
    assert torch.equal(linear_encode(audio[0]), levels)  # 8-bit PCM bytes are exactly the levels
    with pytest.raises(ValueError, match="audio"):
        write_wav(tmp_path / "x.wav", torch.zeros(1, 2, 3), 8000)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_encoders_refuse_non_finite_samples(bad):
    """NaN once became INT64_MIN (a level outside every model's support) and inf a full-scale level."""
    audio = torch.tensor([0.0, bad, 0.5])
    for encode in (mu_law_encode, linear_encode):
        with pytest.raises(ValueError, match=r"^audio: expected finite samples in \[-1, 1\], got 1 non-finite"):
            encode(audio)


def test_linear_decode_checks_dtype_and_range():
    """Like mu_law_decode: integer levels in [0, K-1], decoded to a floating dtype; never silently out of [-1, 1)."""
    with pytest.raises(TypeError, match=r"levels: expected an integer tensor, got torch.float32"):
        linear_decode(torch.tensor([0.5]))
    with pytest.raises(TypeError, match=r"levels: expected an integer tensor, got torch.bool"):
        linear_decode(torch.tensor([True]))
    with pytest.raises(ValueError, match=r"levels: expected integers in \[0, 255\], got \[0, 300\]"):
        linear_decode(torch.tensor([0, 300]))
    with pytest.raises(ValueError, match=r"levels: expected integers in \[0, 7\], got \[-1, 3\]"):
        linear_decode(torch.tensor([-1, 3]), 8)
    for decode in (linear_decode, mu_law_decode):
        with pytest.raises(TypeError, match=r"dtype: expected a floating-point torch.dtype, got torch.int64"):
            decode(torch.tensor([1]), 8, torch.long)


def test_write_wav_refuses_non_finite_and_non_float_samples(tmp_path):
    pytest.importorskip("soundfile")
    with pytest.raises(ValueError, match=r"audio: expected finite samples .* got 1 non-finite .*nan"):
        write_wav(tmp_path / "nan.wav", torch.tensor([0.0, math.nan]), 8000)  # once a full-scale click
    with pytest.raises(TypeError, match=r"audio: expected a floating-point tensor of samples .* got torch.int64"):
        write_wav(tmp_path / "levels.wav", torch.arange(256), 8000)  # levels, not samples: decode them first
    with pytest.raises(ValueError, match="sample_rate: expected an int >= 1, got True"):
        write_wav(tmp_path / "rate.wav", torch.zeros(4), True)
    assert not any(tmp_path.iterdir())


# -- the example ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_audio_example_quick(tmp_path):
    if importlib.util.find_spec("pygame") is None or importlib.util.find_spec("matplotlib") is None:
        pytest.skip("the example needs pygame (its bundled sounds) and matplotlib")
    result = load_script("examples/wavenet_audio.py").main(["--quick", "--no-progress", "--out", str(tmp_path)])
    for name in ("generated.wav", "waveforms.png", "continuation.png", "model/config.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert 0 < result["model_bits"] < 9 and 0 < result["xz -9"] < 9
    audio, rate = read_wav(tmp_path / "generated.wav")
    assert rate == 11025 and audio.shape[0] == 1


def test_one_hot_input_is_a_lookup_of_the_input_layer():
    """``one_hot=True`` embeds by index: the features plus the bias are the input 1x1 convolution of the
    one-hot vectors (the same weights, so a file saved with the one-hot product loads to the same function)."""
    torch.manual_seed(0)
    model = par.WaveNet(
        Categorical(7), length=5, residual_channels=4, skip_channels=4, num_layers=2, num_stacks=1, one_hot=True
    ).double()
    x = torch.randint(0, 7, (3, 5))
    one_hot = torch.nn.functional.one_hot(x, 7).double().transpose(1, 2)  # (N, K, T)
    looked_up = model.embed(x).transpose(1, 2) + model.input.bias[:, None]  # (N, R, T)
    torch.testing.assert_close(looked_up, model.input(one_hot), rtol=0, atol=1e-15)


# -- defects the hypothesis suite (tests/test_bad_input.py) found -----------------------------------


def test_half_precision_audio_is_quantised_in_float32():
    """In float16, ``mu * |x|`` overflowed at ``K = 2 ** 16`` (a full-scale sample became level INT64_MIN),
    ``K / 2`` could not even be multiplied in (``K = 2 ** 17``), and level 65535 decoded to inf."""
    x = torch.tensor([-1.0, -0.3, 0.0, 0.9, 1.0])
    for k in (2**16, 2**17):
        for encode in (mu_law_encode, linear_encode):
            assert torch.equal(encode(x.half(), k), encode(x.half().float(), k))
        assert encode(torch.zeros(0, dtype=torch.float16), k).shape == (0,)
    for decode in (mu_law_decode, linear_decode):
        levels = torch.tensor([0, 1000, 65535])
        torch.testing.assert_close(decode(levels, 2**16, torch.float16), decode(levels, 2**16).half())
    assert mu_law_decode(torch.tensor([65535]), 2**16, torch.float16).item() == 1.0


def test_small_integer_levels_are_checked_exactly():
    """int8 level 50 against 300 levels was compared in int8 (the bound wrapped to 43) and refused."""
    levels = torch.tensor([50, 120])
    for decode in (mu_law_decode, linear_decode):
        assert torch.equal(decode(levels.to(torch.int8), 300), decode(levels, 300))
    model = _wavenet(head=Categorical(300), residual_channels=4, skip_channels=4)
    assert next(generate_stream(model, 2, prefix=levels[None].to(torch.int8), progress=False)).shape == (1, 2)


def test_the_file_name_and_subtype_are_checked_before_anything_is_written(tmp_path):
    """soundfile's own errors named no argument, and the file was created before them."""
    pytest.importorskip("soundfile")
    model = _wavenet(head=Categorical(8), residual_channels=4, skip_channels=4)
    with pytest.raises(ValueError, match=r"^subtype: expected one of .*PCM_16.* for a WAV file, got 'PCM16'"):
        write_wav(tmp_path / "a.wav", torch.zeros(4), 8000, subtype="PCM16")
    with pytest.raises(TypeError, match=r"^subtype: expected a soundfile subtype name such as 'PCM_16', got int"):
        stream_to_wav(model, tmp_path / "b.wav", 4, 8000, subtype=16, progress=False)
    with pytest.raises(ValueError, match=r"^path: expected a file name ending in .wav"):
        write_wav(tmp_path / "c", torch.zeros(4), 8000)
    with pytest.raises(ValueError, match=r"^audio: expected shape \(frames,\) or \(channels, frames\) with channels"):
        write_wav(tmp_path / "d.wav", torch.zeros(0, 4), 8000)  # libsndfile: "Format not recognised"
    assert not any(tmp_path.iterdir())


def test_streaming_more_steps_than_a_transformer_takes_names_num_samples():
    """The error named ``length``, which ``generate_stream`` does not take."""
    model = par.Transformer(Categorical(3), max_length=4, d_model=8, num_heads=2, num_layers=1)
    with pytest.raises(ValueError, match=r"^num_samples: 2 prefix steps and 3 new steps are more than Transformer"):
        generate_stream(model, 3, prefix=torch.zeros(1, 2, dtype=torch.long), progress=False)
