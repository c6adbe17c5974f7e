"""Saving and loading models: safetensors weights plus a JSON config, never pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_model

from .heads import head_from_config
from .model import MODEL_REGISTRY, AutoregressiveModel

__all__ = ["load", "save"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: 2: masks are not saved; GatedPixelCNN's layers and WaveNet's skip connections are laid out anew
#: (files of version 1 are converted on load, exactly: ``AutoregressiveModel.upgrade_weights``)
FORMAT_VERSION = 2


def save(model: AutoregressiveModel, path: str | Path) -> Path:
    """Write ``model`` to the directory ``path``: ``config.json`` and ``model.safetensors``.

    The config holds the class name and constructor arguments (head included)
    and the dtype; the weights file holds the parameters and persistent buffers.
    Causal masks are not saved: they are derived from the configuration when the
    model is built, so a file cannot change what a model may see. Returns the directory.
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
    version = config.pop("format_version", 1)
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"{path / CONFIG_NAME}: format_version: expected an int in [1, {FORMAT_VERSION}], got {version!r}"
        )
    dtype = getattr(torch, config.pop("dtype", "float32"))
    cls = MODEL_REGISTRY.get(config.pop("type", None), str(path / CONFIG_NAME))
    if "head" in config:
        config["head"] = head_from_config(config["head"])
    model = cls(**config).to(dtype)
    device = "cpu" if map_location is None else str(map_location)
    weights = load_file(str(path / WEIGHTS_NAME), device=device)
    if version < FORMAT_VERSION:
        weights = model.upgrade_weights(weights, version)
    # buffers that are not part of the state dict (the causal masks) are rebuilt from the config: a file's copy is
    # ignored, whatever it holds (files of format 1 carry them)
    derived = {name for name, _ in model.named_buffers()} - set(model.state_dict())
    weights = {name: tensor for name, tensor in weights.items() if name not in derived}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path / WEIGHTS_NAME}: the weights do not fit the {cls.__name__} of {path / CONFIG_NAME}: "
            f"missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    return model.to(device)
