"""The LSTM cell update shared by the Row LSTM and the Diagonal BiLSTM (on whole rows, diagonals or one position)."""

from __future__ import annotations

import torch

from .masked_conv import channel_groups

__all__ = ["gate_groups", "lstm_cell"]


def lstm_cell(gates: torch.Tensor, cell: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One LSTM update from pre-activations ``gates (N, 4F, ...)`` and the previous cell ``(N, F, ...)``.

    .. math::
        [o, f, i, g] = \text{gates}, \qquad
        c' = \sigma(f) \odot c + \sigma(i) \odot \tanh(g), \qquad
        h' = \sigma(o) \odot \tanh(c')

    Elementwise in every feature, so a feature's channel group (channel masks) is
    kept from its gates to ``h'`` and ``c'``. Returns ``(h', c')``. The gates are split along ``dim``
    (another than 1 runs several LSTMs at once, e.g. ``(N, directions, 4F, H)``).
    """
    o, f, i, g = gates.chunk(4, dim=dim)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell


def gate_groups(features: int, groups: int, blocks: int = 4) -> torch.Tensor:
    """Channel group of each of the ``blocks * features`` gate pre-activations, ``(blocks * features,)``.

    The gates are ``blocks`` consecutive blocks (``o, f, i, g``, per direction)
    of ``features``, each split into ``groups`` as the hidden features are, so
    that :func:`lstm_cell`'s ``chunk`` keeps every feature in its group.
    """
    return channel_groups(features, groups).repeat(blocks)
