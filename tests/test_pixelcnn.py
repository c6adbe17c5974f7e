"""What is specific to the PixelCNN family: masks, receptive fields, grid caches and kept kernels, errors."""

from __future__ import annotations

import itertools

import pytest
import torch

import pyro_autoregressive as par
from pyro_autoregressive.heads import Bernoulli, Categorical, DiscretizedLogisticMixture, Normal
from pyro_autoregressive.nn.grid_cache import GridCache
from pyro_autoregressive.nn.masked_conv import MaskedConv2d, channel_groups, conv_mask
from pyro_autoregressive.nn.shifted_conv import ShiftedConv2d, concat_elu

from conftest import load_script

MODELS = [par.PixelCNN, par.GatedPixelCNN]


# -- masks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_conv_mask_channel_groups(mask_type):
    groups = channel_groups(6, 3)  # R R G G B B
    mask = conv_mask(groups, groups, (3, 3), mask_type)
    assert mask[:, :, 0].eq(1).all() and mask[:, :, 1, 0].eq(1).all()  # rows above and left: open
    assert mask[:, :, 2].eq(0).all() and mask[:, :, 1, 2].eq(0).all()  # below and right: closed
    centre = mask[:, :, 1, 1]
    out_g, in_g = groups[:, None], groups[None, :]
    expected = (out_g > in_g) if mask_type == "A" else (out_g >= in_g)
    assert torch.equal(centre.bool(), expected)


