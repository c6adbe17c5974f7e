"""Maximum-likelihood training and evaluation loops (used by the CLI and the examples)."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from . import distributed
from .atomic import current_directory
from .batches import Batch, as_batches, set_epoch, to_device, unpack
from .checkpoints import STATE_NAME, Trainer, write_checkpoint
from .checks import check_int, check_positive
from .model import AutoregressiveModel
from .persistence import save

__all__ = ["BEST", "LAST", "PRECISIONS", "EpochRecord", "FitResult", "bits_per_dim", "fit", "mean_nll"]

#: ``precision`` values: float32 as the model is, or bfloat16 autocast of the network (heads stay float32)
PRECISIONS = ("fp32", "bf16")
#: the checkpoints :func:`fit` keeps in ``checkpoint_dir``: the latest epoch's (everything to resume) and the best
LAST, BEST = "last", "best"


def bits_per_dim(nll: float, dims: int) -> float:
    """An NLL in nats per example of ``dims`` dimensions, in bits per dimension (per byte, per sample)."""
    return nll / (dims * math.log(2.0))


@dataclass
class EpochRecord:
    """One epoch of :func:`fit`: NLL in nats per example and in bits per dimension, learning rate, time."""

    epoch: int
    train_nll: float
    train_bits_per_dim: float
    val_nll: float | None
    val_bits_per_dim: float | None
    lr: float
    seconds: float


@dataclass
class FitResult:
    """What :func:`fit` did: per-epoch mean NLL (nats per example), the kept epoch, why it stopped.

    ``train_nll`` is the running mean over each epoch's batches (dropout on);
    ``val_nll`` is scored after the epoch with the weights :func:`fit` keeps
    (the averaged ones when ``ema_decay`` is set). ``history`` has one
    :class:`EpochRecord` per epoch; ``stopped`` is ``"epochs"``, ``"patience"``
    or ``"max_seconds"``.
    """

    train_nll: list[float] = field(default_factory=list)
    val_nll: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    history: list[EpochRecord] = field(default_factory=list)
    stopped: str = "epochs"


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _batch_log_prob(model: AutoregressiveModel, batch: Batch, precision: str) -> tuple[torch.Tensor, int]:
    """``log p(value | contexts)`` per example ``(N,)`` in float32 at least, and the event's dimension."""
    with _autocast(model.device, precision):
        d = model.condition(batch.context, local_context=batch.local_context)
        log_prob = d.log_prob(batch.value)
    return log_prob.to(torch.promote_types(log_prob.dtype, torch.float32)), math.prod(d.event_shape)


class _LogProb(nn.Module):
    """The training pass as a module's ``forward`` (``DistributedDataParallel`` synchronises through it)."""

    def __init__(self, model: AutoregressiveModel, precision: str) -> None:
        super().__init__()
        self.model, self.precision, self.dims = model, precision, 1

    def forward(
        self, value: torch.Tensor, context: torch.Tensor | None, local_context: torch.Tensor | None
    ) -> torch.Tensor:
        log_prob, self.dims = _batch_log_prob(self.model, Batch(value, context, local_context), self.precision)
        return log_prob


@torch.no_grad()
def mean_nll(
    model: AutoregressiveModel,
    data: torch.Tensor | Iterable,
    context: torch.Tensor | None = None,
    batch_size: int = 500,
    *,
    local_context: torch.Tensor | None = None,
    precision: str = "fp32",
    across_processes: bool = False,
) -> float:
    """Mean negative log-likelihood in nats per example, in eval mode (the mode is restored after).

    :param data: values ``(N, *event_shape)``, or a ``DataLoader`` / iterable of
        batches: tensors or ``(value, context)`` / ``(value, context, local_context)``
        tuples (then ``context`` and ``local_context`` stay None).
    :param context: ``(N, context_size)`` beside a tensor ``data``.
    :param local_context: ``(N, channels, *positions)`` beside a tensor ``data``.
    :param batch_size: examples per pass for a tensor ``data``.
    :param precision: ``"fp32"`` or ``"bf16"`` (autocast of the network, sums in float32).
    :param across_processes: under ``torchrun``
        (:mod:`~pyro_autoregressive.distributed`), the mean over every process's
        data: each process scores its share of a tensor ``data`` (positions
        ``rank, rank + world_size, ...``; an iterable is taken as this process's
        share) and the sums and counts are added up over the processes. A
        collective: every process must call it. Without a process group it changes nothing.
    """
    batch_size = check_int("batch_size", batch_size, 1)
    _check_choice("precision", precision, PRECISIONS)
    share = {"rank": distributed.rank(), "world_size": distributed.world_size()} if across_processes else {}
    batches = as_batches("data", data, context, local_context, batch_size=batch_size, shuffle=False, **share)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for raw in batches:
            batch = to_device(unpack("data", raw), model.device)
            log_prob, _ = _batch_log_prob(model, batch, precision)
            total -= log_prob.sum().item()
            count += log_prob.numel()
    finally:
        model.train(was_training)
    if across_processes and distributed.active():
        sums = torch.tensor([total, count], dtype=torch.float64, device=model.device)
        total, count = distributed.sum_over_processes(sums).tolist()
    if count == 0:
        raise ValueError("data: expected at least one example, got none")
    return total / count


