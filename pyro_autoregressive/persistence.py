"""Saving and loading models: safetensors weights plus a JSON config, never pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from .heads import head_from_config
from .model import MODEL_REGISTRY, AutoregressiveModel

__all__ = ["load", "save"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1


def save(model: AutoregressiveModel, path: str | Path) -> Path:
    """Write ``model`` to the directory ``path``: ``config.json`` and ``model.safetensors``.

    The config holds the class name and constructor arguments (head included)
    and the dtype; the weights file holds parameters and buffers. Returns the directory.
    """
    if not isinstance(model, AutoregressiveModel):
        raise TypeError(f"model: expected an AutoregressiveModel, got {type(model).__name__}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = {"format_version": FORMAT_VERSION, "dtype": str(model.dtype).removeprefix("torch."), **model.config()}
    (path / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    save_model(model, str(path / WEIGHTS_NAME))
    return path


def load(path: str | Path, map_location: str | torch.device | None = None) -> AutoregressiveModel:
    """Rebuild a model saved by :func:`save`; classes are looked up by name, no code is run.

    :param map_location: device to put the weights on (default: CPU).
    """
    path = Path(path)
    config: dict[str, Any] = json.loads((path / CONFIG_NAME).read_text())
    config.pop("format_version", None)
    dtype = getattr(torch, config.pop("dtype", "float32"))
    name = config.pop("type", None)
    if name not in MODEL_REGISTRY:
        raise ValueError(f"{path / CONFIG_NAME}: expected 'type' in {sorted(MODEL_REGISTRY)}, got {name!r}")
    if "head" in config:
        config["head"] = head_from_config(config["head"])
    model = MODEL_REGISTRY[name](**config).to(dtype)
    device = "cpu" if map_location is None else str(map_location)
    load_model(model, str(path / WEIGHTS_NAME), device=device)
    return model.to(device)