def test_masked_conv_is_causal_and_keeps_its_parameter():
    torch.manual_seed(0)
    conv = MaskedConv2d(3, 6, 5, "A", data_channels=3).double()
    before = conv.weight.detach().clone()
    x = torch.randn(1, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    y = conv(x)
    for g in range(3):
        (grad,) = torch.autograd.grad(y[0, 2 * g : 2 * g + 2, 3, 2].sum(), x, retain_graph=True)
        seen = grad[0].abs().sum(0) > 0  # (H, W)
        assert not seen[4:].any() and not seen[3, 3:].any()  # nothing below or right
        # at the pixel itself only the channels before g
        assert torch.equal(grad[0, :, 3, 2].abs() > 0, torch.arange(3) < g)
    assert torch.equal(conv.weight, before)  # masks are applied functionally


def test_channel_groups_error():
    with pytest.raises(ValueError, match="num_channels"):
        channel_groups(5, 3)


# -- receptive fields ----------------------------------------------------------------------------------


def _dependence(model: par.AutoregressiveModel, target: tuple[int, int], image: tuple[int, int]) -> torch.Tensor:
    """Which pixels the parameters of pixel ``target`` depend on, ``(H, W)`` booleans."""
    height, width = image
    torch.manual_seed(0)
    model = model.double()
    h = torch.randn(4, 1, height, width, 1, dtype=torch.float64, requires_grad=True)
    params = model.network(h, None, None)  # (N, S, P)
    (grad,) = torch.autograd.grad(params[:, target[0] * width + target[1]].sum(), h)
    return grad.abs().sum((0, 1, 4)) > 0


def _minkowski(a: set[tuple[int, int]], b: set[tuple[int, int]]) -> set[tuple[int, int]]:
    return {(u + p, v + q) for (u, v), (p, q) in itertools.product(a, b)}


def _mask_offsets(conv: MaskedConv2d) -> set[tuple[int, int]]:
    ch, cw = conv.center
    taps = conv.mask.sum((0, 1)).nonzero().tolist()
    return {(u - ch, v - cw) for u, v in taps}


def test_pixelcnn_blind_spot_is_where_the_paper_says():
    """The receptive field is the Minkowski sum of the masks, with the blind spot up and to the right."""
    num_layers, image, target = 2, (12, 12), (8, 4)
    model = par.PixelCNN((1, *image), Categorical(3), hidden_channels=8, num_layers=num_layers)
    seen = _dependence(model, target, image)
    offsets = _mask_offsets(model.conv_in)
    for block in model.blocks:
        offsets = _minkowski(offsets, _mask_offsets(block.conv2))
    expected = torch.zeros(image, dtype=torch.bool)
    for du, dv in offsets:
        u, v = target[0] + du, target[1] + dv
        if 0 <= u < image[0] and 0 <= v < image[1]:
            expected[u, v] = True
    assert torch.equal(seen, expected)
    # the blind spot: with a 7x7 first layer (r0 = 3), (i - 1, j + 4) is never seen, (i - 2, j + 4) is
    i, j = target
    assert not seen[i - 1, j + 4] and seen[i - 2, j + 4] and seen[i - 1, j + 3]
    # and it grows with the height: at i - 1 - k the first unseen column is j + 4 + k (k <= num_layers)
    for k in range(num_layers + 1):
        assert seen[i - 1 - k, j + 3 + k] and not (k < num_layers and seen[i - 1 - k, j + 4 + k])


@pytest.mark.parametrize("num_layers", [1, 3])
def test_gated_pixelcnn_has_no_blind_spot(num_layers):
    """Every earlier pixel in the receptive field influences the output; no later pixel does."""
    image, target = (12, 12), (8, 5)
    model = par.GatedPixelCNN((1, *image), Categorical(3), hidden_channels=8, num_layers=num_layers)
    seen = _dependence(model, target, image)
    i, j = target
    index = torch.arange(image[0] * image[1]).reshape(image)
    assert not seen[index >= i * image[1] + j].any(), "a later pixel (or the pixel itself) is seen"
    # the receptive field: r0 = 3 rows above with half-width 3 + (L - 1) (one more per vertical layer),
    # the same row 3 + (L - 1) pixels to the left, and the rows further up through the deeper layers
    reach = 3 + (num_layers - 1)
    for u in range(i - 3, i):
        assert seen[u, j - reach : j + reach + 1].all(), f"row {u} has a hole"
    assert seen[i, j - reach : j].all()
    assert not seen[i, : j - reach].any()
    # each row above is one contiguous interval around the column: no blind spot
    for u in range(i):
        cols = seen[u].nonzero().flatten()
        if len(cols):
            assert cols.max() - cols.min() + 1 == len(cols) and cols.min() <= j <= cols.max()


def test_pixelcnn_plus_plus_hierarchy_is_causal():
    """Three resolution levels, strided and transposed convolutions: no pixel sees itself or a later one."""
    torch.manual_seed(0)
    model = par.PixelCNNPlusPlus(
        (3, 8, 8), num_components=2, num_classes=16, hidden_channels=6, num_resnet=1, num_hierarchies=3
    ).double()
    h = torch.randn(2, 3, 8, 8, 1, dtype=torch.float64, requires_grad=True)
    params = model.network(h, None, None)  # (N, 64, P)
    past = 0.0
    for step in range(64):
        (grad,) = torch.autograd.grad(params[:, step].sum(), h, retain_graph=True)
        seen = grad.abs().sum((0, 1, 4)).flatten()  # (64,) in raster order
        assert seen[step:].sum() == 0, f"step {step} sees itself or a later pixel"
        past += seen[:step].sum().item()
    assert past > 0
    # the last pixel sees the first row through the hierarchy
    (grad,) = torch.autograd.grad(params[:, 63].sum(), h)
    assert grad[:, :, 0].abs().sum() > 0


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_shifted_conv_writes_its_activation_into_the_padded_input(memory_format, requires_grad):
    """``forward(x, concat_elu)`` (one buffer, ``elu(+-x) = max(+-x, expm1(-|x|))``) is ``conv(pad(elu([x, -x])))``
    in either memory format, with the output in the input's format, and with gradients."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64).contiguous(memory_format=memory_format)
    x.requires_grad_(requires_grad)
    reference = torch.nn.functional.elu(torch.cat([x, -x], dim=1))
    out = torch.empty(2, 6, 5, 4, dtype=torch.float64).contiguous(memory_format=memory_format)
    torch.testing.assert_close(concat_elu(x, out), reference, rtol=0, atol=1e-15)
    for right, kernel in [(False, (2, 3)), (True, (2, 2))]:
        conv = ShiftedConv2d(6, 4, kernel, right).double()
        y = conv(x, concat_elu)
        padded = torch.nn.functional.pad(torch.nn.functional.elu(torch.cat([x, -x], dim=1)), conv._padding)
        expected = torch.nn.functional.conv2d(padded, conv.weight, conv.bias)
        torch.testing.assert_close(y, expected)
        assert y.is_contiguous(memory_format=memory_format)
        if requires_grad:
            (grad,) = torch.autograd.grad(y.square().sum(), x)
            (expected_grad,) = torch.autograd.grad(expected.square().sum(), x)
            torch.testing.assert_close(grad, expected_grad)


def test_pixelcnn_plus_plus_errors():
    with pytest.raises(ValueError, match="divisible"):
        par.PixelCNNPlusPlus((3, 6, 6), num_hierarchies=3)
    with pytest.raises(ValueError, match="dropout"):
        par.PixelCNNPlusPlus((3, 8, 8), dropout=1.5)
    with pytest.raises(ValueError, match="num_components"):
        par.PixelCNNPlusPlus((3, 8, 8), num_components=0)


# -- caches ----------------------------------------------------------------------------------------------


def _cases():
    return [
        ("pixelcnn-cat", lambda: par.PixelCNN((1, 3, 4), Categorical(5), hidden_channels=6, num_layers=2)),
        ("pixelcnn-rgb-cat", lambda: par.PixelCNN((3, 3, 3), Categorical(4), hidden_channels=6, num_layers=2)),
        (
            "pixelcnn-rgb-dlm-ctx",
            lambda: par.PixelCNN(
                (3, 3, 4),
                DiscretizedLogisticMixture(3, 16),
                hidden_channels=5,
                num_layers=2,
                context_size=2,
                local_context_channels=2,
            ),
        ),
        ("gated-cat", lambda: par.GatedPixelCNN((1, 4, 3), Categorical(5), hidden_channels=6, num_layers=3)),
        ("gated-rgb-bern", lambda: par.GatedPixelCNN((3, 3, 4), Bernoulli(), hidden_channels=6, num_layers=2)),
        (
            "gated-normal-ctx",
            lambda: par.GatedPixelCNN(
                (1, 3, 3), Normal(), hidden_channels=4, num_layers=3, context_size=3, local_context_channels=2
            ),
        ),
        # PixelCNN++: every level computed as soon as it can be (rows of u, positions of ul)
        ("pixelcnnpp-c1-h1-3x5", lambda: _pixelcnnpp((1, 3, 5), num_hierarchies=1)),
        ("pixelcnnpp-c3-h2-ctx", lambda: _pixelcnnpp((3, 4, 4), 2, context_size=2, local_context_channels=2)),
        ("pixelcnnpp-c1-h3-4x8-ctx", lambda: _pixelcnnpp((1, 4, 8), 3, 2, context_size=3, local_context_channels=2)),
        ("pixelcnnpp-c3-h3-8x4-local", lambda: _pixelcnnpp((3, 8, 4), 3, 2, local_context_channels=1)),
        ("pixelcnnpp-c3-h2-dropout-eval", lambda: _pixelcnnpp((3, 4, 6), 2, dropout=0.5).eval()),
    ]


def _pixelcnnpp(shape, num_hierarchies, num_resnet=1, **kwargs):
    return par.PixelCNNPlusPlus(
        shape,
        num_components=3,
        num_classes=16,
        hidden_channels=5,
        num_resnet=num_resnet,
        num_hierarchies=num_hierarchies,
        **kwargs,
    )


@pytest.mark.parametrize("build", [b for _, b in _cases()], ids=[n for n, _ in _cases()])
def test_cached_params_match_teacher_forced(build):
    """At every step (and channel), the cached state's head parameters equal the parallel pass."""
    torch.manual_seed(1)
    model = build().double()
    layout = model.layout()
    n = 3
    ctx = torch.randn(n, model.context_size, dtype=torch.float64) if model.context_size else None
    local_shape = model.local_context_shape(layout)
    local = torch.randn(n, *local_shape, dtype=torch.float64) if local_shape else None
    d = model.condition(ctx, local_context=local)
    x = d.sample((n,) if d.batch_shape == () else (), cache=False)  # (N, C, H, W)
    expected = model(x, ctx, local)  # (N, S, P)
    steps = layout.to_steps(x)  # (N, S, C)
    state = model.incremental_state(layout, ctx, local, n)
    blocks = layout.channels if model.couples_channels else 1
    size = expected.shape[-1] // blocks
    for s in range(layout.num_steps):
        for b in range(blocks):
            params = state.params(steps[:, s, :b] if b else None)
            torch.testing.assert_close(
                params[:, b * size : (b + 1) * size], expected[:, s, b * size : (b + 1) * size], rtol=1e-12, atol=1e-12
            )
        state.advance(steps[:, s])


@pytest.mark.parametrize("cls", MODELS)
def test_cached_sampling_with_prefix_and_rsample(cls):
    torch.manual_seed(2)
    model = cls((1, 3, 3), Normal(), hidden_channels=4, num_layers=2).double()
    d = model.condition()
    x = d.rsample((2,))
    first = model.conv_in if cls is par.PixelCNN else model.layers[0].h_conv
    (grad,) = torch.autograd.grad(x.sum(), first.weight)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    c = d.condition_on_prefix(x[0], 4)
    torch.manual_seed(5)
    a = c.sample((2,))
    torch.manual_seed(5)
    b = c.sample((2,), cache=False)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_pixelcnn_plus_plus_cache_in_training_mode():
    """With dropout in training mode the cached path samples valid images; without dropout it equals naive."""
    torch.manual_seed(3)
    model = _pixelcnnpp((3, 4, 4), 2, dropout=0.5).train()
    x = model.condition().sample((2,))
    assert x.shape == (2, 3, 4, 4) and x.min() >= 0 and x.max() < 16
    assert model.training
    # without dropout, training mode changes nothing: cached == naive
    model = _pixelcnnpp((1, 4, 4), 2).double().train()
    torch.manual_seed(4)
    a = model.condition().sample((2,))
    torch.manual_seed(4)
    assert torch.equal(a, model.condition().sample((2,), cache=False))


def test_grid_cache_reads_only_what_was_written():
    """Zeros outside the image; a position that is not computed yet is an error, never a silent zero."""
    grid = GridCache(torch.zeros(1, 2, 1, 1), height=4, width=3)
    grid.put(torch.ones(1, 2, 1, 3), 0)  # row 0
    grid.put(torch.full((1, 2, 1, 1), 2.0), 1, 0)  # position (1, 0)
    patch = grid.patch(0, -1, 2, 2).view(1, 2, 2, 2)  # rows 0..1, columns -1..0
    assert torch.equal(patch[0, 0], torch.tensor([[0.0, 1.0], [0.0, 2.0]]))
    assert torch.equal(grid.window(-1, 0, 2, 3)[0, 0], torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    # the current row, up to a position: what a masked convolution reads
    assert [t[0, 0].item() for t in grid.taps(1, -1, 0)] == [0.0, 2.0]
    with pytest.raises(KeyError):
        grid.patch(0, 0, 2, 2)  # (1, 1) is not written
    with pytest.raises(KeyError):
        grid.window(1, 0, 1, 2)  # row 1 is incomplete
    # a position written again (a pixel whose channels are drawn one by one) rebuilds its row
    grid.put(torch.full((1, 2, 1, 2), 3.0), 1, 1)
    assert torch.equal(grid.row(1)[0, 0, 0], torch.tensor([2.0, 3.0, 3.0]))
    grid.put(torch.full((1, 2, 1, 1), 4.0), 1, 2)
    assert torch.equal(grid.row(1)[0, 0, 0], torch.tensor([2.0, 3.0, 4.0]))
    with pytest.raises(KeyError):
        grid.row(2)  # row 2 is not written


# -- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", MODELS)
def test_constructor_errors(cls):
    with pytest.raises(ValueError, match="image_shape"):
        cls((1, 4), Categorical(3))
    with pytest.raises(ValueError, match="hidden_channels"):
        cls((3, 4, 4), Categorical(3), hidden_channels=8)
    with pytest.raises(ValueError, match="kernel_size"):
        cls((1, 4, 4), Categorical(3), kernel_size=4)
    with pytest.raises(TypeError, match="head"):
        cls((1, 4, 4), "categorical")
    with pytest.raises(TypeError, match="length"):
        cls((1, 4, 4), Categorical(3), hidden_channels=4, num_layers=1).condition(length=3)


def test_couples_channels_only_for_per_channel_heads():
    assert par.PixelCNN((3, 2, 2), Categorical(3), hidden_channels=6, num_layers=1).couples_channels
    assert not par.PixelCNN((1, 2, 2), Categorical(3), hidden_channels=6, num_layers=1).couples_channels
    rgb_mixture = par.GatedPixelCNN((3, 2, 2), DiscretizedLogisticMixture(2), hidden_channels=4, num_layers=1)
    assert not rgb_mixture.couples_channels


# -- example and benchmark -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gated", "pixelcnn", "pixelcnnpp", "rowlstm", "diagonalbilstm"])
def test_digits_example_quick(tmp_path, model):
    results = load_script("examples/pixelcnn_digits.py").main(
        ["--quick", "--no-progress", "--model", model, "--out", str(tmp_path)]
    )
    assert results["test_nll"] > 0 and results["baseline_nll"] > 0
    assert (tmp_path / "samples.png").stat().st_size > 0
    assert (tmp_path / "completions.png").stat().st_size > 0
    assert type(par.load(tmp_path / "model")) is load_script("examples/pixelcnn_digits.py").MODELS[model]


@pytest.mark.slow
def test_benchmark_quick(capsys):
    load_script("benchmarks/bench_pixelcnn.py").main(["--quick"])
    out = capsys.readouterr().out
    assert "GatedPixelCNN" in out and "log_prob throughput" in out
    assert "log_prob throughput PixelCNNPlusPlus" in out


def test_kept_step_weights_follow_the_parameters():
    """The masked kernels kept for generation steps are rebuilt when a weight or mask changes in place."""
    torch.manual_seed(6)
    model = par.PixelCNN((1, 3, 3), Categorical(4), hidden_channels=4, num_layers=1).double()
    other = par.PixelCNN((1, 3, 3), Categorical(4), hidden_channels=4, num_layers=1).double()
    d = model.condition()
    x = d.sample((2,))

    def cached_params() -> torch.Tensor:
        state = model.incremental_state(d.layout, None, None, 2)
        steps = d.layout.to_steps(x)
        out = []
        with torch.no_grad():
            for i in range(d.num_steps):
                out.append(state.params())
                state.advance(steps[:, i])
        return torch.stack(out, dim=1)

    torch.testing.assert_close(cached_params(), model(x), rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)  # an optimizer step: same storage, new version
    torch.testing.assert_close(cached_params(), model(x), rtol=1e-12, atol=1e-12)
    model.load_state_dict(other.state_dict())
    torch.testing.assert_close(cached_params(), other(x), rtol=1e-12, atol=1e-12)
    # with autograd on, nothing kept is used: gradients reach the weights through the steps
    state = model.incremental_state(d.layout, None, None, 2)
    state.params()
    state.advance(d.layout.to_steps(x)[:, 0])
    (grad,) = torch.autograd.grad(state.params().sum(), model.conv_in.weight)  # step 1 sees pixel 0
    assert grad.abs().sum() > 0
