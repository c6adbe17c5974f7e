"""Generic property tests over the case table (tests/cases.py).

Statistical tests (seed policy): every random draw comes from a seed fixed per
test and case (``seed_for``), so each test is deterministic, and a failure is a
real discrepancy, never bad luck to be re-rolled. Goodness of fit is Pyro's
truncated-multinomial chi-square (``pyro.distributions.testing.gof``) at
significance 1e-3 on enumerable spaces, over the values whose count has a
variance above 1 (the rarest values are left out, as that test requires);
continuous events go through the Rosenblatt transform and a Kolmogorov-Smirnov
test of uniformity (unbinned, so more powerful than binning the uniforms). A
sampler that draws from the wrong distribution gives p-values many orders of
magnitude lower.
"""

from __future__ import annotations

import math

import pyro
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyro import poutine
from pyro.distributions.testing.gof import multinomial_goodness_of_fit
from pyro.infer import SVI, Predictive, Trace_ELBO
from scipy import stats

import pyro_autoregressive as par
from pyro_autoregressive.heads import DiscreteHead

from cases import CASES, Case
from conftest import all_values, build, condition, make_context, real_line, seed_for, vary_step

SAMPLE_SHAPES = [(), (2,), (2, 3)]
ALPHA = 1e-3


def is_discrete(model: par.AutoregressiveModel) -> bool:
    return isinstance(model.head, DiscreteHead)


def total_log_mass(d: par.AutoregressiveDistribution) -> torch.Tensor:
    """log of the total probability by enumeration, ``batch_shape`` (discrete heads)."""
    values = all_values(d)
    shape = (len(values),) + (1,) * len(d.batch_shape) + tuple(d.event_shape)
    return torch.logsumexp(d.log_prob(values.reshape(shape)), dim=0)


def step_log_masses_2d(
    model: par.AutoregressiveModel, d: par.AutoregressiveDistribution, x: torch.Tensor, start: int = 0
) -> torch.Tensor:
    """log of the integral of every step's joint density over its two channels, on a 2-d grid.

    The step's head parameters come from the teacher-forced pass (the same as
    ``log_prob`` uses); by causality (tested separately) they do not depend on the
    step's own values, so every step integrating to one is the joint integrating to one.
    """
    axis = torch.linspace(-40.0, 40.0, 1201, dtype=x.dtype, device=x.device)
    grid = torch.cartesian_prod(axis, axis)  # (M, 2)
    with torch.no_grad():
        params = model(x.reshape(-1, *d.event_shape), *d._flat_contexts(d.batch_shape))  # (N, S, P)
        masses = []
        for i in range(start, d.num_steps):
            for p in params[:, i]:
                log_p = d.head.log_prob(p.expand(len(grid), -1), grid)  # (M,)
                masses.append(torch.logsumexp(log_p, 0) + 2 * math.log(axis[1] - axis[0]))
    return torch.stack(masses)


