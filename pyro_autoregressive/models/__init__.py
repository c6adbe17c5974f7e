"""The model families: networks that are Pyro conditional distributions."""

from .made import MADE

__all__ = ["MADE"]
