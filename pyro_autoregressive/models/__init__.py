"""The model families: networks that are Pyro conditional distributions."""

from .gated_pixelcnn import GatedPixelCNN
from .made import MADE
from .pixel_rnn import DiagonalBiLSTM, RowLSTM
from .pixelcnn import PixelCNN
from .pixelcnn_plus_plus import PixelCNNPlusPlus
from .transformer import Transformer
from .wavenet import WaveNet

__all__ = [
    "MADE",
    "DiagonalBiLSTM",
    "GatedPixelCNN",
    "PixelCNN",
    "PixelCNNPlusPlus",
    "RowLSTM",
    "Transformer",
    "WaveNet",
]