def channel_log_masses(
    model: par.AutoregressiveModel, d: par.AutoregressiveDistribution, x: torch.Tensor, start: int = 0
) -> torch.Tensor:
    r"""log of the integral of every channel's conditional density, ``(num_conditionings,)``.

    For continuous heads whose steps hold several channels, coupled by the head
    (``head.channel_log_prob``). Why checking one channel at a time is a complete
    argument that the joint integrates to one:

    1. the step's terms that ``step_log_prob`` sums are the head's ``log_prob`` of
       the teacher-forced parameters (asserted here, on the events of ``x``), and
       the head's ``log_prob`` is the sum of its channel conditionals
       :math:`\log p(x_{i,c} \mid x_{i,<c}; \theta_i)` (asserted here, and in
       test_heads.py for random parameters, where the conditional of channel ``c``
       is also shown to read no channel ``> c``);
    2. the parameters :math:`\theta_i` of step ``i`` depend on no channel of step
       ``i`` nor on any later step (test_causality: these heads do not set
       ``couples_channels``, so every channel of step ``i`` is unseen) -- without
       this, integrating each conditional with :math:`\theta_i` held fixed would
       miss a network that reads the pixel it predicts;
    3. every conditional integrates to one in :math:`x_{i,c}`, checked here on a
       20001-node rule over the whole real line, for every step ``>= start`` and
       channel, at the conditioning values (earlier steps, earlier channels) of
       every event in ``x``.

    By 1 and 3, :math:`\int p(x_i \mid x_{<i})\, dx_i = 1` (Fubini, innermost
    channel first); by 2 that holds with :math:`\theta_i` a function of
    :math:`x_{<i}` alone, so integrating the steps last to first gives one.
    """
    nodes, log_w = real_line(20001, x.dtype, x.device)
    event = tuple(d.event_shape)
    flat = x.reshape((-1,) + event)  # (N, *E)
    steps = d.layout.to_steps(flat)  # (N, S, C)
    head, channels = d.head, d.layout.channels
    masses = []
    with torch.no_grad():
        params = model(flat, *d._flat_contexts(torch.Size(x.shape[: x.dim() - len(event)])))  # (N, S, P)
        conditionals = head.channel_log_prob(params, steps)  # (N, S, C)
        terms = d.step_log_prob(x).reshape(-1, d.num_steps)  # (N, S)
        torch.testing.assert_close(conditionals.sum(-1)[:, start:], terms[:, start:], rtol=1e-12, atol=1e-12)
        for i in range(start, d.num_steps):
            for c in range(channels):
                values = steps[:, i].expand(len(nodes), -1, -1).clone()  # (M, N, C)
                values[..., c] = nodes[:, None]
                log_p = head.channel_log_prob(params[:, i].expand(len(nodes), -1, -1), values)
                masses.append(torch.logsumexp(log_p[..., c] + log_w[:, None], dim=0))  # (N,)
    return torch.cat(masses)


def conditional_log_masses(d: par.AutoregressiveDistribution, x: torch.Tensor, start: int = 0) -> torch.Tensor:
    """log of the integral of each step's conditional density given the steps before it in ``x``.

    For continuous heads with one value per step. With causality (tested
    separately), every conditional integrating to one is the joint integrating to one.
    """
    nodes, log_w = real_line(20001, x.dtype, x.device)
    masses = []
    for i in range(start, d.num_steps):
        with torch.no_grad():  # M copies of the event: keep no autograd graph
            terms = d.step_log_prob(vary_step(d, x, i, nodes))[..., i]  # (M, *B)
        masses.append(torch.logsumexp(terms + log_w.reshape((-1,) + (1,) * (terms.dim() - 1)), dim=0))
    return torch.stack(masses)


# -- shapes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample_shape", SAMPLE_SHAPES, ids=str)
@pytest.mark.parametrize("batch_shape", [(), (2,)], ids=str)
def test_shape_contract(case: Case, device, sample_shape, batch_shape):
    model = build(case, device)
    d = condition(model, case, batch_shape)
    event = tuple(model.layout(case.length).event_shape)
    assert d.batch_shape == batch_shape and d.event_shape == event
    x = d.sample(sample_shape)
    assert x.shape == sample_shape + batch_shape + event
    assert x.dtype == (torch.long if is_discrete(model) else model.dtype)
    assert x.device.type == device.type
    assert not x.is_inference(), "sample() must return an ordinary tensor (it samples in inference mode)"
    assert d.support.check(x).all()
    assert d.log_prob(x).shape == sample_shape + batch_shape
    assert d.step_log_prob(x).shape == sample_shape + batch_shape + (d.num_steps,)
    # a value with fewer leading dims broadcasts against the batch
    assert d.log_prob(x[(0,) * (len(sample_shape) + len(batch_shape))]).shape == batch_shape


