"""What is specific to PixelRNN: the receptive fields the paper describes, skewing, errors, save/load."""

from __future__ import annotations

import pytest
import torch

import pyro_autoregressive as par
from pyro_autoregressive.heads import Bernoulli, Categorical
from pyro_autoregressive.nn.diagonal_lstm import skew, unskew

from conftest import load_script


def _seen(model: par.AutoregressiveModel, height: int, width: int) -> torch.Tensor:
    """``seen[i, j, u, v]``: the parameters of pixel ``(i, j)`` depend on pixel ``(u, v)`` (autograd)."""
    torch.manual_seed(0)
    model = model.double()
    h = torch.randn(8, 1, height, width, 1, dtype=torch.float64, requires_grad=True)  # a few: no dead ReLU everywhere
    params = model.network(h, None, None)  # (N, S, P)
    seen = torch.zeros(height, width, height, width, dtype=torch.bool)
    for s in range(height * width):
        (grad,) = torch.autograd.grad(params[:, s].sum(), h, retain_graph=True)
        seen[divmod(s, width)] = grad.abs().sum((0, 1, 4)) > 0
    return seen


def _row_lstm_field(height: int, width: int, layers: int, k: int, first: int) -> torch.Tensor:
    """The Row LSTM's receptive field derived from its definition, by sets (no network involved).

    First layer (mask A, ``first x first``): rows above within ``first // 2`` columns, and the row
    itself to the left. A layer: ``h(i, j)`` reads its input at ``(i, j - k//2 .. j)`` (mask B) and
    ``h(i - 1, j - k//2 .. j + k//2)``; the layer's output at ``(i, j)`` is its input there and ``h(i, j)``.
    """
    r0, r = first // 2, k // 2

    def inside(u: int, v: int) -> bool:
        return 0 <= u < height and 0 <= v < width

    x = {
        (i, j): {(i - a, j + b) for a in range(1, r0 + 1) for b in range(-r0, r0 + 1) if inside(i - a, j + b)}
        | {(i, j - b) for b in range(1, r0 + 1) if inside(i, j - b)}
        for i in range(height)
        for j in range(width)
    }
    for _ in range(layers):
        h: dict[tuple[int, int], set[tuple[int, int]]] = {}
        for i in range(height):  # row by row, as the LSTM runs
            for j in range(width):
                seen = set().union(*(x[i, j - b] for b in range(r + 1) if j - b >= 0))
                for b in range(-r, r + 1):
                    if inside(i - 1, j + b):
                        seen |= h[i - 1, j + b]
                h[i, j] = seen
        x = {q: x[q] | h[q] for q in x}
    field = torch.zeros(height, width, height, width, dtype=torch.bool)
    for (i, j), pixels in x.items():
        for u, v in pixels:
            field[i, j, u, v] = True
    return field


def _raster_past(height: int, width: int) -> torch.Tensor:
    order = torch.arange(height * width).view(height, width)
    return order[:, :, None, None] > order[None, None]  # (i, j) sees (u, v) iff (u, v) comes first


@pytest.mark.parametrize("layers,k,first", [(1, 3, 3), (2, 3, 3), (2, 5, 7)])
def test_row_lstm_receptive_field_is_the_triangle(layers, k, first):
    """Autograd finds exactly the field derived from the definition: a triangle above the pixel that
    widens by ``k // 2`` columns per row, which leaves earlier pixels unseen (van den Oord et al. 2016a,
    figure 4)."""
    height, width = 6, 7
    model = par.RowLSTM((1, height, width), Categorical(3), 16, layers, kernel_size=k, first_kernel_size=first)
    seen = _seen(model, height, width)
    assert torch.equal(seen, _row_lstm_field(height, width, layers, k, first))
    past = _raster_past(height, width)
    assert not (seen & ~past).any()  # causal
    assert (past & ~seen).any()  # and not every earlier pixel: the triangle
    if (layers, k, first) == (1, 3, 3):
        # from (3, 2): the row above up to column 3, two rows up to 4, three rows up to 5 (one column
        # wider per row up), so (2, 4) and (0, 6), both earlier in raster order, are out of the triangle
        assert seen[3, 2, 2, 3] and seen[3, 2, 1, 4] and seen[3, 2, 0, 5]
        assert not seen[3, 2, 2, 4] and not seen[3, 2, 0, 6]


@pytest.mark.parametrize("height,width,first", [(4, 5, 3), (3, 6, 3), (5, 3, 7)])
def test_diagonal_bilstm_sees_every_earlier_pixel(height, width, first):
    """One layer already: every earlier pixel in raster order reaches each output, no later one."""
    model = par.DiagonalBiLSTM((1, height, width), Bernoulli(), 16, 1, first_kernel_size=first)
    assert torch.equal(_seen(model, height, width), _raster_past(height, width))


