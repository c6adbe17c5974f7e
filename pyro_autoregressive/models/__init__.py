"""The model families: networks that are Pyro conditional distributions."""

from .made import MADE
from .transformer import Transformer
from .wavenet import WaveNet

__all__ = ["MADE", "Transformer", "WaveNet"]
