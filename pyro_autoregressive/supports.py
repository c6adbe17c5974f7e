"""The supports of conditioned autoregressive distributions: a fixed prefix, padding after a stop value."""

from __future__ import annotations

import torch
from torch.distributions import constraints

from .layout import StepLayout

__all__ = ["PaddedSupport", "PrefixedSupport", "carries_prefix", "describe_steps", "prefix_mask"]


def prefix_mask(lengths: torch.Tensor, num_steps: int) -> torch.Tensor:
    """``(*B, num_steps)``: True at the steps of each row's prefix, from its length ``lengths (*B,)``."""
    return torch.arange(num_steps, device=lengths.device) < lengths.unsqueeze(-1)


def carries_prefix(
    layout: StepLayout, value: torch.Tensor, prefix: torch.Tensor, lengths: torch.Tensor | None
) -> torch.Tensor:
    """``(*)``: whether each event of ``value (*, *E)`` holds the prefix ``(*B, n, C)`` in its fixed steps.

    ``lengths (*B,)`` gives each row's number of fixed steps (a ragged prompt);
    ``None`` fixes all ``n`` steps of every row. The leading dims broadcast.
    """
    given = layout.to_steps(value)[..., : prefix.shape[-2], :]  # (*, n, C)
    same = given.to(prefix.dtype) == prefix  # (*, n, C)
    if lengths is not None:
        same = same | ~prefix_mask(lengths, prefix.shape[-2]).unsqueeze(-1)  # a row's later steps are free
    return same.flatten(-2).all(-1)


def describe_steps(steps: int | torch.Tensor) -> str:
    """A number of fixed steps, ``"3"``, or per-row lengths, ``"0 to 3 (per row)"`` (a ragged prompt)."""
    if isinstance(steps, int):
        return str(steps)
    if steps.numel() == 0:
        return "none (an empty batch)"
    return f"{int(steps.min())} to {int(steps.max())} (per row)"


class PrefixedSupport(constraints.Constraint):
    """The support of a distribution with fixed first steps: ``base`` and the prefix's values there.

    With ``lengths (*B,)`` (a ragged prompt) row ``b`` fixes its first ``lengths[b]`` steps only.
    """

    def __init__(
        self,
        base: constraints.Constraint,
        layout: StepLayout,
        prefix: torch.Tensor,
        lengths: torch.Tensor | None = None,
    ) -> None:
        self.base, self.layout, self.prefix, self.lengths = base, layout, prefix, lengths  # (*B, n, C), (*B,)
        self.is_discrete = base.is_discrete
        self.event_dim = base.event_dim
        super().__init__()

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return self.base.check(value) & carries_prefix(self.layout, value, self.prefix, self.lengths)

    def __repr__(self) -> str:
        steps = describe_steps(self.prefix.shape[-2] if self.lengths is None else self.lengths)
        return f"{type(self).__name__}({self.base!r}, prefix_steps={steps})"


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
