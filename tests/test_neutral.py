"""The neutral start: ``model.reset_to_neutral_()`` makes every conditional the head's neutral distribution.

Checked over the whole case table (every model family and head) against references
written independently of the library's heads (``torch.distributions`` and the
logistic CDF): after the reset, every step's parameters are the neutral ones for any
values and contexts, ``log_prob`` is the independent neutral log-density, and cached
samples follow it (goodness of fit at significance 1e-3, seeds fixed per case, the
policy of ``test_properties.py``).
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats
from test_properties import ALPHA, _gof_pvalue
from torch import nn

import pyro_autoregressive as par
from pyro_autoregressive.heads import Bernoulli, Categorical, DiscreteHead, DiscretizedLogisticMixture, NormalMixture

from cases import Case
from conftest import all_values, build, condition, make_context, seed_for


def random_values(model: par.AutoregressiveModel, case: Case, batch: int) -> torch.Tensor:
    """``(batch, *event_shape)`` values of the support (reals spread well beyond N(0, 1))."""
    shape = (batch, *model.layout(case.length).event_shape)
    if isinstance(model.head, DiscreteHead):
        return torch.randint(0, model.head.num_classes, shape, device=model.device)
    return 3.0 * torch.randn(shape, dtype=model.dtype, device=model.device)


def neutral_reference(head: par.heads.Head, x: torch.Tensor, event_dims: int, spread: float = 0.0) -> torch.Tensor:
    """The neutral log-density of ``x``, elements independent, written without the library's heads."""
    if isinstance(head, Categorical):
        per_value = torch.full(x.shape, -math.log(head.num_classes), dtype=torch.float64, device=x.device)
    elif isinstance(head, Bernoulli):
        per_value = torch.distributions.Bernoulli(probs=torch.tensor(0.5, dtype=torch.float64)).log_prob(x.double())
    elif isinstance(head, DiscretizedLogisticMixture):
        # one unit-scale logistic at 0 on the levels' [-1, 1] scale; the edge bins take the tails
        k, half = head.num_classes, 1.0 / (head.num_classes - 1)
        centre = 2.0 * x.double() / (k - 1) - 1.0
        upper = torch.where(x == k - 1, torch.ones_like(centre), torch.sigmoid(centre + half))
        lower = torch.where(x == 0, torch.zeros_like(centre), torch.sigmoid(centre - half))
        per_value = torch.log(upper - lower)
    else:
        assert isinstance(head, NormalMixture)
        m = head.num_components
        locs = spread * torch.linspace(-1.0, 1.0, m, dtype=torch.float64) if m > 1 else torch.zeros(1).double()
        components = torch.distributions.Normal(locs.to(x.device), 1.0).log_prob(x.double().unsqueeze(-1))
        per_value = torch.logsumexp(components - math.log(m), dim=-1)
    return per_value.flatten(-event_dims).sum(-1)


def test_params_are_neutral_at_every_step(case: Case, device):
    """Whatever the values and the contexts, every step's parameters are ``head.neutral_params``."""
    model = build(case, device).reset_to_neutral_()
    torch.manual_seed(seed_for("neutral-params", case.id))
    x = random_values(model, case, 4)
    context, local = make_context(model, case, (4,))
    params = model(x, context, local)  # (N, S, P), the teacher-forced pass
    neutral = model.head.neutral_params(model.layout(case.length).channels).to(params)
    torch.testing.assert_close(params, neutral.expand_as(params), rtol=0, atol=0)


def test_log_prob_is_the_neutral_density(case: Case, device):
    model = build(case, device).reset_to_neutral_()
    torch.manual_seed(seed_for("neutral-log-prob", case.id))
    d = condition(model, case, (5,))
    x = random_values(model, case, 5)
    expected = neutral_reference(model.head, x, len(d.event_shape))
    torch.testing.assert_close(d.log_prob(x), expected, rtol=1e-12, atol=1e-10)


