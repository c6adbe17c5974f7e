"""Maximum-likelihood training and evaluation loops (used by the CLI and the examples)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .model import AutoregressiveModel

__all__ = ["FitResult", "fit", "mean_nll"]


@dataclass
class FitResult:
    """Per-epoch mean NLL (nats per example) and the epoch whose weights were kept."""

    train_nll: list[float] = field(default_factory=list)
    val_nll: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0


@torch.no_grad()
def mean_nll(
    model: AutoregressiveModel,
    data: torch.Tensor,
    context: torch.Tensor | None = None,
    batch_size: int = 500,
) -> float:
    """Mean negative log-likelihood in nats per example of ``data (N, *event_shape)``."""
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(data), batch_size):
        batch = data[start : start + batch_size].to(model.device)
        ctx = None if context is None else context[start : start + batch_size].to(model.device)
        total -= model.condition(ctx).log_prob(batch).sum().item()
    model.train(was_training)
    return total / len(data)


def fit(
    model: AutoregressiveModel,
    train: torch.Tensor,
    *,
    val: torch.Tensor | None = None,
    train_context: torch.Tensor | None = None,
    val_context: torch.Tensor | None = None,
    epochs: int = 100,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int | None = None,
    max_seconds: float | None = None,
    progress: bool = True,
) -> FitResult:
    """Minimise the mean NLL with Adam; keep the weights of the best validation epoch.

    :param patience: stop after this many epochs without a better validation NLL.
    :param max_seconds: stop after the epoch during which this much time has passed.
    """
    import time

    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    result = FitResult()
    best_state, best = copy.deepcopy(model.state_dict()), math.inf
    started = time.perf_counter()
    bar = tqdm(range(epochs), desc=f"training {type(model).__name__}", disable=not progress)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(train))
        total = 0.0
        for start in range(0, len(train), batch_size):
            index = order[start : start + batch_size]
            ctx = None if train_context is None else train_context[index].to(model.device)
            loss = -model.condition(ctx).log_prob(train[index].to(model.device)).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(index)
        result.train_nll.append(total / len(train))
        score = result.train_nll[-1]
        if val is not None:
            score = mean_nll(model, val, val_context)
            result.val_nll.append(score)
        if score < best:
            best, result.best_epoch = score, epoch
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(train=f"{result.train_nll[-1]:.2f}", val=f"{score:.2f}", best=f"{best:.2f}")
        elapsed = time.perf_counter() - started
        if patience is not None and epoch - result.best_epoch >= patience:
            break
        if max_seconds is not None and elapsed >= max_seconds:
            break
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result
