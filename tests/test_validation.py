"""Bad input gets a clear error naming the argument, the expected and the received."""

from __future__ import annotations

import numpy as np
import pyro
import pytest
import torch

import pyro_autoregressive as par
from pyro_autoregressive.heads import Categorical, Normal

from conftest import forge_weights


@pytest.fixture
def discrete():
    torch.manual_seed(0)
    return par.MADE(4, Categorical(5), hidden_sizes=(8,), context_size=3)


@pytest.fixture
def continuous():
    torch.manual_seed(0)
    return par.MADE(4, Normal(), hidden_sizes=(8,))


def test_wrong_event_shape(discrete):
    d = discrete.condition(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"value: expected shape \(\*batch, 4\).*got \(2, 5\)"):
        d.log_prob(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"value: expected shape"):
        d.log_prob(torch.tensor(1))


def test_batch_does_not_broadcast(discrete):
    d = discrete.condition(torch.zeros(2, 3))
    with pytest.raises(
        ValueError, match=r"value: expected leading dims that broadcast against batch_shape \(2,\), got \(3,\)"
    ):
        d.log_prob(torch.zeros(3, 4, dtype=torch.long))


def test_values_are_promoted_as_torch_does(discrete, continuous):
    """Integer-valued floats and bools for discrete heads, any real dtype for continuous ones."""
    d = discrete.condition(torch.zeros(3))
    x = torch.tensor([0, 4, 2, 1])
    torch.testing.assert_close(d.log_prob(x.float()), d.log_prob(x))
    torch.testing.assert_close(d.log_prob(x.double()), d.log_prob(x))
    b = par.MADE(4, par.heads.Bernoulli(), hidden_sizes=(8,)).condition()
    y = torch.tensor([0, 1, 1, 0])
    torch.testing.assert_close(b.log_prob(y.bool()), b.log_prob(y))
    # a float32 value for a float64 model is converted (the result is float64)
    c64 = par.MADE(4, Normal(), hidden_sizes=(8,)).double().condition()
    v = torch.tensor([0.5, -1.0, 2.0, 0.25])
    assert c64.log_prob(v).dtype == torch.float64
    torch.testing.assert_close(c64.log_prob(v), c64.log_prob(v.double()))
    torch.testing.assert_close(
        c64.log_prob(torch.tensor([1, 0, 2, 3])), c64.log_prob(torch.tensor([1.0, 0, 2, 3]).double())
    )
    # a float64 value for a float32 model: the head scores it in float64, as torch would
    c = continuous.condition()
    assert c.log_prob(v.double()).dtype == torch.float64
    torch.testing.assert_close(c.log_prob(v.double()).float(), c.log_prob(v))


