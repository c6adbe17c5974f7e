"""The trainer: data forms, early stopping, clipping, schedules, weight averaging, history, checkpoints, resuming."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import pyro_autoregressive as par
from pyro_autoregressive import distributed
from pyro_autoregressive.batches import as_batches, set_epoch
from pyro_autoregressive.checkpoints import read_checkpoint, write_checkpoint
from pyro_autoregressive.training import BEST, LAST, fit, mean_nll

N, BATCH = 40, 16


def tiny_model() -> par.PixelCNN:
    """A model that takes a global and a local context, on ``(1, 2, 2)`` images of 3 levels."""
    torch.manual_seed(0)
    return par.PixelCNN(
        (1, 2, 2), par.heads.Categorical(3), hidden_channels=4, num_layers=1, context_size=2, local_context_channels=2
    )


def tiny_data(n: int = N, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``x (n, 1, 2, 2)`` levels, ``context (n, 2)``, ``local_context (n, 2, 2, 2)``."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 3, (n, 1, 2, 2), generator=generator)
    return x, torch.randn(n, 2, generator=generator), torch.randn(n, 2, 2, 2, generator=generator)


def train(data, **kwargs):
    model = tiny_model()
    torch.manual_seed(2)
    result = fit(model, data, epochs=3, batch_size=BATCH, progress=False, **kwargs)
    return model, result


@pytest.mark.parametrize("form", ["value", "value-context", "value-context-local"])
def test_loader_of_each_tuple_form_trains_as_the_tensors(form):
    x, c, lc = tiny_data()
    flat = x.flatten(1)  # (N, 4) for MADE
    made = par.MADE
    forms = {  # the batches' parts, the model, the contexts' keyword names
        "value": ((flat,), lambda: made(4, par.heads.Categorical(3), hidden_sizes=(8,))),
        "value-context": ((flat, c), lambda: made(4, par.heads.Categorical(3), hidden_sizes=(8,), context_size=2)),
        "value-context-local": ((x, c, lc), tiny_model),
    }
    parts, make = forms[form]
    names = ("context", "local_context")[: len(parts) - 1]
    kwargs = {f"train_{k}": p for k, p in zip(names, parts[1:], strict=True)}
    kwargs |= {f"val_{k}": p[:8] for k, p in zip(names, parts[1:], strict=True)}
    results = []
    for use_loader in (False, True):
        torch.manual_seed(0)
        model = make()
        torch.manual_seed(2)
        if use_loader:
            loader = DataLoader(TensorDataset(*parts), batch_size=BATCH, shuffle=True)
            val = [tuple(p[:8] for p in parts)]  # a list of batches: re-iterable
            result = fit(model, loader, val=val, epochs=3, progress=False)
        else:
            val = parts[0][:8]
            result = fit(model, parts[0], val=val, epochs=3, batch_size=BATCH, progress=False, **kwargs)
        results.append((result, model.state_dict()))
    (tensors, tensor_state), (loader, loader_state) = results
    assert tensors.train_nll == loader.train_nll and tensors.val_nll == loader.val_nll
    assert all(torch.equal(tensor_state[k], loader_state[k]) for k in tensor_state)


def test_mean_nll_of_a_loader_with_local_context_equals_the_tensors():
    x, c, lc = tiny_data()
    model = tiny_model()
    expected = -model.condition(c, local_context=lc).log_prob(x).mean().item()
    assert mean_nll(model, x, c, batch_size=7, local_context=lc) == pytest.approx(expected, rel=1e-6)
    loader = DataLoader(TensorDataset(x, c, lc), batch_size=7)
    assert mean_nll(model, loader) == pytest.approx(expected, rel=1e-6)


def test_early_stopping_keeps_the_best_state():
    """Few training images, a large step: the validation NLL turns up, and the weights of its minimum are kept."""
    x, _, _ = tiny_data(n=8)
    val, _, _ = tiny_data(n=64, seed=3)
    model = par.MADE(4, par.heads.Categorical(3), hidden_sizes=(32,))
    torch.manual_seed(0)
    result = fit(model, x.flatten(1), val=val.flatten(1), lr=0.05, patience=2, progress=False)
    assert result.stopped == "patience" and len(result.val_nll) == result.best_epoch + 3
    assert result.val_nll[result.best_epoch] == min(result.val_nll) < result.val_nll[-1]
    assert mean_nll(model, val.flatten(1)) == pytest.approx(min(result.val_nll), rel=1e-6)
    assert not model.training


def gradient_norms(optimizer: torch.optim.Optimizer, norms: list[float]) -> None:
    """Record the global gradient norm that every optimizer step sees."""

    def hook(opt, args, kwargs):
        grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    optimizer.register_step_pre_hook(hook)


@pytest.mark.parametrize("max_grad_norm", [None, 1e-3])
def test_clipping_bounds_the_gradient_norm(max_grad_norm):
    x, c, lc = tiny_data()
    norms: list[float] = []

    def scheduler(optimizer):  # the factory sees the optimizer: watch its steps
        gradient_norms(optimizer, norms)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)

    train(x, train_context=c, train_local_context=lc, max_grad_norm=max_grad_norm, scheduler=scheduler)
    assert len(norms) == 3 * math.ceil(N / BATCH)
    if max_grad_norm is None:
        assert min(norms) > 1e-2  # the bound below would bite
    else:
        assert max(norms) <= max_grad_norm * (1 + 1e-4)


def test_scheduler_steps_per_epoch_and_per_step():
    x, c, lc = tiny_data()
    contexts = {"train_context": c, "train_local_context": lc}
    _, result = train(x, **contexts, scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, 1, gamma=0.5))
    assert [r.lr for r in result.history] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    steps = math.ceil(N / BATCH)
    _, result = train(
        x,
        **contexts,
        scheduler=lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda step: 1.0 / (1 + step)),
        scheduler_interval="step",
    )
    assert [r.lr for r in result.history] == pytest.approx([1e-3 / (1 + e * steps) for e in range(3)])
    plateau = lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, patience=0, factor=0.1)  # noqa: E731
    _, result = train(x, **contexts, val=x[:8], val_context=c[:8], val_local_context=lc[:8], scheduler=plateau)
    assert result.history[0].lr == pytest.approx(1e-3)  # steps on the validation score without an error


def test_ema_weights_differ_from_the_raw_ones_and_are_kept():
    x, c, lc = tiny_data()
    decay, snapshots = 0.5, []

    def scheduler(optimizer):  # replay the average from the raw weights after every step
        params = [p for group in optimizer.param_groups for p in group["params"]]
        average: list[torch.Tensor] = []

        def hook(opt, args, kwargs):
            if not average:
                average.extend(p.detach().clone() for p in params)
            else:
                for a, p in zip(average, params, strict=True):
                    a.mul_(decay).add_(p.detach(), alpha=1 - decay)
            snapshots.append(([a.clone() for a in average], [p.detach().clone() for p in params]))

        optimizer.register_step_post_hook(hook)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)

    val = {"val": x[:8], "val_context": c[:8], "val_local_context": lc[:8]}
    model, result = train(x, train_context=c, train_local_context=lc, ema_decay=decay, scheduler=scheduler, **val)
    steps = math.ceil(N / BATCH)
    average, raw = snapshots[(result.best_epoch + 1) * steps - 1]
    for p, a in zip(model.parameters(), average, strict=True):
        assert torch.allclose(p, a, atol=1e-6)
    assert any(not torch.allclose(a, r) for a, r in zip(average, raw, strict=True))
    kept = mean_nll(model, x[:8], c[:8], local_context=lc[:8])
    assert kept == pytest.approx(result.val_nll[result.best_epoch], rel=1e-6)


def test_history_fields():
    x, c, lc = tiny_data()
    _, result = train(
        x, train_context=c, train_local_context=lc, val=x[:8], val_context=c[:8], val_local_context=lc[:8]
    )
    assert [r.epoch for r in result.history] == [0, 1, 2] and result.stopped == "epochs"
    for record, train_nll, val_nll in zip(result.history, result.train_nll, result.val_nll, strict=True):
        assert record.train_nll == train_nll and record.val_nll == val_nll
        assert record.train_bits_per_dim == pytest.approx(train_nll / (4 * math.log(2)))
        assert record.val_bits_per_dim == pytest.approx(val_nll / (4 * math.log(2)))
        assert record.lr == 1e-3 and record.seconds > 0
    assert result.seconds >= sum(r.seconds for r in result.history) * 0.99


def test_time_budget_stops_after_a_batch():
    x, c, lc = tiny_data()
    _, result = train(x, train_context=c, train_local_context=lc, max_seconds=1e-9)
    assert result.stopped == "max_seconds" and len(result.history) == 1 and result.best_epoch == 0


def test_bf16_autocast_sums_in_float32():
    x, c, lc = tiny_data()
    model, result = train(x, train_context=c, train_local_context=lc, precision="bf16")
    assert all(math.isfinite(v) for v in result.train_nll)
    full, rounded = mean_nll(model, x, c, local_context=lc), mean_nll(model, x, c, local_context=lc, precision="bf16")
    assert rounded == pytest.approx(full, rel=0.05)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": 2.0}, TypeError, "epochs"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": -1}, ValueError, "batch_size"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": float("inf")}, ValueError, "lr"),
        ({"lr": "1e-3"}, TypeError, "lr"),
        ({"patience": 0}, ValueError, "patience"),
        ({"max_seconds": 0}, ValueError, "max_seconds"),
        ({"max_seconds": float("nan")}, ValueError, "max_seconds"),
        ({"max_grad_norm": -1.0}, ValueError, "max_grad_norm"),
        ({"weight_decay": -1.0}, ValueError, "weight_decay"),
        ({"ema_decay": 1.0}, ValueError, "ema_decay"),
        ({"precision": "fp16"}, ValueError, "precision"),
        ({"scheduler": 3}, TypeError, "scheduler"),
        ({"scheduler_interval": "batch"}, ValueError, "scheduler_interval"),
        ({"train_context": torch.zeros(3, 2)}, ValueError, "train_context"),
    ],
)
def test_argument_errors_name_the_argument(kwargs, error, name):
    x, _, _ = tiny_data()
    with pytest.raises(error, match=f"^{name}: expected"):
        fit(tiny_model(), x, progress=False, **kwargs)


def test_data_errors():
    x, c, _ = tiny_data()
    model = tiny_model()
    with pytest.raises(TypeError, match=r"^train: expected a re-iterable"):
        fit(model, iter([x]), progress=False)
    with pytest.raises(TypeError, match=r"^train: expected batches"):
        fit(model, [{"x": x}], progress=False)
    with pytest.raises(ValueError, match=r"^train_context: give the contexts inside the batches"):
        fit(model, DataLoader(TensorDataset(x)), train_context=c, progress=False)
    with pytest.raises(ValueError, match=r"^train: expected at least one example"):
        fit(model, x[:0], progress=False)


# -- the data order, checkpoints and resuming ---------------------------------------------------------------------


def test_seeded_order_is_a_function_of_seed_and_epoch_only():
    """Epoch ``e`` of ``seed`` is ``randperm(N)`` under ``seed + e``, whatever the global generator did (untouched)."""
    x = torch.arange(N)
    batches = as_batches("train", x, batch_size=BATCH, shuffle=True, seed=3)
    for epoch in (0, 1, 5):
        set_epoch(batches, epoch)
        torch.manual_seed(epoch)  # another global state every time: no effect
        before = torch.get_rng_state()
        served = torch.cat([b.value for b in batches])
        assert torch.equal(torch.get_rng_state(), before)
        assert torch.equal(served, torch.randperm(N, generator=torch.Generator().manual_seed(3 + epoch)))
    set_epoch(batches, 0)
    first = torch.cat([b.value for b in batches])
    set_epoch(batches, 1)
    assert not torch.equal(first, torch.cat([b.value for b in batches]))


@pytest.mark.parametrize("world_size", [2, 3])
def test_processes_share_each_step_of_the_global_batch(world_size):
    """The per-process batches of one step hold together the examples of one single-process step."""
    x = torch.arange(N - N % world_size)
    single = as_batches("train", x, batch_size=2 * world_size, shuffle=True, seed=4)
    shares = [
        as_batches("train", x, batch_size=2, shuffle=True, seed=4, rank=r, world_size=world_size)
        for r in range(world_size)
    ]
    for epoch in (0, 1):
        for batches in (single, *shares):
            set_epoch(batches, epoch)
        steps = list(zip(*shares, strict=True))
        assert len(steps) == len(single)
        for whole, parts in zip(single, steps, strict=True):
            assert sorted(torch.cat([p.value for p in parts]).tolist()) == sorted(whole.value.tolist())
    # in order (scoring): every example once, none padded
    parts = [as_batches("val", torch.arange(7), batch_size=2, shuffle=False, rank=r, world_size=3) for r in range(3)]
    assert sorted(torch.cat([b.value for p in parts for b in p]).tolist()) == list(range(7))


def dropout_model() -> par.Transformer:
    """A model that draws random numbers in training (dropout): resuming must restore the generator."""
    torch.manual_seed(0)
    return par.Transformer(
        par.heads.Categorical(3), image_shape=(1, 2, 2), d_model=8, num_heads=2, num_layers=1, dropout=0.3
    )


def resumable(**kwargs):
    """The trainer's keywords with everything that has a state: EMA, a schedule, clipping."""
    cosine = lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 5)  # noqa: E731
    return {
        "batch_size": BATCH,
        "progress": False,
        "ema_decay": 0.8,
        "max_grad_norm": 1.0,
        "scheduler": cosine,
    } | kwargs