def test_expand(case: Case, device):
    model = build(case, device)
    d = condition(model, case, (2,))
    e = d.expand((3, 2))
    assert e.batch_shape == (3, 2) and e._validate_args == d._validate_args
    x = e.sample()
    assert x.shape == (3, 2) + tuple(d.event_shape)
    torch.testing.assert_close(e.log_prob(x)[1], d.log_prob(x[1]))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sample_shape=st.lists(st.integers(1, 3), max_size=2).map(tuple),
    batch_shape=st.lists(st.integers(1, 3), max_size=2).map(tuple),
    value_dims=st.integers(0, 2),
)
def test_shapes_hypothesis(device, sample_shape, batch_shape, value_dims):
    case = next(c for c in CASES if c.id == "made-categorical-context-order")
    model = build(case, device)
    d = condition(model, case, batch_shape)
    x = d.sample(sample_shape)
    assert x.shape == sample_shape + batch_shape + tuple(d.event_shape)
    assert d.log_prob(x).shape == sample_shape + batch_shape
    # add size-1 leading dims: the result broadcasts with the batch
    y = x.reshape((1,) * value_dims + x.shape) if value_dims else x
    expected = torch.broadcast_shapes(y.shape[: y.dim() - len(d.event_shape)], batch_shape)
    assert d.log_prob(y).shape == expected


# -- exactness ------------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_normalised(case: Case, device, temperature):
    """Discrete: logsumexp over every value == 0. Continuous: every conditional integrates to 1.

    Several continuous channels per step: every channel's conditional integrates
    to 1 (see ``channel_log_masses`` for why that, with test_causality, is the
    joint's normalisation), and two-channel steps also on a 2-d grid.
    """
    model = build(case, device)
    d = condition(model, case, (2,)).temper(temperature)
    if is_discrete(model):
        assert total_log_mass(d).abs().max().item() < 1e-6
    elif d.layout.channels == 1:
        assert conditional_log_masses(d, d.sample()).abs().max().item() < 1e-6
    else:
        # several channels per step: each channel's conditional, at 8 conditioning events drawn from the model
        assert channel_log_masses(model, d, d.sample((4,))).abs().max().item() < 1e-6
        if d.layout.channels == 2:  # and, independently of the head's factorisation, the 2-d joint
            assert step_log_masses_2d(model, d, d.sample()).abs().max().item() < 1e-6


def test_causality(case: Case, device):
    """d params_i / d input_j == 0 exactly for every step j >= i (channel blocks: j == i, c' >= c)."""
    model = build(case, device)
    layout = model.layout(case.length)
    context, local = make_context(model, case, (2,))
    x = condition(model, case, (2,)).sample()
    features = model.embed(x).detach().requires_grad_(True)  # (N, *E, F)
    params = model.network(features, context, local)  # (N, S, P)
    num_steps, channels = layout.num_steps, layout.channels
    blocks = channels if model.couples_channels else 1
    block = params.shape[-1] // blocks
    past_dependence = 0.0
    for i in range(num_steps):
        for b in range(blocks):
            (grad,) = torch.autograd.grad(params[:, i, b * block : (b + 1) * block].sum(), features, retain_graph=True)
            dependence = layout.to_steps(grad.abs().sum(-1))  # (N, S, C)
            assert dependence[:, i + 1 :].sum() == 0, f"step {i} sees a later step"
            first_unseen = b if model.couples_channels else 0
            assert dependence[:, i, first_unseen:].sum() == 0, f"step {i} sees its own value"
            past_dependence += dependence[:, :i].sum().item()
    assert past_dependence > 0, "no step depends on any earlier step: the test would be vacuous"


