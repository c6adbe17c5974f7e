"""The supports of conditioned autoregressive distributions: a fixed prefix, padding after a stop value."""

from __future__ import annotations

import torch
from torch.distributions import constraints

from .layout import StepLayout

__all__ = ["PaddedSupport", "PrefixedSupport"]


class PrefixedSupport(constraints.Constraint):
    """The support of a distribution with fixed first steps: ``base`` and the prefix's values there."""

    def __init__(self, base: constraints.Constraint, layout: StepLayout, prefix: torch.Tensor) -> None:
        self.base, self.layout, self.prefix = base, layout, prefix  # prefix: (*B, n, C)
        self.is_discrete = base.is_discrete
        self.event_dim = base.event_dim
        super().__init__()

    def check(self, value: torch.Tensor) -> torch.Tensor:
        given = self.layout.to_steps(value)[..., : self.prefix.shape[-2], :]  # (*, n, C)
        same = (given.to(self.prefix.dtype) == self.prefix).flatten(-2).all(-1)
        return self.base.check(value) & same

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base!r}, prefix_steps={self.prefix.shape[-2]})"


class PaddedSupport(constraints.Constraint):
    """The support of a distribution with a stop value: ``base``, and nothing but the stop after the first stop."""

    def __init__(self, base: constraints.Constraint, stop_value: int) -> None:
        self.base, self.stop_value = base, stop_value
        self.is_discrete = base.is_discrete
        self.event_dim = base.event_dim
        super().__init__()

    def check(self, value: torch.Tensor) -> torch.Tensor:
        is_stop = (value == self.stop_value).long()  # (*, T)
        after = is_stop.cumsum(-1) - is_stop > 0
        return self.base.check(value) & ~(after & (is_stop == 0)).any(-1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base!r}, stop_value={self.stop_value})"
