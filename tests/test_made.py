"""What is specific to MADE: the connectivity its masks give, its order, its cost."""

from __future__ import annotations

import pytest
import torch

import pyro_autoregressive as par
from pyro_autoregressive.heads import Categorical, Normal


def dependence(model: par.MADE) -> torch.Tensor:
    """(D, D) matrix: [d, e] = 1 if the parameters of dimension d depend on input dimension e."""
    torch.manual_seed(0)
    x = model.condition().sample((3,))
    h = model.embed(x).detach().requires_grad_(True)
    params = model.network(h, None, None)  # (N, D, P) in step order
    rows = []
    for d in range(model.event_size):
        step = model.order.index(d)
        (g,) = torch.autograd.grad(params[:, step].sum(), h, retain_graph=True)
        rows.append(g.abs().sum((0, 2)) > 0)
    return torch.stack(rows)


@pytest.mark.parametrize("one_hot", [False, True])
@pytest.mark.parametrize("order", [None, [2, 0, 3, 1], "random"])
def test_connectivity_is_the_full_order(order, one_hot):
    """Every dimension depends on exactly the dimensions generated before it (wide enough layers)."""
    torch.manual_seed(1)
    model = par.MADE(4, Categorical(3), hidden_sizes=(16, 16), order=order, one_hot=one_hot).double()
    rank = torch.empty(4, dtype=torch.long)
    rank[torch.tensor(model.order)] = torch.arange(4)
    expected = rank[:, None] > rank[None, :]
    assert torch.equal(dependence(model), expected)


def test_order_is_the_generation_order():
    model = par.MADE(3, Normal(), hidden_sizes=(8,), order=[2, 0, 1])
    layout = model.layout()
    x = torch.tensor([[10.0, 20.0, 30.0]])
    assert layout.to_steps(x)[0, :, 0].tolist() == [30.0, 10.0, 20.0]
    assert torch.equal(layout.from_steps(layout.to_steps(x)), x)


def test_random_order_is_kept_by_save_load(tmp_path):
    torch.manual_seed(3)
    model = par.MADE(6, Categorical(3), hidden_sizes=(8,), order="random")
    assert sorted(model.order) == list(range(6))
    loaded = par.load(par.save(model, tmp_path / "m"))
    assert loaded.order == model.order
    x = model.condition().sample((4,))
    torch.testing.assert_close(loaded.condition().log_prob(x), model.condition().log_prob(x))


def test_masks_are_buffers_applied_functionally():
    model = par.MADE(3, Categorical(3), hidden_sizes=(8,))
    layer = model.layers[0]
    assert any(name.endswith("mask") for name, _ in model.named_buffers())
    assert not any(name.endswith("mask") for name, _ in model.named_parameters())
    # weights under the mask are untouched (not zeroed in place): the mask is applied in forward
    assert (layer.weight[layer.mask == 0] != 0).any()


@pytest.mark.parametrize("cache", [True, False])
def test_sampling_takes_one_pass_per_dimension(cache):
    model = par.MADE(5, Categorical(3), hidden_sizes=(8,))
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    model.condition().sample((2,), cache=cache)
    assert len(calls) == 5


def test_context_changes_every_conditional():
    torch.manual_seed(0)
    model = par.MADE(3, Categorical(4), hidden_sizes=(8,), context_size=2).double()
    x = torch.tensor([1, 2, 3])
    a = model.condition(torch.zeros(2, dtype=torch.float64)).step_log_prob(x)
    b = model.condition(torch.ones(2, dtype=torch.float64)).step_log_prob(x)
    assert (a != b).all()