def _gof_pvalue(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """Pyro's chi-square on the values whose count has variance ``n p (1 - p) > 1`` (a truncated multinomial).

    Pyro's ``chi2sf`` calls ``math.gamma(dof / 2)``, which overflows past about
    340 degrees of freedom; for larger spaces the same statistic and degrees of
    freedom go to SciPy's survival function instead.
    """
    counts, probs = counts.double().cpu(), probs.detach().double().cpu()
    n = int(counts.sum())
    testable = n * probs * (1 - probs) > 1
    assert testable.sum() >= 2, "too few testable values: the test would be vacuous"
    if testable.sum() <= 300:
        return float(multinomial_goodness_of_fit(probs[testable], counts[testable], total_count=n))
    p, c = probs[testable], counts[testable]
    chi_squared = float(((c - n * p) ** 2 / (n * p * (1 - p))).sum())
    return float(stats.chi2.sf(chi_squared, int(testable.sum())))


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_samples_match_log_prob(case: Case, device, temperature):
    """Discrete: chi-square over all values. Continuous: the Rosenblatt transform.

    For real values, ``u = P(X_ic <= x_ic | x_<i, x_i,<c)`` -- the head's conditional
    CDF with the parameters of the teacher-forced pass that ``log_prob`` uses -- is
    iid uniform under exact sampling; a Kolmogorov-Smirnov test checks it. (That
    the head's CDF integrates its density is checked in test_heads.py.)
    """
    model = build(case, device)
    d = condition(model, case).temper(temperature)
    torch.manual_seed(seed_for("gof", case.id, temperature))
    if is_discrete(model):
        n = 4000
        x = d.sample((n,))
        values = all_values(d)
        probs = d.log_prob(values).exp()
        index = (x.reshape(n, 1, -1) == values.reshape(1, len(values), -1)).all(-1).float().argmax(-1)
        observed = torch.bincount(index, minlength=len(values))
        pvalue = _gof_pvalue(observed, probs)
    else:
        n = 4000
        x = d.sample((n,))
        steps = d.layout.to_steps(x)  # (n, S, C)
        with torch.no_grad():
            params = model(x, *d._flat_contexts(torch.Size((n,))))  # (n, S, P), the teacher-forced pass
        u = [
            d.head.channel_cdf(params[:, i], steps[:, i, :c], steps[:, i, c], d.layout.channels)
            for i in range(d.num_steps)
            for c in range(d.layout.channels)
        ]
        pvalue = float(stats.kstest(torch.cat(u).cpu().numpy(), "uniform").pvalue)
    assert pvalue > ALPHA, f"samples disagree with log_prob (p = {pvalue:.2e})"


def test_cached_equals_naive(case: Case, device):
    model = build(case, device)
    d = condition(model, case, (2,))
    torch.manual_seed(seed_for("cache", case.id))
    cached = d.sample((3,), cache=True)
    torch.manual_seed(seed_for("cache", case.id))
    naive = d.sample((3,), cache=False)
    if is_discrete(model):
        assert torch.equal(cached, naive)
    else:
        torch.testing.assert_close(cached, naive, rtol=1e-10, atol=1e-10)


def _state_params_check(model: par.AutoregressiveModel, d: par.AutoregressiveDistribution, x, prefix: int) -> int:
    """Walk the cached state over ``x`` as the sampling loop does; compare its head parameters with the
    teacher-forced pass at every step and channel block. Returns the number of comparisons."""
    steps = d.layout.to_steps(x)  # (N, S, C)
    context, local = d._flat_contexts(torch.Size(x.shape[: x.dim() - len(d.event_shape)]))
    with torch.no_grad():
        expected = model(x, context, local)  # (N, S, P)
    state = model.incremental_state(d.layout, context, local, x.shape[0])
    if prefix:
        state.advance_prefix(steps[:, :prefix])
    blocks = d.layout.channels if model.couples_channels else 1
    size = expected.shape[-1] // blocks
    compared = 0
    with torch.no_grad():
        for i in range(prefix, d.num_steps):
            for b in range(blocks):
                params = state.params(steps[:, i, :b] if b else None)  # as ancestral_sample asks
                seen = slice(0, (b + 1) * size)  # blocks <= b see only the channels < b of step i
                torch.testing.assert_close(
                    params[:, seen],
                    expected[:, i, seen],
                    rtol=1e-10,
                    atol=1e-10,
                    msg=lambda m, i=i, b=b: f"step {i}, channel block {b} (prefix {prefix}): {m}",
                )
                compared += 1
            state.advance(steps[:, i])
    return compared


@pytest.mark.parametrize("prefix", ["none", "one", "half"])
def test_cached_params_equal_teacher_forced(case: Case, device, prefix):
    """float64: the cached state's head parameters equal the teacher-forced pass, step by step.

    Samples can agree while parameters drift (a Gumbel argmax rarely flips), so the
    cache is checked where it could drift: at the head parameters of every step and
    channel block, also after a prefix committed with ``advance_prefix``.
    """
    model = build(case, device)
    d = condition(model, case, (3,))
    torch.manual_seed(seed_for("state", case.id))
    x = d.sample(cache=False)  # (3, *E)
    num_steps = d.num_steps
    start = {"none": 0, "one": 1, "half": num_steps // 2}[prefix]
    if start >= num_steps:
        pytest.skip("the prefix covers the event")
    assert _state_params_check(model, d, x, start) > 0


def test_every_parameter_receives_a_gradient(case: Case, device):
    """``log_prob`` reaches every parameter: no dead layer, no branch detached from the likelihood.

    Parameters that the case's tiny event cannot reach are declared in the table
    (``Case.unreached``, with the reason); they must get no gradient, so the list stays true.
    """
    model = build(case, device)
    d = condition(model, case, (16,))
    torch.manual_seed(seed_for("grad", case.id))
    x = d.sample()
    names, params = zip(*model.named_parameters(), strict=True)
    grads = torch.autograd.grad(d.log_prob(x).sum(), params, allow_unused=True)
    dead = [n for n, g in zip(names, grads, strict=True) if g is None or not g.abs().sum() > 0]
    assert dead == list(case.unreached), f"no gradient from log_prob: {dead}"


def test_step_log_prob_sums_to_log_prob(case: Case, device):
    model = build(case, device)
    d = condition(model, case, (2,))
    x = d.sample((3,))
    torch.testing.assert_close(d.step_log_prob(x).sum(-1), d.log_prob(x))


def test_temper(case: Case, device):
    model = build(case, device)
    d = condition(model, case, (2,))
    x = d.sample((4,))
    assert torch.equal(d.temper(1.0).log_prob(x), d.log_prob(x))
    torch.manual_seed(1)
    a = d.temper(1.0).sample((3,))
    torch.manual_seed(1)
    assert torch.equal(a, d.sample((3,)))
    assert not torch.allclose(d.temper(0.5).log_prob(x), d.log_prob(x))
    torch.testing.assert_close(d.temper(0.5).temper(2.0).log_prob(x), d.log_prob(x))


def test_condition_on_prefix(case: Case, device):
    model = build(case, device)
    d = condition(model, case, (2,))
    num_steps = d.num_steps
    fixed = num_steps // 2 if num_steps > 1 else 1
    prompt = d.sample()
    c = d.condition_on_prefix(prompt, fixed)
    assert c.batch_shape == d.batch_shape and c.event_shape == d.event_shape
    x = c.sample((5,))
    steps, given = c.layout.to_steps(x), c.layout.to_steps(prompt)
    assert torch.equal(steps[..., :fixed, :], given[:, :fixed, :].expand(5, -1, -1, -1))
    # log_prob sums the free steps of the original factorisation
    expected = d.step_log_prob(x)[..., fixed:].sum(-1)
    torch.testing.assert_close(c.log_prob(x), expected)
    assert (c.step_log_prob(x)[..., :fixed] == 0).all()
    # cached == naive with a prefix too
    torch.manual_seed(3)
    cached = c.sample((2,), cache=True)
    torch.manual_seed(3)
    naive = c.sample((2,), cache=False)
    torch.testing.assert_close(cached, naive, rtol=1e-10, atol=0)
    # a value that disagrees with the fixed steps is an error, not a silent answer
    if fixed:
        other = x.clone()
        flat = c.layout.to_steps(other)
        flat[..., 0, 0] = (
            (flat[..., 0, 0] + 1) % model.head.num_classes if is_discrete(model) else flat[..., 0, 0] + 1.0
        )
        with pytest.raises(ValueError, match="fixes the first"):
            c.log_prob(c.layout.from_steps(flat))


def test_prefix_completion_is_normalised(case: Case, device):
    model = build(case, device)
    d = condition(model, case, (2,))
    if d.num_steps < 2:
        pytest.skip("needs two steps")
    c = d.condition_on_prefix(d.sample(), 1)
    if is_discrete(model):
        values = all_values(d)[:, None]  # (M, 1, *E)
        keep = (c.layout.to_steps(values)[..., :1, :] == c.prefix).all(-1).all(-1)  # (M, 2)
        log_p = c.log_prob(torch.where(keep.reshape(keep.shape + (1,) * len(d.event_shape)), values, c.sample()))
        mass = torch.logsumexp(log_p.masked_fill(~keep, -math.inf), dim=0)
        assert mass.abs().max().item() < 1e-6
    elif d.layout.channels == 1:
        assert conditional_log_masses(c, c.sample(), start=1).abs().max().item() < 1e-6
    else:
        assert channel_log_masses(model, c, c.sample((2,)), start=1).abs().max().item() < 1e-6
        if d.layout.channels == 2:
            assert step_log_masses_2d(model, c, c.sample(), start=1).abs().max().item() < 1e-6


def ragged_lengths(num_steps: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Per-row prompt lengths for a batch of 3 (every case has ``num_steps >= 2``).

    ``from0``: none, all, half (the shortest is 0: every step is drawn, the prompts are
    teacher-forced through the state); ``from1``: all but one, one, all (the shortest
    is 1: one step prefilled at once, then the rest of the longer prompts step by step).
    """
    lengths = {"from0": [0, num_steps, (num_steps + 1) // 2], "from1": [num_steps - 1, 1, num_steps]}
    return {name: torch.tensor(value, device=device) for name, value in lengths.items()}


def test_ragged_prefix(case: Case, device):
    """Ragged prompts (a tensor of per-row lengths), float64, in a batch of 3.

    For every row ``b`` of length ``L[b]``: samples carry the row's prompt and
    cached == naive under one seed; ``log_prob`` is the sum of the unconditioned
    step terms ``>= L[b]`` (so every free conditional is the model's, whose
    normalisation test_normalised checks for continuous heads); discrete heads:
    ``support`` holds exactly each row's completions, and the logsumexp of
    ``log_prob`` over them (enumerated) is 0. A row of length 0 is the unconditioned distribution (the same
    draws under one seed), a row of full length has ``log_prob`` 0, and all-equal
    lengths are the int prefix exactly.
    """
    model = build(case, device)
    d = condition(model, case, (3,))
    num_steps, event_dims = d.num_steps, len(d.event_shape)
    torch.manual_seed(seed_for("ragged-prompt", case.id))
    prompt = d.sample()  # (3, *E)
    given = d.layout.to_steps(prompt)  # (3, S, C)
    tolerance = {"rtol": 0, "atol": 0} if is_discrete(model) else {"rtol": 1e-10, "atol": 1e-10}
    for name, lengths in ragged_lengths(num_steps, device).items():
        c = d.condition_on_prefix(prompt, lengths)
        assert c.batch_shape == (3,) and c.event_shape == d.event_shape
        fixed = torch.arange(num_steps, device=device) < lengths[:, None]  # (3, S)
        torch.manual_seed(seed_for("ragged", case.id, name))
        x = c.sample((2,))
        torch.manual_seed(seed_for("ragged", case.id, name))
        torch.testing.assert_close(c.sample((2,), cache=False), x, **tolerance)
        steps = c.layout.to_steps(x)  # (2, 3, S, C)
        assert torch.equal(steps[:, fixed], given[fixed].expand(2, -1, -1)), f"{name}: a prompt step was not kept"
        assert c.support.check(x).all()
        log_p = c.log_prob(x)  # (2, 3)
        assert torch.isfinite(log_p).all()
        terms = c.step_log_prob(x)
        assert (terms[:, fixed] == 0).all()
        torch.testing.assert_close(terms, d.step_log_prob(x).masked_fill(fixed, 0.0), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(log_p, terms.sum(-1))
        full = int((lengths == num_steps).nonzero()[0, 0])
        assert (log_p[:, full] == 0).all() and torch.equal(x[:, full], prompt[full].expand_as(x[:, full]))
        if name == "from0":  # row 0 draws from the start: the unconditioned distribution, the same draws
            torch.manual_seed(seed_for("ragged", case.id, name))
            torch.testing.assert_close(d.sample((2,))[:, 0], x[:, 0], **tolerance)
            torch.testing.assert_close(log_p[:, 0], d.log_prob(x)[:, 0], rtol=1e-12, atol=1e-12)
        if is_discrete(model):
            values = all_values(d)[:, None]  # (M, 1, *E)
            keep = (c.layout.to_steps(values) == given).all(-1) | ~fixed  # (M, 3, S)
            keep = keep.all(-1)  # (M, 3): the completions of each row's prompt
            assert torch.equal(c.support.check(values), keep)
            if name != "from0":  # the lengths 0, half and all are enough for the per-row mask of log_prob
                continue
            inside = keep.reshape(keep.shape + (1,) * event_dims)
            log_p = c.log_prob(torch.where(inside, values, prompt)).masked_fill(~keep, -math.inf)
            assert torch.logsumexp(log_p, dim=0).abs().max().item() < 1e-9, f"{name}: a row is not normalised"
    # all-equal lengths (a tensor, or a 0-dim one) are the int prefix exactly
    half = (num_steps + 1) // 2
    c = d.condition_on_prefix(prompt, half)
    torch.manual_seed(seed_for("ragged-equal", case.id))
    x = c.sample((2,))
    for lengths in (torch.full((3,), half, device=device), torch.tensor(half, device=device)):
        e = d.condition_on_prefix(prompt, lengths)
        torch.manual_seed(seed_for("ragged-equal", case.id))
        assert torch.equal(e.sample((2,)), x)
        assert torch.equal(e.log_prob(x), c.log_prob(x))
    # expand, sample_shape and batch_chunk carry the per-row lengths
    c = d.condition_on_prefix(prompt, ragged_lengths(num_steps, device)["from1"])
    e = c.expand((2, 3))
    y = e.sample((2,))
    assert y.shape == (2, 2, 3) + tuple(d.event_shape) and e.support.check(y).all()
    assert torch.isfinite(e.log_prob(y)).all()
    torch.manual_seed(seed_for("ragged-chunk", case.id))
    chunked = c.sample((2,), batch_chunk=3)  # a chunk per draw of the batch (the flat batch is sample-major)
    torch.manual_seed(seed_for("ragged-chunk", case.id))
    torch.testing.assert_close(chunked, torch.stack([c.sample(), c.sample()]), **tolerance)


def test_save_load_round_trip(case: Case, device, tmp_path):
    model = build(case, device)
    d = condition(model, case, (2,))
    x = d.sample((3,))
    par.save(model, tmp_path / "m")
    loaded = par.load(tmp_path / "m", map_location=device)
    assert type(loaded) is type(model) and loaded.config() == model.config()
    assert loaded.dtype == model.dtype
    context, local = d.context, d.local_context
    e = loaded.condition(context, local_context=local, length=case.length)
    torch.testing.assert_close(e.expand(d.batch_shape).log_prob(x), d.log_prob(x), rtol=0, atol=0)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]


# -- Pyro --------------------------------------------------------------------------------------------


def _pyro_model(model, case, data, context, local, subsample_size):
    pyro.module("ar", model)
    with pyro.plate("data", len(data), subsample_size=subsample_size) as idx:
        ctx = None if context is None else context[idx]
        loc = None if local is None else local[idx]
        return pyro.sample("x", model.condition(ctx, local_context=loc, length=case.length), obs=data[idx])


def test_pyro_plate_svi_trace(case: Case, device):
    pyro.clear_param_store()
    model = build(case, device, dtype=torch.float32)
    context, local = make_context(model, case, (10,))
    if is_discrete(model):
        data = condition(model, case, (10,)).sample() if context is None and local is None else None
        if data is None:
            data = model.condition(context, local_context=local, length=case.length).sample()
    else:  # standard normal data: an untrained float32 chain's own samples can run off to inf
        data = torch.randn(10, *model.layout(case.length).event_shape, device=model.device)
    trace = poutine.trace(_pyro_model).get_trace(model, case, data, context, local, 4)
    site = trace.nodes["x"]
    assert site["fn"].batch_shape == (4,) and site["value"].shape[0] == 4
    trace.compute_log_prob()
    assert site["log_prob"].shape == (4,)
    before = [p.detach().clone() for p in model.parameters()]
    svi = SVI(_pyro_model, lambda *args: None, pyro.optim.Adam({"lr": 1e-2}), Trace_ELBO())
    loss = svi.step(model, case, data, context, local, 4)
    assert math.isfinite(loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


def test_pyro_predictive(case: Case, device):
    model = build(case, device, dtype=torch.float32)
    context, local = make_context(model, case, (3,))

    def generate():
        with pyro.plate("data", 3):
            d = model.condition(context, local_context=local, length=case.length)
            return pyro.sample("x", d if d.batch_shape == (3,) else d.expand((3,)))

    samples = Predictive(generate, num_samples=2)()["x"]
    assert samples.shape == (2, 3) + tuple(model.layout(case.length).event_shape)


# -- reparameterised sampling ----------------------------------------------------------------------


def test_rsample(case: Case, device):
    model = build(case, device)
    d = condition(model, case, (2,))
    if is_discrete(model):
        assert not d.has_rsample
        with pytest.raises(NotImplementedError):
            d.rsample()
        return
    assert d.has_rsample
    torch.manual_seed(0)
    x = d.rsample((3,))
    torch.manual_seed(0)
    torch.testing.assert_close(x, d.sample((3,)))
    grads = torch.autograd.grad(x.sum(), [p for p in model.parameters()], allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # log_prob is differentiable in the value
    value = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(d.log_prob(value).sum(), value)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize("cache", [True, False])
def test_empty_batches(case: Case, device, cache):
    """A batch or sample shape with a zero follows the shape contract like any other."""
    model = build(case, device)
    event = tuple(model.layout(case.length).event_shape)
    d = condition(model, case, (2,))
    x = d.sample((3,))
    assert d.sample((0,), cache=cache).shape == (0, 2) + event
    assert d.log_prob(x[:0]).shape == (0, 2)
    assert d.step_log_prob(x[:0]).shape == (0, 2, d.num_steps)
    empty = condition(model, case, (0,))
    assert empty.batch_shape == (0,)
    assert empty.sample((2,), cache=cache).shape == (2, 0) + event
    assert empty.log_prob(x[:, :1]).shape == (3, 0)
    assert empty.condition_on_prefix(x[0, :1], 1).sample(cache=cache).shape == (0,) + event


def test_batch_chunk(case: Case, device):
    """Chunked sampling: chunk ``i`` of the flat batch draws as a separate ``sample()`` would, in turn.

    The flat batch is sample-major, so with ``batch_chunk`` equal to the batch size
    every chunk is one draw of ``sample()`` over the whole batch (its contexts
    included); a chunk at least as large as the flat batch is the unchunked sample.
    """
    model = build(case, device)
    d = condition(model, case, (2,))
    event = tuple(model.layout(case.length).event_shape)
    tolerance = {} if is_discrete(model) else {"rtol": 1e-10, "atol": 1e-10}
    prompt = d.sample()
    for dist in (d, d.condition_on_prefix(prompt, 1)):
        for cache in (True, False):
            torch.manual_seed(seed_for("chunk", case.id))
            chunked = dist.sample((3,), cache=cache, batch_chunk=2)
            torch.manual_seed(seed_for("chunk", case.id))
            separate = torch.stack([dist.sample(cache=cache) for _ in range(3)])
            torch.testing.assert_close(chunked, separate, **tolerance)
    torch.manual_seed(seed_for("chunk", case.id))
    whole = d.sample((3,), batch_chunk=6)
    torch.manual_seed(seed_for("chunk", case.id))
    torch.testing.assert_close(whole, d.sample((3,)), **tolerance)
    uneven = d.sample((3,), batch_chunk=4)  # chunks of 4 and 2
    assert uneven.shape == (3, 2) + event and uneven.dtype == whole.dtype
    assert d.support.check(uneven).all() and not uneven.is_inference()
    if d.has_rsample:
        assert d.rsample((3,), batch_chunk=4).shape == (3, 2) + event


@pytest.mark.parametrize(
    ("batch_chunk", "error"), [(0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError)]
)
def test_batch_chunk_validation(batch_chunk, error):
    d = CASES[0].model().condition(length=CASES[0].length)
    with pytest.raises(error, match="batch_chunk"):
        d.sample((2,), batch_chunk=batch_chunk)