def test_samples_follow_the_neutral_distribution(case: Case, device):
    """Cached sampling: discrete events by a chi-square over every value against the reference's
    probabilities; real ones by Kolmogorov-Smirnov on ``Phi(x)`` (the marginals, N(0, 1)) and on the
    standardised sum of the event (``N(0, 1)`` only if the elements are uncorrelated)."""
    model = build(case, device).reset_to_neutral_()
    d = condition(model, case)
    torch.manual_seed(seed_for("neutral-samples", case.id))
    n = 4000
    x = d.sample((n,))
    if isinstance(model.head, DiscreteHead):
        values = all_values(d)
        probs = neutral_reference(model.head, values, len(d.event_shape)).exp()
        index = (x.reshape(n, 1, -1) == values.reshape(1, len(values), -1)).all(-1).float().argmax(-1)
        pvalue = _gof_pvalue(torch.bincount(index, minlength=len(values)), probs)
        assert pvalue > ALPHA, f"samples are not the neutral distribution (p = {pvalue:.2e})"
    else:
        flat = x.reshape(n, -1).double().cpu()
        marginal = stats.kstest(flat.flatten().numpy(), "norm").pvalue
        total = stats.kstest((flat.sum(-1) / math.sqrt(flat.shape[-1])).numpy(), "norm").pvalue
        assert min(marginal, total) > ALPHA, f"samples are not N(0, I) (p = {marginal:.2e}, {total:.2e})"


def test_the_output_layers_still_learn(case: Case, device):
    """The hidden layers keep their weights: the zeroed output layers get a non-zero gradient."""
    model = build(case, device).reset_to_neutral_()
    torch.manual_seed(seed_for("neutral-grad", case.id))
    d = condition(model, case, (8,))
    (-d.log_prob(random_values(model, case, 8)).sum()).backward()
    weight_grads = [layer.weight.grad for layer in model.output_layers()]
    assert any(g is not None and g.abs().sum() > 0 for g in weight_grads)


@pytest.mark.parametrize("spread", [0.0, 0.3])
def test_mixture_spread(spread):
    """``spread`` sets the components' locations; log_prob is then the spread mixture's density exactly,
    and only a spread mixture's components separate under Adam (identical ones get identical updates)."""
    torch.manual_seed(0)
    model = par.MADE(2, NormalMixture(2), hidden_sizes=(8,)).double().reset_to_neutral_(spread=spread)
    x = 3.0 * torch.randn(6, 2, dtype=torch.float64)
    torch.testing.assert_close(model.condition().log_prob(x), neutral_reference(model.head, x, 1, spread))
    data = torch.cat([torch.randn(64, 2) - 2.0, torch.randn(64, 2) + 2.0]).double()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):
        optimizer.zero_grad()
        (-model.condition().log_prob(data).mean()).backward()
        optimizer.step()
    loc = model(data[:4])[..., 2:4]  # (N, D, M): the two components' locations ([logits, locs, log-scales])
    separated = (loc[..., 0] - loc[..., 1]).abs().max()
    assert (separated > 0.3) if spread else (separated == 0)


def test_neutral_params_of_every_head():
    assert torch.equal(Categorical(4).neutral_params(3), torch.zeros(12, dtype=torch.float64))
    assert torch.equal(Bernoulli().neutral_params(2), torch.zeros(2, dtype=torch.float64))
    # Normal on a 3-channel pixel: 3 locations, 3 log-scales, 3 coupling coefficients, all 0
    assert torch.equal(par.heads.Normal().neutral_params(3), torch.zeros(9, dtype=torch.float64))
    params = DiscretizedLogisticMixture(3, num_classes=8).neutral_params(1, spread=0.5)
    torch.testing.assert_close(params, torch.tensor([0, 0, 0, -0.5, 0, 0.5, 0, 0, 0], dtype=torch.float64))


@pytest.mark.parametrize(
    ("head", "spread", "error", "match"),
    [
        (Categorical(3), 0.1, ValueError, "spread: .*Categorical.* no mixture components"),
        (Bernoulli(), 1.0, ValueError, "spread: .*Bernoulli"),
        (NormalMixture(2), -0.1, ValueError, "spread: expected a finite float >= 0"),
        (NormalMixture(2), float("nan"), ValueError, "spread"),
        (NormalMixture(2), "0.1", TypeError, "spread"),
    ],
)
def test_bad_spread(head, spread, error, match):
    with pytest.raises(error, match=match):
        par.MADE(2, head, hidden_sizes=(4,)).reset_to_neutral_(spread=spread)


def test_a_network_that_names_no_output_layers():
    class Opaque(par.AutoregressiveModel, abstract=True):  # not registered for load
        def __init__(self) -> None:
            super().__init__(Categorical(2))
            self.linear = nn.Linear(1, 2)

    with pytest.raises(NotImplementedError, match="output_layers: Opaque"):
        Opaque().reset_to_neutral_()
