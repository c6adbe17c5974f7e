"""The distribution inside Pyro programs: the surface a Pyro model author uses."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Predictive, Trace_ELBO
from pyro.optim import Adam

import pyro_autoregressive as par
from pyro_autoregressive.heads import Categorical, Normal, NormalMixture


@pytest.fixture(autouse=True)
def _clean_param_store():
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


def decoder_model(decoder: par.MADE, data: torch.Tensor, latent: int = 2):
    """z ~ N(0, I); x | z ~ MADE(z): the autoregressive distribution as a likelihood given a latent."""
    pyro.module("decoder", decoder)
    with pyro.plate("data", len(data)):
        z = pyro.sample("z", dist.Normal(torch.zeros(latent), 1.0).to_event(1))
        pyro.sample("x", decoder.condition(z), obs=data)


def made_guide(encoder: par.MADE, data: torch.Tensor, latent: int = 2):
    """q(z | x) is itself an autoregressive distribution with a Normal head (rsample)."""
    pyro.module("encoder", encoder)
    with pyro.plate("data", len(data)):
        pyro.sample("z", encoder.condition(data.float()))


def test_vectorized_particles_and_guide_site():
    torch.manual_seed(0)
    decoder = par.MADE(5, Categorical(3), hidden_sizes=(8,), context_size=2)
    encoder = par.MADE(2, Normal(), hidden_sizes=(8,), context_size=5)
    data = torch.randint(0, 3, (6, 5))
    elbo = Trace_ELBO(num_particles=4, vectorize_particles=True, max_plate_nesting=1)
    svi = SVI(lambda d: decoder_model(decoder, d), lambda d: made_guide(encoder, d), Adam({"lr": 1e-2}), elbo)
    before = [p.detach().clone() for p in encoder.parameters()]
    loss = svi.step(data)
    assert torch.isfinite(torch.tensor(loss))
    # gradients reached the guide through rsample
    assert any(not torch.equal(b, p) for b, p in zip(before, encoder.parameters(), strict=True))
    guide_trace = poutine.trace(pyro.plate("particles", 4, dim=-2)(lambda: made_guide(encoder, data))).get_trace()
    assert guide_trace.nodes["z"]["value"].shape == (4, 6, 2)


def test_particles_broadcast_against_context():
    torch.manual_seed(0)
    decoder = par.MADE(5, Categorical(3), hidden_sizes=(8,), context_size=2)
    z = torch.randn(4, 6, 2)  # (particles, data, latent)
    data = torch.randint(0, 3, (6, 5))
    d = decoder.condition(z)
    assert d.log_prob(data).shape == (4, 6)
    torch.testing.assert_close(d.log_prob(data)[2], decoder.condition(z[2]).log_prob(data))


@pytest.fixture
def _restore_validation():
    """Dynamo switches torch.distributions validation off globally when it first starts."""
    before = torch.distributions.Distribution._validate_args
    yield
    torch.distributions.Distribution.set_default_validate_args(before)


@pytest.mark.usefixtures("_restore_validation")
def test_torch_compile_log_prob():
    made = par.MADE(4, Categorical(3), hidden_sizes=(8,))
    d = made.condition()
    d._validate_args = False
    x = d.sample((5,))
    # without validation (which branches on tensor values) log_prob is one graph
    compiled = torch.compile(d.log_prob, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), d.log_prob(x))
    # a compiled training loss gives the same gradients as the eager one
    loss = torch.compile(lambda: -made.condition().log_prob(x).mean(), backend="aot_eager")
    (compiled_grad,) = torch.autograd.grad(loss(), [made.layers[0].weight])
    (eager_grad,) = torch.autograd.grad(-made.condition().log_prob(x).mean(), [made.layers[0].weight])
    torch.testing.assert_close(compiled_grad, eager_grad)


def test_mask_scale_to_event_and_nested_plates():
    torch.manual_seed(0)
    made = par.MADE(3, Categorical(4), hidden_sizes=(8,), context_size=2)
    groups, items = 3, 5
    context = torch.randn(groups, 1, 2)  # one context per group, shared by its items
    data = torch.randint(0, 4, (groups, items, 3))
    mask = torch.rand(groups, items) > 0.3

    def model():
        with pyro.plate("groups", groups, dim=-2), pyro.plate("items", items, dim=-1):
            with poutine.scale(scale=2.0), poutine.mask(mask=mask):
                pyro.sample("x", made.condition(context), obs=data)

    trace = poutine.trace(model).get_trace()
    trace.compute_log_prob()
    site = trace.nodes["x"]
    assert site["fn"].batch_shape == (groups, items)
    expected = 2.0 * (made.condition(context).log_prob(data) * mask).sum()
    torch.testing.assert_close(site["log_prob_sum"], expected)
    # .mask() and .to_event() on the distribution itself
    d = made.condition(context[:, 0])  # batch (groups,)
    masked = d.mask(torch.tensor([True, False, True]))
    assert masked.log_prob(data[:, 0])[1] == 0
    whole = d.to_event(1)
    assert whole.event_shape == (groups, 3) and whole.batch_shape == ()
    torch.testing.assert_close(whole.log_prob(data[:, 0]), d.log_prob(data[:, 0]).sum())


def test_predictive_and_param_store_round_trip(tmp_path):
    torch.manual_seed(0)
    made = par.MADE(3, NormalMixture(2), hidden_sizes=(8,))

    def model(n=4):
        pyro.module("made", made)
        with pyro.plate("data", n):
            return pyro.sample("x", made.condition())

    samples = Predictive(model, num_samples=7)()["x"]
    assert samples.shape == (7, 4, 3)
    model()  # registers the parameters
    names = set(pyro.get_param_store().keys())
    assert any(name.startswith("made$$$") for name in names)
    pyro.get_param_store().save(tmp_path / "params.pt")
    x = made.condition().sample((2,))
    before = made.condition().log_prob(x)
    with torch.no_grad():
        for p in made.parameters():
            p.add_(1.0)
    assert not torch.allclose(made.condition().log_prob(x), before)
    pyro.get_param_store().load(tmp_path / "params.pt")
    pyro.module("made", made, update_module_params=True)
    torch.testing.assert_close(made.condition().log_prob(x), before)