@pytest.mark.parametrize("seed", [None, 7])
def test_resume_continues_as_if_never_interrupted(tmp_path, seed):
    """Two epochs, a fresh process state, three more from the checkpoint: bit for bit the five-epoch run."""
    x, _, _ = tiny_data()
    val = tiny_data(n=8, seed=5)[0]
    whole = dropout_model()
    torch.manual_seed(2)
    expected = fit(whole, x, val=val, epochs=5, **resumable(seed=seed))
    first = dropout_model()
    torch.manual_seed(2)
    fit(first, x, val=val, epochs=2, **resumable(seed=seed, checkpoint_dir=tmp_path))
    torch.manual_seed(99)  # another process: other random states until the checkpoint's are restored
    resumed = dropout_model()
    result = fit(resumed, x, val=val, epochs=5, **resumable(seed=seed, checkpoint_dir=tmp_path, resume=True))
    assert result.train_nll == expected.train_nll and result.val_nll == expected.val_nll
    assert result.best_epoch == expected.best_epoch and [r.lr for r in result.history] == [
        r.lr for r in expected.history
    ]
    for name, tensor in whole.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    assert result.seconds >= sum(r.seconds for r in result.history) * 0.99  # the earlier part counts


def test_resume_without_a_checkpoint_starts_and_with_a_finished_one_returns(tmp_path):
    x, _, _ = tiny_data()
    plain_model = dropout_model()
    torch.manual_seed(2)
    plain = fit(plain_model, x, epochs=2, **resumable(seed=1))
    model = dropout_model()
    torch.manual_seed(2)
    fresh = fit(model, x, epochs=2, **resumable(seed=1, checkpoint_dir=tmp_path, resume=True))
    assert fresh.train_nll == plain.train_nll
    again = fit(dropout_model(), x, epochs=2, **resumable(seed=1, checkpoint_dir=tmp_path, resume=True))
    assert again.train_nll == plain.train_nll and again.stopped == "epochs"
    longer = fit(dropout_model(), x, epochs=3, **resumable(seed=1, checkpoint_dir=tmp_path, resume=True))
    assert longer.train_nll[:2] == plain.train_nll and len(longer.train_nll) == 3


