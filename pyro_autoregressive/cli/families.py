"""The model families of ``--model``: each builds its model for the data (event shape, levels)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .. import heads
from ..datasets import DIGITS_LEVELS
from ..model import AutoregressiveModel

__all__ = ["MODELS"]

DIGITS_SHAPE = (1, 8, 8)


def _made(args: argparse.Namespace) -> AutoregressiveModel:
    from ..models import MADE

    return MADE(64, heads.Categorical(DIGITS_LEVELS), hidden_sizes=tuple(args.hidden or (512, 512)))


def _pixelcnn(args: argparse.Namespace) -> AutoregressiveModel:
    from ..models import PixelCNN

    return PixelCNN(DIGITS_SHAPE, heads.Categorical(DIGITS_LEVELS), hidden_channels=64, num_layers=6)


def _gated(args: argparse.Namespace) -> AutoregressiveModel:
    from ..models import GatedPixelCNN

    return GatedPixelCNN(DIGITS_SHAPE, heads.Categorical(DIGITS_LEVELS), hidden_channels=64, num_layers=6)


def _rowlstm(args: argparse.Namespace) -> AutoregressiveModel:
    from ..models import RowLSTM

    return RowLSTM(DIGITS_SHAPE, heads.Categorical(DIGITS_LEVELS), hidden_channels=64, num_layers=3)


def _diagonalbilstm(args: argparse.Namespace) -> AutoregressiveModel:
    from ..models import DiagonalBiLSTM

    return DiagonalBiLSTM(DIGITS_SHAPE, heads.Categorical(DIGITS_LEVELS), hidden_channels=48, num_layers=2)


def _transformer(args: argparse.Namespace) -> AutoregressiveModel:
    from ..models import Transformer

    return Transformer(
        heads.Categorical(DIGITS_LEVELS), image_shape=DIGITS_SHAPE, d_model=64, num_heads=4, num_layers=4, dropout=0.2
    )


#: model name -> builder for the digits data (17 levels; sizes as in the examples)
MODELS: dict[str, Callable[[argparse.Namespace], AutoregressiveModel]] = {
    "made": _made,
    "pixelcnn": _pixelcnn,
    "gated": _gated,
    "rowlstm": _rowlstm,
    "diagonalbilstm": _diagonalbilstm,
    "transformer": _transformer,
}
