"""Numerical robustness: NaN parameters, low precision (bfloat16, float16, autocast), extreme parameters.

The dtype policy is written in ``docs/api.md``: heads compute in float32 at
least whatever the parameters' dtype; a bfloat16/float16 network or autocast
only rounds the network's own arithmetic.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from pyro.distributions.testing.gof import multinomial_goodness_of_fit

import pyro_autoregressive as par
from pyro_autoregressive.distribution import TEMPERATURE_RANGE
from pyro_autoregressive.heads import (
    Bernoulli,
    Categorical,
    DiscreteHead,
    DiscretizedLogisticMixture,
    Head,
    Normal,
    NormalMixture,
)

ALPHA = 1e-3
HEADS = [Categorical(5), Bernoulli(), DiscretizedLogisticMixture(3, num_classes=256), Normal(), NormalMixture(3)]
#: head parameters far beyond what a trained network emits (a diverging one does)
EXTREME = (-1e4, -30.0, 0.0, 30.0, 1e4)


def extreme_params(head: Head, channels: int) -> torch.Tensor:
    """``(M, P)`` parameter vectors: random combinations of the :data:`EXTREME` values and of ``N(0, 3^2)``."""
    generator = torch.Generator().manual_seed(0)
    p = head.num_params(channels)
    picks = torch.randint(len(EXTREME), (64, p), generator=generator)
    extreme = torch.tensor(EXTREME, dtype=torch.float64)[picks]
    constant = torch.tensor(EXTREME, dtype=torch.float64)[:, None].expand(-1, p)  # every parameter alike
    return torch.cat([extreme, constant, 3.0 * torch.randn(16, p, generator=generator, dtype=torch.float64)])


def support_values(head: Head, channels: int) -> torch.Tensor:
    """``(V, C)``: every value of a discrete head (edge bins included; a grid for 256 levels), reals else."""
    if isinstance(head, DiscreteHead):
        levels = torch.arange(head.num_classes)
        if channels > 1:
            levels = levels[torch.tensor([0, 1, 2, 127, 128, 253, 254, 255])] if head.num_classes == 256 else levels
        return torch.tensor(list(itertools.product(levels.tolist(), repeat=channels)))
    reals = torch.tensor([-1e4, -1e2, -1.0, 0.0, 0.5, 1e2, 1e4], dtype=torch.float64)
    return torch.cartesian_prod(*[reals] * channels).reshape(-1, channels)


# -- NaN parameters: an error, never a value --------------------------------------------------------------


@pytest.mark.parametrize("head", HEADS, ids=repr)
def test_nan_parameters_are_an_error_never_a_value(head):
    params = torch.randn(4, head.num_params(2))
    params[2, 0] = float("nan")
    with pytest.raises(ValueError, match="params: expected no NaN"):
        head.sample(params, 2)


@pytest.mark.parametrize("head", HEADS, ids=repr)
@pytest.mark.parametrize("cache", [True, False])
def test_a_diverged_network_cannot_be_sampled(head, cache):
    torch.manual_seed(0)
    made = par.MADE(3, head, hidden_sizes=(8,))
    with torch.no_grad():
        made.direct.weight.fill_(float("nan"))  # every step's parameters are NaN
    with pytest.raises(ValueError, match="params: the network returned NaN head parameters at step 0"):
        made.condition().sample((2,), cache=cache)


@pytest.mark.parametrize(
    "dtype, log_scale", [(torch.bfloat16, 0.0), (torch.float16, 12.0), (torch.float16, 1e4)], ids=str
)
def test_logistic_samples_stay_in_the_support_in_low_precision(dtype, log_scale):
    """bfloat16 rounds 65535 to 65536; float16 overflows exp(log_scale) (inf * 0 = NaN before)."""
    torch.manual_seed(0)
    head = DiscretizedLogisticMixture(1, num_classes=65536)
    params = torch.zeros(20000, head.num_params(1), dtype=dtype)
    params[:, 0] = 1.0  # location at the top edge: half the mass on the last level
    params[:, 1] = log_scale
    x = head.sample(params, 1)
    assert x.min() >= 0 and x.max() <= 65535
    if log_scale == 0.0:
        assert (x == 65535).any()


# -- low precision: heads compute in float32 at least -------------------------------------------------------


def test_gumbel_noise_is_unbiased_in_bfloat16():
    """Uniform bf16 logits over 256 classes: the draws are uniform (bf16 noise gave 1206 vs 450 per class)."""
    torch.manual_seed(0)
    counts = torch.bincount(Categorical(256).sample(torch.zeros(200_000, 256, dtype=torch.bfloat16), 1).flatten())
    assert multinomial_goodness_of_fit(torch.full((256,), 1 / 256, dtype=torch.float64), counts.double()) > ALPHA


@pytest.mark.parametrize("head", HEADS, ids=repr)
def test_half_precision_parameters_give_float32_results(head):
    """The head's result from bf16/fp16 parameters is its float32 result on the same (rounded) parameters."""
    params = extreme_params(head, 1)[:, None]  # (M, 1, P)
    values = support_values(head, 1)[None]  # (1, V, 1)
    for dtype in (torch.bfloat16, torch.float16):
        rounded = params.to(dtype)
        log_p = head.log_prob(rounded, values.to(dtype) if not isinstance(head, DiscreteHead) else values)
        assert log_p.dtype == torch.float32
        expected = head.log_prob(
            rounded.float(), values.to(dtype).float() if not isinstance(head, DiscreteHead) else values
        )
        torch.testing.assert_close(log_p, expected, rtol=0, atol=0, equal_nan=True)