def test_checkpoints_last_and_best(tmp_path):
    """``last`` resumes (and loads as a model), ``best`` holds the kept weights of the best epoch, as par.save."""
    x, _, _ = tiny_data(n=8)
    val, _, _ = tiny_data(n=64, seed=3)
    model = par.MADE(4, par.heads.Categorical(3), hidden_sizes=(32,))
    torch.manual_seed(0)
    epochs_seen = []
    result = fit(
        model,
        x.flatten(1),
        val=val.flatten(1),
        lr=0.05,
        patience=2,
        progress=False,
        checkpoint_dir=tmp_path,
        callback=lambda r: epochs_seen.append(len(r.history)),
    )
    assert result.stopped == "patience" and result.best_epoch < len(result.history) - 1
    assert epochs_seen == list(range(1, len(result.history) + 1))
    assert sorted(p.name for p in tmp_path.iterdir()) == [BEST, LAST]
    best = par.load(tmp_path / BEST)
    for name, tensor in model.state_dict().items():  # the model ends with the best epoch's weights
        assert torch.equal(tensor, best.state_dict()[name])
    last, state = read_checkpoint(tmp_path / LAST)
    assert state["epoch"] == len(result.history) - 1 and state["result"]["best_epoch"] == result.best_epoch
    assert any(not torch.equal(t, last.state_dict()[k]) for k, t in model.state_dict().items())
    assert sorted(p.name for p in (tmp_path / LAST).iterdir()) == ["model", "trainer.json", "trainer.safetensors"]