def test_diagonal_bilstm_without_the_pixels_term_has_a_blind_spot():
    """Why the right-to-left direction reads the pixels' values: without that term, the last pixel of
    a row is seen by no hidden unit of its own row, so most of the next row misses it."""
    height, width = 4, 6
    model = par.DiagonalBiLSTM((1, height, width), Bernoulli(), 16, 2, first_kernel_size=3)
    with torch.no_grad():
        for block in model.blocks:
            block.pixels_to_state.weight.zero_()
    seen = _seen(model, height, width)
    assert not seen[2, 0, 1, width - 1]  # (1, W - 1) is invisible from (2, 0) whatever the depth
    assert seen[2, width - 2, 1, width - 1]  # the first layer's kernel reaches it from near the row's end


def test_skew_and_unskew():
    x = torch.arange(2 * 3 * 4.0).view(1, 2, 3, 4)
    skewed = skew(x)
    assert skewed.shape == (1, 2, 3, 6)
    for i in range(3):
        for j in range(4):
            assert torch.equal(skewed[:, :, i, i + j], x[:, :, i, j])
    assert skewed.ne(0).sum() == x.ne(0).sum()  # zeros elsewhere
    assert torch.equal(unskew(skewed, 4), x)


@pytest.mark.parametrize("cls", [par.PixelCNN, par.RowLSTM, par.DiagonalBiLSTM])
def test_constructor_errors_name_the_argument(cls):
    with pytest.raises(ValueError, match="num_layers"):
        cls((1, 4, 4), Bernoulli(), num_layers=-1 if cls is par.PixelCNN else 0)  # PixelCNN may have no blocks
    with pytest.raises(TypeError, match="hidden_channels"):
        cls((1, 4, 4), Bernoulli(), hidden_channels=4.0)
    with pytest.raises(ValueError, match="hidden_channels"):
        cls((3, 4, 4), Categorical(4), hidden_channels=4)  # channel masks: a multiple of 3
    with pytest.raises(ValueError, match="first_kernel_size"):
        cls((1, 4, 4), Bernoulli(), first_kernel_size=4)
    with pytest.raises(ValueError, match="first_kernel_size: expected an int >= 3"):
        cls((1, 4, 4), Bernoulli(), first_kernel_size=1)  # a 1x1 type-A layer sees no other pixel
    with pytest.raises(TypeError, match="length"):
        cls((1, 4, 4), Bernoulli()).condition(length=3)


def test_row_lstm_kernel_size_error():
    with pytest.raises(ValueError, match="kernel_size"):
        par.RowLSTM((1, 4, 4), Bernoulli(), kernel_size=2)


@pytest.mark.parametrize("cls", [par.RowLSTM, par.DiagonalBiLSTM])
def test_save_load_round_trip(cls, tmp_path):
    torch.manual_seed(0)
    extra = {"kernel_size": 5} if cls is par.RowLSTM else {}
    model = cls((3, 3, 4), Categorical(5), hidden_channels=6, num_layers=2, context_size=2, **extra)
    par.save(model, tmp_path / "m")
    loaded = par.load(tmp_path / "m")
    x = torch.randint(0, 5, (2, 3, 3, 4))
    context = torch.randn(2, 2)
    assert type(loaded) is cls and loaded.config() == model.config()
    assert torch.equal(loaded.condition(context).log_prob(x), model.condition(context).log_prob(x))


@pytest.mark.slow
def test_benchmark_quick(capsys):
    load_script("benchmarks/bench_pixelrnn.py").main(["--quick"])
    out = capsys.readouterr().out
    assert "DiagonalBiLSTM" in out and "GatedPixelCNN" in out and "images/s" in out


@pytest.mark.slow
def test_multiscale_example(tmp_path):
    """The example runs, and its NLL is the sum of the two distributions' exact log-densities."""
    example = load_script("examples/multiscale_digits.py")
    result = example.main(["--quick", "--no-progress", "--out", str(tmp_path)])
    assert result["total"] == pytest.approx(result["small"] + result["large_given_small"])
    assert (tmp_path / "samples.png").stat().st_size > 0
    torch.manual_seed(0)
    small = par.RowLSTM((1, 4, 4), Categorical(17), hidden_channels=4, num_layers=1, first_kernel_size=3)
    large = par.RowLSTM((1, 8, 8), Categorical(17), hidden_channels=4, num_layers=1, local_context_channels=18)
    x = torch.randint(0, 17, (5, 1, 8, 8))
    s = example.subsample(x)
    direct = small.condition().log_prob(s) + large.condition(local_context=example.lift(s, large.dtype)).log_prob(x)
    assert example.test_nll(small, large, x)["total"] == pytest.approx(-direct.mean().item(), rel=1e-6)