def fit(
    model: AutoregressiveModel,
    train: torch.Tensor | Iterable,
    *,
    val: torch.Tensor | Iterable | None = None,
    train_context: torch.Tensor | None = None,
    val_context: torch.Tensor | None = None,
    train_local_context: torch.Tensor | None = None,
    val_local_context: torch.Tensor | None = None,
    epochs: int = 100,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int | None = None,
    max_seconds: float | None = None,
    max_grad_norm: float | None = None,
    scheduler: Callable[[torch.optim.Optimizer], object] | None = None,
    scheduler_interval: str = "epoch",
    ema_decay: float | None = None,
    precision: str = "fp32",
    progress: bool = True,
    seed: int | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    callback: Callable[[FitResult], None] | None = None,
) -> FitResult:
    r"""Minimise the mean NLL with Adam; keep the weights of the best validation epoch.

    .. math:: \min_\theta \; -\frac{1}{N} \sum_n \log p_\theta(x_n \mid c_n)

    Data come as tensors ``train (N, *event_shape)`` (with ``train_context
    (N, context_size)`` and ``train_local_context (N, channels, *positions)``
    beside them, shuffled every epoch in batches of ``batch_size``) or as a
    ``DataLoader`` / any re-iterable of batches: tensors, or ``(value, context)``
    and ``(value, context, local_context)`` tuples (None for a missing context);
    ``batch_size`` is then the loader's business. A loader over the same
    tensors with ``shuffle=True`` trains exactly like the tensors under one seed.
    Batches move to the model's device (``non_blocking`` on CUDA, from pinned
    memory for tensors).

    After every epoch the validation NLL (the training NLL when ``val`` is None)
    decides which weights are kept; the model ends with them, in eval mode.

    :param patience: stop after this many epochs without a better validation NLL.
    :param max_seconds: time budget: stop at the first batch that ends past it (that epoch is scored).
    :param max_grad_norm: clip the gradients' global 2-norm to this before every step.
    :param scheduler: a factory ``optimizer -> torch.optim.lr_scheduler.LRScheduler``,
        stepped after every epoch (``ReduceLROnPlateau`` with the epoch's score) or,
        with ``scheduler_interval="step"``, after every optimizer step.
    :param ema_decay: keep an exponential moving average of the weights
        (``AveragedModel`` with an EMA ``multi_avg_fn``); validation scores it and
        the model ends with the best averaged weights.
    :param precision: ``"bf16"`` runs the network under ``torch.autocast`` in
        bfloat16 (meant for CUDA; CPU autocast works too); the heads and the sum of
        the log-likelihood stay in float32.
    :param progress: a tqdm bar over epochs with the running training NLL.
    :param seed: the data order of tensor ``train``: epoch ``e`` is shuffled by a
        ``torch.Generator`` seeded with ``seed + e`` (``DistributedSampler``'s
        order), whatever the global generator went through; None: drawn from the
        global generator, as ``DataLoader(..., shuffle=True)`` does (0 under ``torchrun``).
    :param checkpoint_dir: after every epoch, write ``checkpoint_dir/last``
        (:mod:`~pyro_autoregressive.checkpoints`: the model, Adam's state, the
        schedule, the averaged and the best weights, the epoch, the history and
        the random generators' states) and, when the epoch is the best so far,
        ``checkpoint_dir/best`` (the kept weights, as ``par.save`` writes them);
        each atomically, so a process killed at any moment leaves the previous
        one loadable.
    :param resume: continue from ``checkpoint_dir/last`` when there is one (from
        the start otherwise): the epochs after it run as they would have without
        the interruption (bit for bit on the CPU with one thread), provided ``fit``
        is called with the same model and arguments (``epochs``, ``patience`` and
        ``max_seconds`` may grow; ``max_seconds`` counts the run's earlier parts).
    :param callback: called with the result so far after every epoch (and its checkpoint).

    Under ``torchrun`` (a process group joined, e.g. by
    :func:`~pyro_autoregressive.distributed.process_group`), every process calls
    ``fit`` alike: the model trains as ``DistributedDataParallel`` (rank 0's
    weights copied to all, gradients averaged), ``batch_size`` is the global
    batch (each process takes ``batch_size / world_size`` examples of a tensor
    ``train`` per step: see :func:`~pyro_autoregressive.batches.as_batches`), the
    training and validation NLL are summed over the processes (validation tensors
    are split between them), and only rank 0 writes checkpoints.

    Example::

        >>> import pyro_autoregressive as par
        >>> from pyro_autoregressive.training import fit
        >>> made = par.MADE(4, par.heads.Bernoulli(), hidden_sizes=(8,))
        >>> result = fit(made, torch.randint(0, 2, (32, 4)), epochs=2, progress=False)
        >>> [round(r.lr, 4) for r in result.history]
        [0.001, 0.001]
    """
    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    lr = check_positive("lr", lr)
    weight_decay = check_positive("weight_decay", weight_decay, allow_zero=True)
    patience = None if patience is None else check_int("patience", patience, 1)
    max_seconds = None if max_seconds is None else check_positive("max_seconds", max_seconds, allow_inf=True)
    max_grad_norm = None if max_grad_norm is None else check_positive("max_grad_norm", max_grad_norm)
    if scheduler is not None and not callable(scheduler):
        raise TypeError(f"scheduler: expected a callable optimizer -> LRScheduler, got {type(scheduler).__name__}")
    _check_choice("scheduler_interval", scheduler_interval, ("epoch", "step"))
    if ema_decay is not None:
        ema_decay = check_positive("ema_decay", ema_decay)
        if not ema_decay < 1.0:
            raise ValueError(f"ema_decay: expected a float in (0, 1), got {ema_decay!r}")
    _check_choice("precision", precision, PRECISIONS)
    seed = None if seed is None else check_int("seed", seed, 0)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback: expected a callable FitResult -> None, got {type(callback).__name__}")
    checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    if resume and checkpoint_dir is None:
        raise ValueError("resume: expected a checkpoint_dir to resume from, got none")
    if not isinstance(model, AutoregressiveModel):
        raise TypeError(f"model: expected an AutoregressiveModel, got {type(model).__name__}")
    world, rank = distributed.world_size(), distributed.rank()
    if batch_size % world:
        raise ValueError(
            f"batch_size: expected a multiple of the {world} processes (each takes batch_size / {world}), "
            f"got {batch_size}"
        )
    if seed is None and world > 1:
        seed = 0  # every process must draw the same order

    device = model.device
    pin = device.type == "cuda"
    share = {"rank": rank, "world_size": world}
    batches = as_batches(
        "train",
        train,
        train_context,
        train_local_context,
        batch_size=batch_size // world,
        shuffle=True,
        pin_memory=pin,
        seed=seed,
        **share,
    )
    val_batches = None
    if val is not None:
        val_batches = as_batches("val", val, val_context, val_local_context, batch_size=500, shuffle=False, **share)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = None if scheduler is None else scheduler(optimizer)
    averaged = None
    if ema_decay is not None:
        averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay))
    kept = model if averaged is None else averaged.module  # the weights that are scored and kept

    result = FitResult()
    best_state, best = _copy_state(kept), math.inf
    trainer = Trainer(model, optimizer, schedule, averaged)
    if resume and (current_directory(checkpoint_dir / LAST) / STATE_NAME).is_file():
        state = trainer.resume(checkpoint_dir / LAST)
        fields, best = state["result"], state["best_score"]
        result = FitResult(**{**fields, "history": [EpochRecord(**record) for record in fields["history"]]})
        best_state = {name: t.to(device) for name, t in state["best_state"].items()}
    scorer = _LogProb(model, precision)
    step = distributed.data_parallel(scorer, device)  # after resuming: every process starts from rank 0's weights
    started = time.perf_counter() - result.seconds  # the time budget counts the run's earlier parts
    start = len(result.history)
    stop = _stop_reason(result, patience, max_seconds, started, device) if start else None
    last = start if stop else epochs
    bar = tqdm(
        range(start, last),  # empty when stopped, or when the run has its epochs already
        initial=start,
        total=epochs,
        desc=f"training {type(model).__name__}",
        disable=not progress or not distributed.is_main(),
    )
    for epoch in bar:
        epoch_started, epoch_lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
        model.train()
        set_epoch(batches, epoch)
        total, count, shown = torch.zeros((), dtype=torch.float64, device=device), 0, epoch_started
        for raw in batches:
            batch = to_device(unpack("train", raw), device)
            log_prob = step(*batch)
            loss = -log_prob.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            if averaged is not None:
                averaged.update_parameters(model)
            if schedule is not None and scheduler_interval == "step":
                schedule.step()
            total += loss.detach() * log_prob.numel()
            count += log_prob.numel()
            now = time.perf_counter()
            if progress and now - shown > 0.5:  # the running NLL (one device sync per half second)
                bar.set_postfix(train=f"{total.item() / count:.2f}", refresh=True)
                shown = now
            if max_seconds is not None and distributed.any_process(now - started >= max_seconds, device):
                stop = "max_seconds"
                break
        sums = distributed.sum_over_processes(torch.stack([total, total.new_tensor(count)]))
        if sums[1].item() == 0:
            raise ValueError("train: expected at least one batch per epoch, got none")
        dims = scorer.dims
        train_nll = (sums[0] / sums[1]).item()
        result.train_nll.append(train_nll)
        score, val_nll = train_nll, None
        if val_batches is not None:
            if averaged is not None:
                _copy_buffers(model, kept)
            score = val_nll = mean_nll(kept, val_batches, precision=precision, across_processes=True)
            result.val_nll.append(val_nll)
        elif averaged is not None:
            _copy_buffers(model, kept)
            # the training data under the averaged weights
            score = mean_nll(kept, batches, precision=precision, across_processes=True)
        improved = score < best
        if improved:
            best, result.best_epoch = score, epoch
            best_state = _copy_state(kept)
        if schedule is not None and scheduler_interval == "epoch":
            if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
                schedule.step(score)
            else:
                schedule.step()
        result.history.append(
            EpochRecord(
                epoch=epoch,
                train_nll=train_nll,
                train_bits_per_dim=bits_per_dim(train_nll, dims),
                val_nll=val_nll,
                val_bits_per_dim=None if val_nll is None else bits_per_dim(val_nll, dims),
                lr=epoch_lr,
                seconds=time.perf_counter() - epoch_started,
            )
        )
        bar.set_postfix(train=f"{train_nll:.2f}", val=f"{score:.2f}", best=f"{best:.2f}")
        result.seconds = time.perf_counter() - started
        if checkpoint_dir is not None:
            progress_state = {"epoch": epoch, "result": dataclasses.asdict(result), "best_score": best}
            state = trainer.state(device, **progress_state, best_state=best_state)  # a collective (RNG states)
            if distributed.is_main():
                if improved:  # before the last: a kill in between leaves an older last, resumed to the same best
                    save(kept, checkpoint_dir / BEST)
                write_checkpoint(checkpoint_dir / LAST, model, state)
        if callback is not None:
            callback(result)
        stop = stop or _stop_reason(result, patience, max_seconds, started, device)
        if stop:
            break
    result.stopped = stop or "epochs"
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


def _stop_reason(
    result: FitResult, patience: int | None, max_seconds: float | None, started: float, device: torch.device
) -> str | None:
    """Why training ends after the last epoch of ``result``: ``"patience"``, ``"max_seconds"`` or None (go on)."""
    if patience is not None and result.history[-1].epoch - result.best_epoch >= patience:
        return "patience"
    if max_seconds is not None and distributed.any_process(time.perf_counter() - started >= max_seconds, device):
        return "max_seconds"
    return None


def _copy_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in module.state_dict().items()}


def _copy_buffers(source: torch.nn.Module, target: torch.nn.Module) -> None:
    """The averaged copy averages parameters only; its buffers follow the live model."""
    for mine, theirs in zip(target.buffers(), source.buffers(), strict=True):
        mine.copy_(theirs)


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")
