"""Autoregressive neural networks as exact Pyro distributions."""

from . import heads
from .distribution import AutoregressiveDistribution
from .layout import ImageLayout, PermutedLayout, SequenceLayout, StepLayout
from .model import AutoregressiveModel
from .models import MADE, DiagonalBiLSTM, GatedPixelCNN, PixelCNN, PixelCNNPlusPlus, RowLSTM, Transformer, WaveNet
from .persistence import load, save
from .sampling import IncrementalState, NaiveState

__version__ = "0.1.0"

__all__ = [
    "MADE",
    "AutoregressiveDistribution",
    "AutoregressiveModel",
    "DiagonalBiLSTM",
    "GatedPixelCNN",
    "ImageLayout",
    "IncrementalState",
    "NaiveState",
    "PermutedLayout",
    "PixelCNN",
    "PixelCNNPlusPlus",
    "RowLSTM",
    "SequenceLayout",
    "StepLayout",
    "Transformer",
    "WaveNet",
    "heads",
    "load",
    "save",
]