def test_bad_values_are_value_errors(discrete, continuous):
    d = discrete.condition(torch.zeros(3))
    with pytest.raises(ValueError, match=r"value: expected integers in \[0, 4\] .* got values that are not integers"):
        d.log_prob(torch.tensor([0.0, 0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"value: expected integers in \[0, 4\] .* got NaN or inf"):
        d.log_prob(torch.tensor([0.0, float("nan"), 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"value: expected a torch.Tensor, got list"):
        continuous.condition().log_prob([0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"value: expected a real dtype .* got torch.complex64"):
        continuous.condition().log_prob(torch.zeros(4, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"value: expected a real dtype .* got torch.bool"):
        continuous.condition().log_prob(torch.zeros(4, dtype=torch.bool))


def test_outside_support(discrete):
    d = discrete.condition(torch.zeros(3))
    with pytest.raises(ValueError, match=r"value: expected integers in \[0, 4\] .* got values in \[0, 5\]"):
        d.log_prob(torch.tensor([0, 1, 2, 5]))
    with pytest.raises(ValueError, match=r"got values in \[-1, 2\]"):
        d.log_prob(torch.tensor([0, -1, 2, 1]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite(continuous, bad):
    with pytest.raises(ValueError, match="value: expected finite values, got NaN or inf"):
        continuous.condition().log_prob(torch.tensor([0.0, bad, 0.0, 0.0]))


def test_wrong_device(continuous):
    with pytest.raises(ValueError, match=r"value: expected a tensor on cpu .* got meta"):
        continuous.condition().log_prob(torch.zeros(4, device="meta"))
    with pytest.raises(ValueError, match=r"context: expected a tensor on cpu .* got meta"):
        par.MADE(4, Normal(), hidden_sizes=(8,), context_size=2).condition(torch.zeros(2, device="meta"))


def test_context_errors(discrete, continuous):
    with pytest.raises(ValueError, match=r"context: expected a tensor of shape \(\*batch, 3\), got None"):
        discrete.condition()
    with pytest.raises(ValueError, match=r"context: expected shape \(\*batch, 3\), got \(2, 4\)"):
        discrete.condition(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"context: MADE was built with context_size=0 and takes none, got \(2,\)"):
        continuous.condition(torch.zeros(2))
    with pytest.raises(TypeError, match=r"context: expected dtype torch.float32 .* got torch.float64"):
        discrete.condition(torch.zeros(3, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"context: expected a torch.Tensor or None, got list"):
        discrete.condition([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="context: expected finite values"):
        discrete.condition(torch.tensor([0.0, float("nan"), 0.0]))


def test_arguments_the_model_cannot_take(discrete):
    with pytest.raises(TypeError, match=r"length: MADE has a fixed event size \(4\), got length=7"):
        discrete.condition(torch.zeros(3), length=7)
    with pytest.raises(ValueError, match=r"local_context: MADE was built with local_context_channels=0"):
        discrete.condition(torch.zeros(3), local_context=torch.zeros(1, 4))


def test_distribution_method_arguments(discrete, continuous):
    d = discrete.condition(torch.zeros(3))
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="temperature: expected a finite float > 0"):
            d.temper(bad)
    with pytest.raises(ValueError, match=r"num_steps: expected an int in \[0, 4\], got 5"):
        d.condition_on_prefix(d.sample(), 5)
    with pytest.raises(NotImplementedError, match="rsample: the head Categorical"):
        d.rsample()


def test_tempered_temperature_stays_where_results_are_finite(discrete, continuous):
    """temper(1e-200).temper(1e-200) gave temperature 0.0 and NaN; temper(1e30) infinite samples."""
    d = discrete.condition(torch.zeros(3))
    with pytest.raises(ValueError, match=r"temperature: expected the tempered temperature \(1 x 1e-200 = 1e-200\)"):
        d.temper(1e-200)
    for bad in (1e-300, 1e-7, 1e7, 1e30):
        with pytest.raises(ValueError, match=r"in \[1e-06, 1e\+06\], where log_prob, its gradient and samples"):
            d.temper(bad)
        with pytest.raises(ValueError, match="temperature: expected the tempered temperature"):
            continuous.condition().temper(bad)
    with pytest.raises(ValueError, match=r"\(0.001 x 0.0001 = 1e-07\)"):
        d.temper(1e-3).temper(1e-4)  # each factor is fine, the product is not
    x = d.sample((3,))
    for t in (1e-6, 1e6):
        assert torch.isfinite(d.temper(t).log_prob(x)).all()
        assert torch.isfinite(continuous.condition().temper(t).sample((3,))).all()
    assert d.temper(1e3).temper(1e-3).temperature == pytest.approx(1.0)


def test_prefix_cannot_shrink(discrete):
    d = discrete.condition(torch.zeros(3))
    c = d.condition_on_prefix(d.sample(), 3)
    with pytest.raises(ValueError, match="num_steps: this distribution already fixes 3 steps, got 1"):
        c.condition_on_prefix(c.sample(), 1)


@pytest.mark.parametrize(
    ("num_steps", "error", "match"),
    [
        (torch.tensor([1, 2, 3]), ValueError, r"^num_steps: expected a shape that broadcasts against the batch shape "),
        (
            torch.ones(2, 1, 3, dtype=torch.long),
            ValueError,
            r"^num_steps: expected a shape .* \(2,\).* got \(2, 1, 3\)",
        ),
        (
            torch.tensor([1.0, 2.0]),
            TypeError,
            r"^num_steps: expected a tensor of ints in \[0, 4\] .* got dtype torch.float32",
        ),
        (torch.tensor([True, False]), TypeError, r"^num_steps: expected a tensor .* got dtype torch.bool"),
        (
            torch.tensor([1, 5]),
            ValueError,
            r"^num_steps: expected a tensor of ints in \[0, 4\] .* got values in \[1, 5\]",
        ),
        (
            torch.tensor([-1, 2]),
            ValueError,
            r"^num_steps: expected a tensor of ints in \[0, 4\] .* got values in \[-1, 2\]",
        ),
        (torch.tensor([1, 2], device="meta"), ValueError, r"^num_steps: expected a tensor on cpu .* got meta"),
    ],
)
def test_ragged_prefix_arguments(discrete, num_steps, error, match):
    d = discrete.condition(torch.zeros(2, 3))
    with pytest.raises(error, match=match):
        d.condition_on_prefix(d.sample(), num_steps)


def test_ragged_prefix_extends_and_validates(discrete):
    """Conditioning again: no row may fix fewer steps; the value must carry each row's prompt."""
    d = discrete.condition(torch.zeros(2, 3))
    x = d.sample()
    c = d.condition_on_prefix(x, torch.tensor([3, 1]))
    assert repr(c).endswith("prefix_steps=1 to 3 (per row))")
    with pytest.raises(ValueError, match=r"num_steps: this distribution already fixes 1 to 3 \(per row\) steps, got 2"):
        c.condition_on_prefix(x, 2)
    with pytest.raises(ValueError, match=r"already fixes 1 to 3 \(per row\) steps, got 1 to 2 \(per row\), fewer"):
        c.condition_on_prefix(x, torch.tensor([2, 1]))
    with pytest.raises(ValueError, match=r"num_steps: this distribution already fixes 2 steps, got 0 to 4 .* fewer"):
        d.condition_on_prefix(x, 2).condition_on_prefix(x, torch.tensor([4, 0]))
    y = x.clone()
    y[1, 2] = (y[1, 2] + 1) % 5  # row 1 fixes only its step 0: free to differ
    e = c.condition_on_prefix(y, torch.tensor([3, 4]))
    assert e.prefix_lengths.tolist() == [3, 4] and torch.equal(e.sample()[1], y[1])
    assert d.condition_on_prefix(x, 1).condition_on_prefix(x, torch.tensor([1, 4])).prefix_lengths.tolist() == [1, 4]
    assert c.condition_on_prefix(x, 3).prefix_lengths is None  # an int covering every row: a plain prefix
    y[0, 2] = (y[0, 2] + 1) % 5  # row 0 fixes steps 0..2
    with pytest.raises(ValueError, match=r"value: this distribution fixes the first 1 to 3 \(per row\) steps"):
        c.condition_on_prefix(y, 4)
    assert c.support.check(y).tolist() == [False, True]
    with pytest.raises(ValueError, match=r"value: this distribution fixes the first 1 to 3 \(per row\) steps"):
        c.log_prob(y)
    # lengths broadcast against the batch, and may extend it (as value does)
    assert d.condition_on_prefix(x, torch.tensor(2)).batch_shape == (2,)
    f = d.condition_on_prefix(x, torch.tensor([[0], [4], [2]], dtype=torch.int8))
    assert f.batch_shape == (3, 2) and f.prefix_lengths.dtype == torch.long
    assert torch.equal(f.sample()[1], x)
    # a ragged prompt is checked even with validation off (it is fed to the network)
    g = discrete.condition(torch.zeros(2, 3))
    g._validate_args = False
    bad = x.clone()
    bad[0, 3] = 7
    with pytest.raises(ValueError, match="value: expected integers"):
        g.condition_on_prefix(bad, torch.tensor([1, 2]))


def test_constructor_errors():
    with pytest.raises(ValueError, match="event_size: expected an int >= 1, got 0"):
        par.MADE(0, Categorical(3))
    with pytest.raises(ValueError, match=r"order: expected a permutation of 0..2, got \[0, 0, 1\]"):
        par.MADE(3, Categorical(3), order=[0, 0, 1])
    with pytest.raises(ValueError, match="order: expected None, a permutation or 'random'"):
        par.MADE(3, Categorical(3), order="reverse")
    with pytest.raises(TypeError, match=r"head: expected a pyro_autoregressive\.heads\.Head, got str"):
        par.MADE(3, "categorical")
    with pytest.raises(ValueError, match="one_hot: needs a discrete head"):
        par.MADE(3, Normal(), one_hot=True)
    with pytest.raises(ValueError, match="context_size: expected an int >= 0, got -1"):
        par.MADE(3, Normal(), context_size=-1)


def test_validation_can_be_switched_off(discrete):
    d = discrete.condition(torch.zeros(3))
    d._validate_args = False
    # no check runs then: validating inputs is the caller's responsibility
    assert d.log_prob(torch.zeros(4, dtype=torch.long)).shape == ()


@pytest.mark.parametrize("head", [Categorical(5), par.heads.Bernoulli(), par.heads.DiscretizedLogisticMixture(2, 5)])
def test_with_validation_off_a_value_outside_the_support_has_probability_zero(head):
    """Bernoulli gave +261.8 for the value 12; floats were truncated; a bad index could crash."""
    torch.manual_seed(0)
    made = par.MADE(4, head, hidden_sizes=(8,))
    with torch.no_grad():
        made.direct.weight.mul_(100.0)  # large logits: a made-up mass would be far from 0
    d = made.condition()
    d._validate_args = False
    x = d.sample((3,))
    bad = x.clone()
    bad[0, 1], bad[1, 2], bad[2, 3] = 12, -1, head.num_classes
    steps = d.step_log_prob(bad)
    assert (steps[0, 1] == -float("inf")) and (steps[1, 2] == -float("inf")) and (steps[2, 3] == -float("inf"))
    assert (d.log_prob(bad) == -float("inf")).all()
    half = x.double()
    half[:, 0] += 0.5
    assert (d.log_prob(half) == -float("inf")).all()  # not truncated to an integer
    torch.testing.assert_close(d.log_prob(x.double()), d.log_prob(x))  # integer-valued floats are fine
    # a prefix is checked even with validation off: it is fed to the network
    with pytest.raises(ValueError, match="value: expected integers"):
        d.condition_on_prefix(bad[0], 2)


def test_with_validation_off_via_pyro(discrete):
    pyro.enable_validation(False)
    try:
        d = par.MADE(4, par.heads.Bernoulli(), hidden_sizes=(8,)).condition()
        assert not d._validate_args
        assert d.log_prob(torch.tensor([12, 0, 0, 0])) == -float("inf")
    finally:
        pyro.enable_validation(True)


# -- Pyro/torch conventions ---------------------------------------------------------------------------


def test_has_rsample_(discrete, continuous):
    """Pyro's ``has_rsample_(False)`` (detached samples for a continuous head) raised AttributeError."""
    c = continuous.condition()
    assert c.has_rsample
    assert c.has_rsample_(False) is c and not c.has_rsample
    assert not c.expand((2,)).has_rsample  # kept by expand
    assert c.has_rsample_(True).has_rsample
    d = discrete.condition(torch.zeros(3))
    assert d.has_rsample_(False).has_rsample is False
    with pytest.raises(ValueError, match=r"has_rsample: the head Categorical.* is discrete"):
        d.has_rsample_(True)
    with pytest.raises(ValueError):
        c.has_rsample_(1)


def test_expand_checks_the_batch_shape_as_torch_does(discrete, continuous):
    """``d.expand((3,)).expand((5,))`` succeeded without a context; torch raises RuntimeError."""
    with pytest.raises(RuntimeError):
        torch.distributions.Normal(0.0, 1.0).expand((3,)).expand((5,))
    for d in (continuous.condition(), discrete.condition(torch.zeros(3))):
        e = d.expand((3,))
        for bad in ((5,), (), (3, 5), (2, 4)):
            with pytest.raises(RuntimeError, match=r"batch_shape: cannot expand batch_shape \(3,\) to"):
                e.expand(bad)
        assert e.expand((2, 3)).batch_shape == (2, 3)
        assert e.expand((1, 2, 3)).expand((4, 2, 3)).batch_shape == (4, 2, 3)
    assert discrete.condition(torch.zeros(1, 3)).expand((4,)).batch_shape == (4,)


def test_support_is_a_dependent_property():
    """``AutoregressiveDistribution.support`` is a ``Dependent`` constraint (its event_dim is the model's)."""
    from torch.distributions import constraints

    cls_support = par.AutoregressiveDistribution.support
    assert constraints.is_dependent(cls_support)
    with pytest.raises(NotImplementedError):
        cls_support.event_dim  # noqa: B018 - torch's protocol for a shape that depends on the instance
    with pytest.raises(NotImplementedError, match="infer_shapes"):
        par.AutoregressiveDistribution.infer_shapes(context=(3, 2))
    d = par.MADE(4, Categorical(3), hidden_sizes=(8,)).condition()
    assert d.support.event_dim == 1 and d.support.is_discrete
    image = par.PixelCNN((1, 2, 2), Normal(), hidden_channels=4, num_layers=1).condition()
    assert image.support.event_dim == 3 and not image.support.is_discrete


def test_prefix_support_agrees_with_validation(discrete):
    d = discrete.condition(torch.zeros(2, 3))
    x = d.sample()
    c = d.condition_on_prefix(x, 2)
    y = x.clone()
    y[1, 0] = (y[1, 0] + 1) % 5
    assert c.support.check(x).all()
    assert c.support.check(y).tolist() == [True, False]
    assert d.support.check(y).all()
    with pytest.raises(ValueError, match="fixes the first 2 steps"):
        c.log_prob(y)
    z = x.clone()
    z[:, 3] = (z[:, 3] + 1) % 5  # a free step may differ
    assert c.support.check(z).all()
    assert c.support.event_dim == 1 and c.support.is_discrete


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32])
def test_any_integer_dtype_is_accepted(discrete, dtype):
    d = discrete.condition(torch.zeros(3))
    x = torch.tensor([0, 4, 2, 1])
    torch.testing.assert_close(d.log_prob(x.to(dtype)), d.log_prob(x))


# -- configs and files -------------------------------------------------------------------------------


def test_every_constructor_argument_is_in_the_config():
    """Configs are recorded from the constructor call: no argument can be forgotten by save/load."""
    import inspect

    from cases import CASES

    for case in CASES:
        model = case.model()
        config = model.config()
        assert set(config) - {"type"} == set(inspect.signature(type(model)).parameters), case.id
        assert type(model)(**{k: v for k, v in _rebuilt(config).items() if k != "type"}).config() == config


def _rebuilt(config):
    return {k: par.heads.head_from_config(v) if k == "head" else v for k, v in config.items()}


def test_random_order_is_saved_as_the_permutation_drawn(tmp_path):
    torch.manual_seed(0)
    model = par.MADE(6, par.heads.Categorical(3), hidden_sizes=(8,), order="random")
    assert model.config()["order"] == model.order != list(range(6))
    loaded = par.load(par.save(model, tmp_path / "m"))
    assert loaded.order == model.order


class MADE(par.MADE):
    """A user's class with the library's name: it must never stand in for the library's MADE."""


def test_a_users_class_cannot_replace_a_library_class(tmp_path):
    library = par.MADE(3, par.heads.Categorical(3), hidden_sizes=(4,))
    assert type(par.load(par.save(library, tmp_path / "a"))) is par.MADE
    mine = MADE(3, par.heads.Categorical(3), hidden_sizes=(4,))
    assert mine.config()["type"] == f"{__name__}.MADE"
    assert type(par.load(par.save(mine, tmp_path / "b"))) is MADE


def test_abstract_bases_are_not_loadable():
    from pyro_autoregressive.model import MODEL_REGISTRY

    assert "AutoregressiveModel" not in MODEL_REGISTRY
    with pytest.raises(ValueError, match="head config: expected a head 'type'"):
        par.heads.head_from_config({"type": "CoupledMixture", "num_components": 2})
    with pytest.raises(ValueError, match="head config: expected a head 'type'"):
        par.heads.head_from_config({"type": "Head"})


def test_an_unsaveable_argument_fails_at_save_naming_it(tmp_path):
    model = par.MADE(3, par.heads.Categorical(3), hidden_sizes=(4,))
    model._init_arguments["order"] = object()  # as a constructor taking an arbitrary object would record it
    with pytest.raises(TypeError, match="order: a constructor argument must be JSON-serialisable"):
        par.save(model, tmp_path / "m")


@pytest.mark.parametrize("family", ["pixelcnn", "made"])
def test_masks_are_derived_never_read_from_a_file(tmp_path, family):
    """A weights file whose masks are all ones (or any masks) cannot open the model's view of the future."""
    from safetensors.torch import load_file

    torch.manual_seed(1)
    if family == "pixelcnn":
        model = par.PixelCNN((1, 2, 2), par.heads.Categorical(3), hidden_channels=4, num_layers=1).double()
    else:
        model = par.MADE(3, par.heads.Categorical(3), hidden_sizes=(8,)).double()
    path = par.save(model, tmp_path / "m")
    weights = load_file(path / "model.safetensors")
    assert not [name for name in weights if name.endswith("mask")], "masks are not saved"
    masks = {name: torch.ones_like(b) for name, b in model.named_buffers() if name.endswith("mask")}
    assert masks
    forge_weights(path, {**weights, **masks})  # a hostile file (its checksum forged too), or one of format 1
    loaded = par.load(path)
    for name, buffer in loaded.named_buffers():
        assert torch.equal(buffer, dict(model.named_buffers())[name])
    d = loaded.condition()
    values = torch.cartesian_prod(*[torch.arange(3)] * d.event_shape.numel()).reshape(-1, *d.event_shape)
    assert abs(torch.logsumexp(d.log_prob(values), 0).item()) < 1e-9


def test_weights_that_do_not_fit_the_config_are_a_clear_error(tmp_path):
    from safetensors.torch import load_file

    path = par.save(par.MADE(3, par.heads.Categorical(3), hidden_sizes=(4,)), tmp_path / "m")
    weights = load_file(path / "model.safetensors")
    forge_weights(path, {k: v for k, v in weights.items() if k != "direct.weight"})
    with pytest.raises(ValueError, match=r"do not fit the MADE .*missing \['direct.weight'\]"):
        par.load(path)


_INT_ARGUMENTS = {
    "MADE": (
        lambda **kw: par.MADE(**{"event_size": 3, "head": Categorical(3), "hidden_sizes": (4,), **kw}),
        ["event_size", "context_size"],
    ),
    "PixelCNN": (
        lambda **kw: par.PixelCNN(
            **{"image_shape": (1, 3, 3), "head": Categorical(3), "hidden_channels": 4, "num_layers": 1, **kw}
        ),
        ["hidden_channels", "num_layers", "kernel_size", "context_size", "local_context_channels"],
    ),
    "GatedPixelCNN": (
        lambda **kw: par.GatedPixelCNN(
            **{"image_shape": (1, 3, 3), "head": Categorical(3), "hidden_channels": 4, "num_layers": 1, **kw}
        ),
        ["hidden_channels", "num_layers", "kernel_size", "first_kernel_size"],
    ),
    "PixelCNNPlusPlus": (
        lambda **kw: par.PixelCNNPlusPlus(
            **{
                "image_shape": (1, 2, 2),
                "num_components": 1,
                "num_classes": 4,
                "hidden_channels": 2,
                "num_resnet": 1,
                "num_hierarchies": 1,
                **kw,
            }
        ),
        ["num_components", "num_classes", "hidden_channels", "num_resnet", "num_hierarchies"],
    ),
    "WaveNet": (
        lambda **kw: par.WaveNet(
            **{
                "head": Categorical(3),
                "length": 4,
                "residual_channels": 2,
                "skip_channels": 2,
                "num_layers": 1,
                "num_stacks": 1,
                **kw,
            }
        ),
        ["length", "residual_channels", "skip_channels", "num_layers", "num_stacks", "kernel_size", "hop_length"],
    ),
    "Transformer": (
        lambda **kw: par.Transformer(
            **{"head": Categorical(3), "max_length": 4, "d_model": 8, "num_heads": 2, "num_layers": 1, **kw}
        ),
        ["max_length", "d_model", "num_heads", "num_layers", "mlp_ratio", "coupling_hidden"],
    ),
}


@pytest.mark.parametrize("family", list(_INT_ARGUMENTS))
def test_int_arguments_are_checked_alike(family):
    """A bool or a float is a TypeError, a NumPy integer is an int, an out-of-range value a ValueError."""
    import numpy as np

    build, names = _INT_ARGUMENTS[family]
    for name in names:
        for bad in (True, 2.0, "2"):
            with pytest.raises(TypeError, match=rf"^{name}: expected an int"):
                build(**{name: bad})
        with pytest.raises(ValueError, match=rf"^{name}: expected"):
            build(**{name: -1})
    good = {name: np.int64(value) for name, value in build().config().items() if name in names}
    model = build(**good)
    assert all(type(v) is int for k, v in model.config().items() if k in names)


@pytest.mark.parametrize("family", ["made", "pixelcnn", "gatedpixelcnn", "wavenet"])
def test_files_of_format_1_load_exactly(family):
    """Files written by the previous format (masks saved, the old layer layouts) load to the same function.

    ``tests/data/format1`` was written by the library before this format (commit 445c0b2): float64
    models with their masks, GatedPixelCNN's per-kind layer lists, WaveNet's fused residual + skip 1x1
    convolutions; ``check.safetensors`` holds values and their log_prob under that version.
    """
    from pathlib import Path

    from safetensors.torch import load_file

    path = Path(__file__).parent / "data" / "format1" / family
    model = par.load(path).eval()
    check = load_file(path / "check.safetensors")
    d = model.condition(check.get("context"))
    if "context" not in check:
        d = d.expand(check["log_prob"].shape)
    torch.testing.assert_close(d.log_prob(check["value"]), check["log_prob"], rtol=1e-12, atol=1e-12)


def test_recorded_arguments_of_a_users_subclass():
    """A subclass with a constructor of its own is recorded by its own signature; varargs cannot be saved."""

    class Wide(par.MADE):
        def __init__(self, event_size: int, width: int = 8) -> None:
            super().__init__(event_size, par.heads.Categorical(3), hidden_sizes=(width, width))

    assert {k: v for k, v in Wide(3, width=5).config().items() if k != "type"} == {"event_size": 3, "width": 5}

    class Varargs(par.MADE):
        def __init__(self, *sizes: int) -> None:
            super().__init__(3, par.heads.Categorical(3), hidden_sizes=sizes)

    with pytest.raises(TypeError, match="varargs"):
        Varargs(4, 4).config()


def test_a_users_subclass_round_trips(tmp_path):
    torch.manual_seed(0)
    model = _Wide(3, width=5)
    loaded = par.load(par.save(model, tmp_path / "w"))
    assert type(loaded) is _Wide and loaded.config() == model.config()
    x = torch.randint(0, 3, (4, 3))
    torch.testing.assert_close(loaded.condition().log_prob(x), model.condition().log_prob(x), rtol=0, atol=0)
    # a random order drawn inside a constructor that cannot be given it back: saving is refused, not wrong
    with pytest.raises(TypeError, match="order: _Shuffled's constructor resolved it"):
        par.save(_Shuffled(3), tmp_path / "s")


class _Wide(par.MADE):
    def __init__(self, event_size: int, width: int = 8) -> None:
        super().__init__(event_size, par.heads.Categorical(3), hidden_sizes=(width, width))


class _Shuffled(par.MADE):
    def __init__(self, event_size: int) -> None:
        super().__init__(event_size, par.heads.Categorical(3), hidden_sizes=(4,), order="random")


# -- defects the hypothesis suite (tests/test_bad_input.py) found -----------------------------------


def test_sample_and_expand_check_their_shapes(discrete):
    """``torch.Size`` takes -1 and True, and an int is "not iterable": each was an unnamed or no error."""
    d = discrete.condition(torch.zeros(2, 3))
    for method, name in ((d.sample, "sample_shape"), (d.expand, "batch_shape")):
        with pytest.raises(TypeError, match=rf"^{name}: expected a tuple of ints >= 0, got int 3"):
            method(3)
        with pytest.raises(TypeError, match=rf"^{name}: expected a tuple of ints >= 0, got \(True, 2\) \(a bool\)"):
            method((True, 2))
        with pytest.raises(ValueError, match=rf"^{name}: expected a tuple of ints >= 0, got \(-1, 2\)"):
            method((-1, 2))
    with pytest.raises(TypeError, match=r"^cache: expected a bool, got str 'no'"):
        d.sample(cache="no")  # once a silent cache=True
    assert d.sample([0]).shape == (0, 2, 4) and d.expand([3, 2]).batch_shape == (3, 2)


def test_temper_and_condition_on_prefix_refuse_bools_and_strings(discrete):
    d = discrete.condition(torch.zeros(3))
    for bad in (True, "0.5", None, 1j):  # True was taken as 1.0, the others failed inside math.isfinite
        with pytest.raises(TypeError, match=r"^temperature: expected a finite float > 0, got"):
            d.temper(bad)
    for bad in (True, 1.0, "1"):  # True was taken as one step
        with pytest.raises(TypeError, match=r"^num_steps: expected an int in \[0, 4\], got"):
            d.condition_on_prefix(d.sample(), bad)
    assert d.condition_on_prefix(d.sample(), np.int64(2)).prefix.shape[-2] == 2


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8])
def test_small_integer_dtypes_are_checked_exactly_against_many_levels(dtype):
    """torch compared an int8 value with the bound 299 in int8 (43): level 50 was out of the support,
    an error with validation on and a log-probability of -inf with it off."""
    torch.manual_seed(0)
    d = par.MADE(2, Categorical(300), hidden_sizes=(8,)).condition()
    x = torch.tensor([50, 120])
    assert d.model.head.element_support.check(x.to(dtype)).all()
    torch.testing.assert_close(d.log_prob(x.to(dtype)), d.log_prob(x))
    with pyro.validation_enabled(False):
        torch.testing.assert_close(d.log_prob(x.to(dtype)), d.log_prob(x))


def test_samples_that_overflow_are_an_error_naming_the_temperature():
    """At temperature 1e6 a two-channel Normal PixelCNN fed its huge draws back to the network until they
    overflowed: ``sample`` returned inf."""
    torch.manual_seed(0)
    d = par.PixelCNN((2, 1, 2), Normal(), hidden_channels=4, num_layers=1).eval().condition().expand((2,))
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"^temperature: the value drawn at step 1 overflowed torch.float32"):
        d.temper(1e6).sample((2,))
    assert torch.isfinite(d.temper(2.0).sample((2,))).all()


@pytest.mark.parametrize("ragged", [False, True])
def test_prefix_outside_the_support_has_no_mass_with_validation_off(ragged):
    """Validation off: a value whose fixed steps are not the prefix scores -inf (it counted its own completion)."""
    import itertools

    torch.manual_seed(0)
    model = par.Transformer(Categorical(3), max_length=4, d_model=8, num_heads=2, num_layers=1).double().eval()
    xs = torch.tensor(list(itertools.product(range(3), repeat=4)))  # every value, (81, 4)
    lengths = torch.tensor([0, 1, 3]) if ragged else 2
    d = model.condition().expand((3,)).condition_on_prefix(xs[[5, 40, 77]], lengths)
    with pyro.validation_enabled(False):
        d = d.expand((3,))  # validate_args follows the switch
        d._validate_args = False
        log_prob = d.log_prob(xs.unsqueeze(1))  # (81, 3)
    assert torch.logsumexp(log_prob, 0).abs().max() < 1e-12  # one unit of mass per row, not K ** (prefix length)
    foreign = xs[:, 0] != xs[40, 0]  # row 1 fixes the first step of xs[40] (and the second, not ragged)
    assert torch.isneginf(log_prob[foreign, 1]).all()
