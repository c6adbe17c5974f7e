"""Per-head properties: exact normalisation with several channels, float32 stability, tempering."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy import stats

from pyro_autoregressive.heads import (
    Bernoulli,
    Categorical,
    DiscreteHead,
    DiscretizedLogisticMixture,
    Head,
    Normal,
    NormalMixture,
    head_from_config,
)

DISCRETE = [Categorical(3), Bernoulli(), DiscretizedLogisticMixture(3, num_classes=5)]
CONTINUOUS = [Normal(), NormalMixture(3)]


def discrete_values(head: Head, channels: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(head.num_classes), repeat=channels)))


@pytest.mark.parametrize("head", DISCRETE, ids=repr)
@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("temperature", [1.0, 0.4, 2.5])
def test_discrete_normalised(head, channels, temperature):
    torch.manual_seed(0)
    params = 3.0 * torch.randn(4, head.num_params(channels), dtype=torch.float64)
    values = discrete_values(head, channels)  # (M, C)
    log_p = head.tempered(temperature).log_prob(params[:, None], values[None])  # (4, M)
    assert torch.logsumexp(log_p, -1).abs().max() < 1e-12


@pytest.mark.parametrize("head", CONTINUOUS, ids=repr)
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_continuous_normalised(head, channels, temperature):
    torch.manual_seed(0)
    params = torch.randn(head.num_params(channels), dtype=torch.float64)
    axis = torch.linspace(-40, 40, 4001 if channels == 1 else 1201, dtype=torch.float64)
    grid = torch.cartesian_prod(*[axis] * channels).reshape(-1, channels)
    log_p = head.tempered(temperature).log_prob(params.expand(len(grid), -1), grid)
    mass = torch.logsumexp(log_p, 0) + channels * math.log(axis[1] - axis[0])
    assert mass.abs() < 1e-6


@pytest.mark.parametrize("head", DISCRETE, ids=repr)
@pytest.mark.parametrize("channels", [1, 3])
def test_discrete_samples_match(head, channels):
    """Chi-square at significance 1e-3 with a fixed seed (see test_properties.py for the policy)."""
    torch.manual_seed(1)
    params = 1.5 * torch.randn(head.num_params(channels), dtype=torch.float64)
    values = discrete_values(head, channels)
    probs = head.log_prob(params.expand(len(values), -1), values).exp()
    n = 20000
    draws = head.sample(params.expand(n, -1), channels)
    index = (draws[:, None, :] == values[None]).all(-1).float().argmax(-1)
    observed = torch.bincount(index, minlength=len(values)).double()
    keep = probs * n >= 5
    obs = torch.cat([observed[keep], observed[~keep].sum().reshape(1)])
    exp = torch.cat([probs[keep] * n, (probs[~keep] * n).sum().reshape(1)])
    obs, exp = obs[exp > 0], exp[exp > 0]
    assert stats.chisquare(obs.numpy(), exp.numpy()).pvalue > 1e-3


@pytest.mark.parametrize("head", CONTINUOUS, ids=repr)
def test_continuous_channel_coupling_samples(head):
    """Two coupled channels: channel 0 against its marginal CDF, channel 1 against its conditional."""
    torch.manual_seed(2)
    params = torch.randn(head.num_params(2), dtype=torch.float64)
    n = 4000
    draws = head.sample(params.expand(n, -1), 2)
    axis = torch.linspace(-40, 40, 8001, dtype=torch.float64)
    step = (axis[1] - axis[0]).item()
    # marginal density of channel 0 by integrating the joint over channel 1
    grid = torch.cartesian_prod(axis[::8], axis[::8])
    joint = head.log_prob(params.expand(len(grid), -1), grid).exp().reshape(len(axis[::8]), -1)
    marginal = joint.sum(1) * step * 8
    cdf = torch.cumsum(marginal, 0) * step * 8
    u0 = torch.from_numpy(__import__("numpy").interp(draws[:, 0].numpy(), axis[::8].numpy(), cdf.numpy()))
    assert stats.kstest(u0.numpy(), "uniform").pvalue > 1e-3
    # sampling channel 1 given a fixed channel 0 matches the conditional joint(x0, .) / marginal(x0)
    x0 = draws[:1, 0]
    prefix = x0.expand(n, 1)
    ones = torch.stack([head.sample_channel(params.expand(n, -1), prefix, 2) for _ in range(1)])[0]
    pairs = torch.stack([x0.expand(len(axis)), axis], -1)
    cond = head.log_prob(params.expand(len(axis), -1), pairs).exp()
    cond_cdf = torch.cumsum(cond, 0) / cond.sum()
    u1 = __import__("numpy").interp(ones.numpy(), axis.numpy(), cond_cdf.numpy())
    assert stats.kstest(u1, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("num_classes", [2, 256, 65536])
def test_logistic_mixture_float32_stable_on_whole_support(num_classes):
    head = DiscretizedLogisticMixture(2, num_classes=num_classes)
    channels = 3
    values = torch.tensor([[0, 0, 0], [num_classes - 1] * 3, [num_classes // 2, 0, num_classes - 1]])
    for loc, log_scale in itertools.product([-50.0, -1.0, 0.0, 1.0, 50.0], [-20.0, -7.0, 0.0, 5.0]):
        p = torch.zeros(head.num_params(channels))
        m = head.num_components
        p[m : m + channels * m] = loc
        p[m + channels * m : m + 2 * channels * m] = log_scale
        params = p.expand(len(values), -1).clone().requires_grad_(True)
        log_p = head.log_prob(params, values)
        assert torch.isfinite(log_p).all(), (loc, log_scale, log_p)
        (grad,) = torch.autograd.grad(log_p.sum(), params)
        assert torch.isfinite(grad).all(), (loc, log_scale)


@pytest.mark.parametrize("head", [Categorical(4), Bernoulli()], ids=repr)
def test_histogram_heads_float32_extreme_logits(head):
    params = torch.tensor([[-1e4, 1e4, 0.0, 80.0], [90.0, -90.0, 1e-3, -1e4]])[:, : head.num_params(1)]
    for v in range(head.num_classes):
        value = torch.full((2, 1), v)
        log_p = head.log_prob(params, value)
        exact = head.log_prob(params.double(), value)  # the float64 reference
        representable = exact > -1e3  # a 1e4 logit gap is -1e4 nats: float32 may give -inf there, nothing else
        assert torch.isfinite(log_p[representable]).all(), (v, log_p, exact)
        torch.testing.assert_close(log_p[representable].double(), exact[representable], rtol=1e-5, atol=1e-3)
        assert (log_p[~representable] < -1e3).all(), (v, log_p, exact)
    draws = head.sample(params, 1)
    assert ((draws >= 0) & (draws < head.num_classes)).all()


@pytest.mark.parametrize("head", CONTINUOUS, ids=repr)
def test_normal_heads_float32_stable(head):
    params = torch.full((3, head.num_params(2)), -30.0)  # log-scales far below the clamp
    values = torch.tensor([[0.0, 0.0], [1e3, -1e3], [-5.0, 5.0]])
    assert torch.isfinite(head.log_prob(params, values)).all()


def test_temperature_semantics():
    """Categorical logits / T; logistic mixture: logits / T and scales x T."""
    torch.manual_seed(0)
    cat = Categorical(5)
    params = torch.randn(1, 5, dtype=torch.float64)
    values = torch.arange(5)[:, None]
    expected = torch.log_softmax(params[0] / 0.5, -1)
    torch.testing.assert_close(cat.tempered(0.5).log_prob(params.expand(5, -1), values), expected)
    normal = Normal()
    p = torch.tensor([[0.3, math.log(2.0)]], dtype=torch.float64)
    x = torch.tensor([[1.1]], dtype=torch.float64)
    reference = torch.distributions.Normal(0.3, 2.0 * 3.0).log_prob(x[0, 0])
    torch.testing.assert_close(normal.tempered(3.0).log_prob(p, x)[0], reference)


def test_logistic_mixture_matches_direct_formula():
    """One channel, one component, an interior bin: sigma(upper) - sigma(lower)."""
    head = DiscretizedLogisticMixture(1, num_classes=5)
    loc, log_scale = 0.2, math.log(0.3)
    params = torch.tensor([[0.0, loc, log_scale]], dtype=torch.float64)
    for v in range(5):
        centre = 2 * v / 4 - 1
        upper = 1.0 if v == 4 else 1.0 / (1.0 + math.exp(-(centre + 0.25 - loc) / 0.3))
        lower = 0.0 if v == 0 else 1.0 / (1.0 + math.exp(-(centre - 0.25 - loc) / 0.3))
        got = head.log_prob(params, torch.tensor([[v]])).exp().item()
        assert abs(got - (upper - lower)) < 1e-12


@pytest.mark.parametrize("head", DISCRETE + CONTINUOUS, ids=repr)
def test_config_round_trip(head):
    assert head_from_config(head.config()) == head
    with pytest.raises(ValueError, match="type"):
        head_from_config({"type": "Nope"})


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Categorical(1), "num_classes"),
        (lambda: DiscretizedLogisticMixture(0), "num_components"),
        (lambda: DiscretizedLogisticMixture(2, num_classes=1), "num_classes"),
        (lambda: NormalMixture(0), "num_components"),
    ],
)
def test_bad_head_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("head", CONTINUOUS, ids=repr)
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_channel_cdf_is_the_integral_of_the_density(head, temperature):
    """d/dv P(X_1 <= v | x_0) equals p(x_0, v) / p(x_0), and P(X_0 <= v) integrates p(v)."""
    torch.manual_seed(3)
    params = torch.randn(head.num_params(2), dtype=torch.float64)
    x0 = torch.tensor([0.4], dtype=torch.float64)
    v = torch.linspace(-3, 3, 7, dtype=torch.float64)
    h = 1e-5
    cdf = lambda t: head.tempered(temperature).channel_cdf(params.expand(len(t), -1), x0.expand(len(t), 1), t, 2)  # noqa: E731
    density = (cdf(v + h) - cdf(v - h)) / (2 * h)
    axis = torch.linspace(-60, 60, 120001, dtype=torch.float64)
    tempered = head.tempered(temperature)

    def joint(t):
        return tempered.log_prob(params.expand(len(t), -1), torch.stack([x0.expand(len(t)), t], -1)).exp()

    marginal_x0 = joint(axis).sum() * (axis[1] - axis[0])
    torch.testing.assert_close(density, joint(v) / marginal_x0, rtol=1e-5, atol=1e-8)
    ends = cdf(torch.tensor([-1e3, 1e3], dtype=torch.float64))
    torch.testing.assert_close(ends, torch.tensor([0.0, 1.0], dtype=torch.float64), rtol=0, atol=1e-12)


COUPLED = [Normal(), NormalMixture(3), DiscretizedLogisticMixture(3, num_classes=5)]


def coupled_values(head: Head, shape: tuple[int, ...]) -> torch.Tensor:
    if isinstance(head, DiscreteHead):
        return torch.randint(0, head.num_classes, shape)
    return 2.0 * torch.randn(shape, dtype=torch.float64)


@pytest.mark.parametrize("head", COUPLED, ids=repr)
@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_channel_log_prob_is_the_chain_rule(head, channels, temperature):
    """The channel conditionals sum to ``log_prob``, and the one of channel ``c`` reads no channel ``> c``."""
    torch.manual_seed(4)
    params = 2.0 * torch.randn(16, head.num_params(channels), dtype=torch.float64)
    value = coupled_values(head, (16, channels))
    conditionals = head.tempered(temperature).channel_log_prob(params, value)  # (16, C)
    assert conditionals.shape == (16, channels)
    torch.testing.assert_close(
        conditionals.sum(-1), head.tempered(temperature).log_prob(params, value), rtol=1e-13, atol=1e-13
    )
    for c in range(channels - 1):  # change the later channels: channel c's conditional must not move
        other = value.clone()
        other[:, c + 1 :] = coupled_values(head, (16, channels - c - 1))
        assert torch.equal(
            head.tempered(temperature).channel_log_prob(params, other)[:, : c + 1], conditionals[:, : c + 1]
        )


@pytest.mark.parametrize("temperature", [1.0, 0.4])
def test_discrete_channel_conditionals_are_normalised(temperature):
    """Every channel's conditional mass sums to 1 over its levels, for every prefix (three channels)."""
    head = DiscretizedLogisticMixture(3, num_classes=5)
    torch.manual_seed(5)
    params = 3.0 * torch.randn(4, 1, head.num_params(3), dtype=torch.float64)
    values = discrete_values(head, 3)  # (M, 3): every prefix, every level
    conditionals = head.tempered(temperature).channel_log_prob(params, values[None])  # (4, M, 3)
    for c in range(3):
        # group the values by their prefix (channels <= c), each level of channel c once per group
        groups = conditionals[..., c].reshape(4, 5**c, 5, 5 ** (2 - c))[..., 0]  # (4, prefixes, levels)
        assert torch.logsumexp(groups, -1).abs().max() < 1e-12
