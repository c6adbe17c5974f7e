"""The checks of a distribution's arguments: contexts, stop values, prompt lengths, chunk sizes, value dtypes."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import torch

from .checks import check_int
from .heads import DiscreteHead
from .layout import SequenceLayout, StepLayout

if TYPE_CHECKING:
    from .model import AutoregressiveModel

__all__ = [
    "check_batch_chunk",
    "check_context",
    "check_local_context",
    "check_num_steps",
    "check_stop_value",
    "check_tensor",
    "value_float_dtype",
]


def check_stop_value(model: AutoregressiveModel, layout: StepLayout, stop_value: object) -> int:
    """``stop_value`` as a level of a discrete head, for a sequence layout."""
    if not isinstance(layout, SequenceLayout):
        raise ValueError(
            f"stop_value: only sequence models (a SequenceLayout, one value per step) take a stop value, "
            f"got {type(model).__name__} with {layout!r}"
        )
    head = model.head
    if not isinstance(head, DiscreteHead):
        raise ValueError(f"stop_value: needs a head over enumerable values, got the continuous head {head!r}")
    return check_int("stop_value", stop_value, 0, head.num_classes - 1)


def check_num_steps(num_steps: Any, total: int, device: torch.device) -> int | torch.Tensor:
    """``num_steps`` of ``condition_on_prefix``: an int in ``[0, total]``, or a tensor of them (per row).

    A tensor (any integer dtype, on ``device``) is returned as a new ``torch.long``
    tensor; whether its shape broadcasts against the batch is the caller's check.
    """
    if not isinstance(num_steps, torch.Tensor):
        expected = f"an int in [0, {total}]"
        if isinstance(num_steps, bool) or not isinstance(num_steps, numbers.Integral):
            raise TypeError(f"num_steps: expected {expected}, got {type(num_steps).__name__} {num_steps!r}")
        if not 0 <= int(num_steps) <= total:
            raise ValueError(f"num_steps: expected {expected}, got {int(num_steps)!r}")
        return int(num_steps)
    expected = f"a tensor of ints in [0, {total}] (one prompt length per row)"
    if num_steps.dtype.is_floating_point or num_steps.dtype.is_complex or num_steps.dtype == torch.bool:
        raise TypeError(f"num_steps: expected {expected} of an integer dtype, got dtype {num_steps.dtype}")
    if num_steps.device != device:
        raise ValueError(f"num_steps: expected a tensor on {device} (the model's device), got {num_steps.device}")
    lengths = num_steps.to(torch.long, copy=True)  # uint8 and friends compare exactly once they are long
    if lengths.numel() and not ((lengths >= 0) & (lengths <= total)).all():
        raise ValueError(
            f"num_steps: expected {expected}, got values in [{lengths.min().item()}, {lengths.max().item()}]"
        )
    return lengths


def value_float_dtype(value_dtype: torch.dtype, model_dtype: torch.dtype) -> torch.dtype:
    """A real value's dtype promoted as torch does: floats with the model's, integers to the model's."""
    return torch.promote_types(value_dtype, model_dtype) if value_dtype.is_floating_point else model_dtype


def check_batch_chunk(batch_chunk: Any) -> int | None:
    """``None`` (one chunk) or an int ``>= 1``."""
    return None if batch_chunk is None else check_int("batch_chunk", batch_chunk, 1)


def check_tensor(model: AutoregressiveModel, name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or None, got {type(value).__name__}")
    if value.dtype != model.dtype:
        raise TypeError(f"{name}: expected dtype {model.dtype} (the model's), got {value.dtype}")
    if value.device != model.device:
        raise ValueError(f"{name}: expected a tensor on {model.device} (the model's device), got {value.device}")
    return value


def check_context(model: AutoregressiveModel, context: Any) -> torch.Size:
    """Batch shape of a global context ``(*B, context_size)``."""
    size = model.context_size
    if context is None:
        if size:
            raise ValueError(f"context: expected a tensor of shape (*batch, {size}), got None")
        return torch.Size()
    if size == 0:
        shape = tuple(context.shape) if isinstance(context, torch.Tensor) else type(context).__name__
        raise ValueError(f"context: {type(model).__name__} was built with context_size=0 and takes none, got {shape}")
    context = check_tensor(model, "context", context)
    if context.dim() < 1 or context.shape[-1] != size:
        raise ValueError(f"context: expected shape (*batch, {size}), got {tuple(context.shape)}")
    return context.shape[:-1]


def check_local_context(model: AutoregressiveModel, layout: StepLayout, local_context: Any) -> torch.Size:
    """Batch shape of a local context ``(*B, channels, *positions)``."""
    expected = model.local_context_shape(layout)
    if local_context is None:
        if expected is not None:
            raise ValueError(
                f"local_context: expected a tensor of shape (*batch, {', '.join(map(str, expected))}), got None"
            )
        return torch.Size()
    if expected is None:
        shape = tuple(local_context.shape) if isinstance(local_context, torch.Tensor) else type(local_context).__name__
        raise ValueError(
            f"local_context: {type(model).__name__} was built with local_context_channels=0 and takes none, got {shape}"
        )
    local_context = check_tensor(model, "local_context", local_context)
    n = len(expected)
    if local_context.dim() < n or tuple(local_context.shape[-n:]) != tuple(expected):
        raise ValueError(
            f"local_context: expected shape (*batch, {', '.join(map(str, expected))}), got {tuple(local_context.shape)}"
        )
    return local_context.shape[:-n]