def test_a_write_interrupted_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """Ctrl-C while the second checkpoint is written: the first stays whole and resumable, no leftovers."""
    from pyro_autoregressive import checkpoints

    calls = []
    original = checkpoints.save_file

    def interrupted(*args, **kwargs):
        calls.append(1)
        original(*args, **kwargs)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "save_file", interrupted)
    x, _, _ = tiny_data()
    with pytest.raises(KeyboardInterrupt):
        fit(dropout_model(), x, epochs=3, checkpoint_dir=tmp_path, **resumable(seed=1))
    _, state = read_checkpoint(tmp_path / LAST)
    assert state["epoch"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [BEST, LAST]  # no staging copy left


def test_checkpoint_state_round_trips_without_pickle(tmp_path):
    """Optimizers and schedules with tuples, int keys, infinities and tensors come back equal; JSON + safetensors."""
    model = par.MADE(4, par.heads.Categorical(3), hidden_sizes=(8,))
    params = list(model.parameters())
    sgd = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    adam = torch.optim.AdamW(params, lr=0.1, betas=(0.8, 0.95))
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(adam)
    model.condition().log_prob(torch.zeros(2, 4, dtype=torch.long)).sum().backward()
    sgd.step()
    adam.step()
    state = {"sgd": sgd.state_dict(), "adam": adam.state_dict(), "plateau": plateau.state_dict(), "nan": math.nan}
    write_checkpoint(tmp_path / "c", model, state)
    _, back = read_checkpoint(tmp_path / "c")
    assert plateau.state_dict()["best"] == math.inf and back["plateau"] == plateau.state_dict()
    assert back["adam"]["param_groups"] == adam.state_dict()["param_groups"]  # betas stay a tuple
    for name in ("sgd", "adam"):
        for index, moments in state[name]["state"].items():
            for key, value in moments.items():
                assert torch.equal(back[name]["state"][index][key], value)
    assert math.isnan(back["nan"])
    for file in (tmp_path / "c").rglob("*"):
        assert not file.is_file() or not file.read_bytes().startswith(b"\x80")  # no pickle protocol header
    with pytest.raises(TypeError, match=r"^state\.bad: a checkpoint holds"):
        write_checkpoint(tmp_path / "d", model, {"bad": object()})


def test_a_damaged_or_foreign_checkpoint_is_refused(tmp_path):
    x, _, _ = tiny_data()
    fit(dropout_model(), x, epochs=1, checkpoint_dir=tmp_path, **resumable(seed=1))
    with pytest.raises(ValueError, match=r"^ema_decay: the checkpoint .* was written with one"):
        fit(dropout_model(), x, epochs=2, checkpoint_dir=tmp_path, resume=True, **resumable(seed=1, ema_decay=None))
    other = par.Transformer(par.heads.Categorical(3), image_shape=(1, 2, 2), d_model=4, num_heads=1, num_layers=1)
    with pytest.raises(ValueError, match=r"^resume: .* holds a checkpoint of another model"):
        fit(other, x, epochs=2, checkpoint_dir=tmp_path, resume=True, **resumable(seed=1))
    tensors = tmp_path / LAST / "trainer.safetensors"
    data = bytearray(tensors.read_bytes())
    data[-1] ^= 1
    tensors.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"trainer\.safetensors: checksum mismatch"):
        read_checkpoint(tmp_path / LAST)


def test_checkpoint_argument_errors(monkeypatch):
    x, _, _ = tiny_data()
    with pytest.raises(ValueError, match=r"^resume: expected a checkpoint_dir"):
        fit(tiny_model(), x, resume=True, progress=False)
    with pytest.raises(ValueError, match=r"^seed: expected an int >= 0"):
        fit(tiny_model(), x, seed=-1, progress=False)
    with pytest.raises(TypeError, match=r"^callback: expected a callable"):
        fit(tiny_model(), x, callback=3, progress=False)
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    with pytest.raises(ValueError, match=r"^batch_size: expected a multiple of the 2 processes"):
        fit(tiny_model(), x, batch_size=15, progress=False)
