"""Causal building blocks (tensors in, tensors out; no Pyro)."""

from .masked_linear import MaskedLinear, made_masks

__all__ = ["MaskedLinear", "made_masks"]
