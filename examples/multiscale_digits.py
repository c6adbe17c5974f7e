"""Multi-Scale PixelRNN on the 8x8 digits: a 4x4 model, then the 8x8 model given it, composed in Pyro.

van den Oord et al. (2016a, section 3.5): an unconditional PixelRNN models a
subsampled image ``s`` (here every other pixel of every other row, 4x4), and a
conditional PixelRNN models the full image ``x`` given ``s`` through its
``local_context`` (``s`` upsampled to 8x8 as one-hot levels, and a map of the pixels that
``s`` keeps). The Pyro
model has two sample sites, one per distribution:

    s ~ small.condition()                              # p(s)
    x ~ large.condition(local_context=lift(s))         # p(x | s)

so the exact log-density of the pair is ``log p(s) + log p(x | s)``: the trace's
``log_prob_sum``, and the two models are fitted together by SVI with an empty
guide (maximum likelihood). For an image ``x`` and its own ``s = subsample(x)``
the pair's log-density is a lower bound of the model's marginal ``log p(x)``
(which sums over every ``s``), so the NLL reported is an upper bound, directly
comparable with the single-scale models of ``examples/pixelcnn_digits.py``.

Reports the test NLL (nats per image: the two terms and their sum) and writes
``samples.png``: for each of 8 small images drawn from ``p(s)`` (upsampled, first
column), three full images drawn from ``p(x | s)``.

It keeps its own training loop rather than ``pyro_autoregressive.training.fit``:
``fit`` maximises the likelihood of one model, and the point here is two models
fitted together through one Pyro program by ``SVI`` (early stopping on the pair's
validation NLL, both models' best weights kept together).

    python examples/multiscale_digits.py               # Row LSTMs, <= 8 minutes on one core
    python examples/multiscale_digits.py --model diagonalbilstm
    python examples/multiscale_digits.py --quick       # seconds
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path

import pyro
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from tqdm.auto import tqdm

import pyro_autoregressive as par
from pyro_autoregressive.datasets import DIGITS_LEVELS, load_digits_split
from pyro_autoregressive.plotting import save_completion_grid

MODELS = {"rowlstm": par.RowLSTM, "diagonalbilstm": par.DiagonalBiLSTM}


def subsample(x: torch.Tensor) -> torch.Tensor:
    """``(N, 1, 8, 8)`` levels to the ``(N, 1, 4, 4)`` image of every other pixel of every other row."""
    return x[..., ::2, ::2]


def lift(s: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A small image ``(N, 1, 4, 4)`` of levels as the large model's local context ``(N, 18, 8, 8)``.

    Each 2x2 block of the full image sees its small pixel as a one-hot vector of the 17 levels, and
    a last channel marks the pixels that ``subsample`` keeps (their value is the small pixel's)."""
    up = F.interpolate(s.float(), scale_factor=2, mode="nearest").long()[:, 0]  # (N, 8, 8)
    one_hot = F.one_hot(up, DIGITS_LEVELS).permute(0, 3, 1, 2)  # (N, 17, 8, 8)
    kept = torch.zeros_like(up[:, None])
    kept[..., ::2, ::2] = 1
    return torch.cat([one_hot, kept], dim=1).to(dtype)


def multiscale(small: par.AutoregressiveModel, large: par.AutoregressiveModel, x: torch.Tensor, batch: int) -> None:
    """The Pyro model: ``s ~ p(s)``, ``x ~ p(x | s)`` for a minibatch of the images ``x`` (observed)."""
    pyro.module("small", small)
    pyro.module("large", large)
    with pyro.plate("images", len(x), subsample_size=min(batch, len(x))) as index:
        s = pyro.sample("s", small.condition(), obs=subsample(x[index]))
        pyro.sample("x", large.condition(local_context=lift(s, large.dtype)), obs=x[index])


