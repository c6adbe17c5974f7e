"""Reference densities to compare a model against."""

from __future__ import annotations

import torch

__all__ = ["independent_histogram_nll"]


def independent_histogram_nll(train: torch.Tensor, test: torch.Tensor, levels: int) -> float:
    """Mean test NLL (nats per example) of independent per-dimension histograms.

    One histogram over ``0..levels-1`` per dimension, fitted on ``train (N, *E)`` with
    add-one (Laplace) smoothing, so every level has non-zero probability.
    """
    train, test = train.reshape(len(train), -1), test.reshape(len(test), -1)
    counts = torch.stack([torch.bincount(column, minlength=levels) for column in train.T]).double() + 1.0
    log_p = (counts / counts.sum(1, keepdim=True)).log()  # (D, K)
    return -log_p.gather(1, test.T).sum(0).mean().item()