def test_float16_encodes_every_level():
    """Level 65535 in float16 overflowed the encoding (65504 is float16's largest) and gave NaN."""
    head = DiscretizedLogisticMixture(1, num_classes=65536)
    levels = torch.tensor([0, 1, 32767, 65534, 65535])
    encoded = head.encode(levels, torch.float16)
    assert torch.isfinite(encoded).all() and encoded[-1] == 1.0 and encoded[0] == -1.0
    params = torch.zeros(len(levels), head.num_params(1), dtype=torch.float16)
    assert torch.isfinite(head.log_prob(params, levels[:, None])).all()
    made = par.MADE(3, head, hidden_sizes=(8,)).half()
    assert torch.isfinite(made.condition().log_prob(torch.tensor([0, 65535, 65534]))).all()


def test_log_prob_under_autocast_is_float32():
    """Under bf16 autocast the per-step terms are computed and summed in float32."""
    torch.manual_seed(0)
    made = par.MADE(64, Categorical(17), hidden_sizes=(64,))
    x = made.condition().sample((50,))
    reference = made.condition().log_prob(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        log_p = made.condition().log_prob(x)
        steps = made.condition().step_log_prob(x)
    assert log_p.dtype == steps.dtype == torch.float32
    torch.testing.assert_close(steps.sum(-1), log_p)
    # what remains is the network's own rounding of its parameters (the policy's tolerance)
    assert ((log_p - reference).abs() / reference.abs()).max() < 2e-2


@pytest.mark.parametrize("head", HEADS, ids=repr)
def test_bfloat16_models_sample_and_score(head):
    torch.manual_seed(0)
    made = par.MADE(4, head, hidden_sizes=(16,))
    reference = made.condition()
    x = reference.sample((20,))
    low = par.MADE(4, head, hidden_sizes=(16,))
    low.load_state_dict(made.state_dict())
    low = low.to(torch.bfloat16)
    d = low.condition()
    y = d.sample((20,))
    assert y.dtype == (torch.long if isinstance(head, DiscreteHead) else torch.bfloat16)
    assert d.support.check(y).all()
    value = x if isinstance(head, DiscreteHead) else x.to(torch.bfloat16)
    log_p = d.log_prob(value)
    assert log_p.dtype == torch.float32
    torch.testing.assert_close(log_p, reference.log_prob(value.to(x.dtype)), rtol=2e-2, atol=0.1)


def test_float16_weights_with_a_continuous_head_are_refused():
    made = par.MADE(4, Normal(), hidden_sizes=(8,)).half()
    with pytest.raises(ValueError, match="model: float16 weights are not supported with the continuous head"):
        made.condition()


# -- every head: log_prob and its gradient finite on the whole support -------------------------------------


@pytest.mark.parametrize("head", HEADS, ids=repr)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("autocast", [False, True], ids=["float32", "bf16-autocast"])
@pytest.mark.parametrize("temperature", [TEMPERATURE_RANGE[0], 1.0, TEMPERATURE_RANGE[1]], ids=str)
def test_log_prob_and_gradient_finite_everywhere(head, channels, autocast, temperature):
    """Every value of the support (edge bins too) under extreme logits, locations and scales.

    Under autocast the parameters reach the head in bfloat16, as a network run
    under it emits them; temperatures at both ends of the allowed range.
    """
    values = support_values(head, channels)  # (V, C)
    params = extreme_params(head, channels).float()
    if autocast:
        params = params.to(torch.bfloat16)
    params.requires_grad_(True)
    value = values if isinstance(head, DiscreteHead) else values.float().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        log_p = head.tempered(temperature).log_prob(params[:, None], value[None])  # (M, V)
    assert log_p.dtype == torch.float32
    assert torch.isfinite(log_p).all()
    grads = torch.autograd.grad(log_p.sum(), [params] if isinstance(head, DiscreteHead) else [params, value])
    assert all(torch.isfinite(g).all() for g in grads)
    # and draws from the same parameters stay in the support (coupled real channels multiply
    # values of up to e^80 by unbounded coefficients: those may overflow, so one channel there)
    torch.manual_seed(0)
    x = head.tempered(temperature).sample(params.detach(), channels)
    if isinstance(head, DiscreteHead):
        assert x.min() >= 0 and x.max() < head.num_classes
    elif channels == 1:
        assert torch.isfinite(x).all()