@torch.no_grad()
def test_nll(small: par.AutoregressiveModel, large: par.AutoregressiveModel, x: torch.Tensor) -> dict[str, float]:
    """Mean ``-log p(s)``, ``-log p(x | s)`` and their sum over ``x``, from one trace of the whole set."""
    small.eval()
    large.eval()
    trace = poutine.trace(multiscale).get_trace(small, large, x, len(x))
    trace.compute_log_prob()
    terms = {name: -trace.nodes[name]["log_prob"].mean().item() for name in ("s", "x")}
    return {"small": terms["s"], "large_given_small": terms["x"], "total": terms["s"] + terms["x"]}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="rowlstm")
    parser.add_argument("--hidden", type=int, default=64, help="hidden_channels of the large model")
    parser.add_argument("--layers", type=int, default=3, help="num_layers of the large model")
    parser.add_argument("--small-hidden", type=int, default=32)
    parser.add_argument("--small-layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20000, help="SVI steps at most")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--patience", type=int, default=25, help="epochs without a better validation NLL")
    parser.add_argument("--max-minutes", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/multiscale_digits"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny networks, a few steps (smoke test)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.hidden, args.layers, args.small_hidden, args.small_layers, args.steps = 8, 1, 8, 1, 4

    torch.manual_seed(args.seed)
    pyro.set_rng_seed(args.seed)
    pyro.clear_param_store()
    data = load_digits_split(as_images=True)  # (N, 1, 8, 8) levels 0..16
    head = par.heads.Categorical(DIGITS_LEVELS)
    cls = MODELS[args.model]
    small = cls((1, 4, 4), head, hidden_channels=args.small_hidden, num_layers=args.small_layers, first_kernel_size=3)
    large = cls(
        (1, 8, 8),
        par.heads.Categorical(DIGITS_LEVELS),
        hidden_channels=args.hidden,
        num_layers=args.layers,
        local_context_channels=DIGITS_LEVELS + 1,
    )
    svi = SVI(multiscale, lambda *a: None, Adam({"lr": args.lr}), Trace_ELBO())
    steps_per_epoch = math.ceil(len(data["train"]) / args.batch_size)
    best, best_state, best_epoch, started = math.inf, None, 0, time.perf_counter()
    bar = tqdm(range(args.steps), desc="training (SVI, empty guide)", disable=args.no_progress)
    for step in bar:
        small.train()
        large.train()
        svi.step(small, large, data["train"], args.batch_size)
        last = step == args.steps - 1
        if (step + 1) % steps_per_epoch and not last:
            continue
        epoch = step // steps_per_epoch
        score = test_nll(small, large, data["val"])["total"]
        if score < best:
            best, best_epoch = score, epoch
            best_state = copy.deepcopy((small.state_dict(), large.state_dict()))
        bar.set_postfix(val=f"{score:.2f}", best=f"{best:.2f}")
        if epoch - best_epoch >= args.patience or time.perf_counter() - started >= args.max_minutes * 60:
            break
    seconds = time.perf_counter() - started
    assert best_state is not None
    small.load_state_dict(best_state[0])
    large.load_state_dict(best_state[1])

    result = test_nll(small, large, data["test"])
    params = sum(p.numel() for m in (small, large) for p in m.parameters())
    print(
        f"Multi-scale {cls.__name__}: 4x4 ({args.small_hidden}, {args.small_layers} layers) then 8x8 given it "
        f"({args.hidden}, {args.layers} layers), {params} parameters; {seconds:.0f} s, best epoch {best_epoch + 1}"
    )
    print(
        f"test NLL: -log p(s) {result['small']:.2f} + -log p(x | s) {result['large_given_small']:.2f} "
        f"= {result['total']:.2f} nats/image ({result['total'] / (64 * math.log(2)):.3f} bits/dim, an upper bound)"
    )

    with torch.no_grad():
        s = small.condition().sample((8,))  # (8, 1, 4, 4)
        x = large.condition(local_context=lift(s, large.dtype)).sample((3,))  # (3, 8, 1, 8, 8)
    shown = F.interpolate(s.float(), scale_factor=2, mode="nearest").long()
    path = save_completion_grid(
        shown, x, args.out / "samples.png", DIGITS_LEVELS, title="s ~ p(s) (upsampled) | 3 draws of x ~ p(x | s)"
    )
    print(f"samples -> {path}")
    return result | {"train_seconds": seconds}


if __name__ == "__main__":
    main()
