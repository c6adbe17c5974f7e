"""Saving and loading models: safetensors weights plus a JSON config, never pickle."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_model

from .atomic import current_directory, replacing_directory
from .heads import head_from_config
from .model import MODEL_REGISTRY, AutoregressiveModel

__all__ = ["load", "save"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: 2: masks are not saved; GatedPixelCNN's layers and WaveNet's skip connections are laid out anew
#: (files of version 1 are converted on load, exactly: ``AutoregressiveModel.upgrade_weights``)
#: 3: the config records the SHA-256 of the weights file (``weights_sha256``), checked at load
FORMAT_VERSION = 3
#: the dtypes a config may name (a model's parameters are floating point)
DTYPES = {str(d).removeprefix("torch."): d for d in (torch.float16, torch.bfloat16, torch.float32, torch.float64)}
_CHECKSUM = "weights_sha256"


def save(model: AutoregressiveModel, path: str | Path) -> Path:
    """Write ``model`` to the directory ``path``: ``config.json`` and ``model.safetensors``, atomically.

    The config holds the class name and constructor arguments (head included),
    the dtype and the SHA-256 of the weights file; the weights file holds the
    parameters and persistent buffers. Causal masks are not saved: they are
    derived from the configuration when the model is built, so a file cannot
    change what a model may see.

    The new directory is written and flushed to disk beside ``path``, then swapped
    in by renames (:mod:`~pyro_autoregressive.atomic`): a process killed at any
    moment leaves the old model or the new one loadable, never a mixture. An
    existing ``path`` must hold nothing but a saved model (it is replaced whole).
    One writer at a time per ``path``. Returns ``path``.
    """
    if not isinstance(model, AutoregressiveModel):
        raise TypeError(f"model: expected an AutoregressiveModel, got {type(model).__name__}")
    path = Path(path)
    config = {"format_version": FORMAT_VERSION, "dtype": str(model.dtype).removeprefix("torch."), **model.config()}
    with replacing_directory(Path(os.path.abspath(path)), frozenset((CONFIG_NAME, WEIGHTS_NAME))) as staging:
        save_model(model, str(staging / WEIGHTS_NAME))
        config[_CHECKSUM] = hashlib.sha256((staging / WEIGHTS_NAME).read_bytes()).hexdigest()
        (staging / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    return path


def load(path: str | Path, map_location: str | torch.device | None = None) -> AutoregressiveModel:
    """Rebuild a model saved by :func:`save`, in eval mode; classes are looked up by name, no code is run.

    Every malformed file is a ``ValueError`` naming the file and the problem: JSON
    that is not an object of the expected keys, an unknown ``format_version`` or
    ``dtype``, arguments the class refuses, weights whose SHA-256 differs from the
    config's, bytes that are not safetensors, tensors missing, unexpected, of
    the wrong shape or dtype, or not finite. Files of formats 1 and 2 carry no
    checksum and load without one.

    :param map_location: device to put the weights on (default: CPU).
    """
    directory = current_directory(Path(path))  # a save killed between its renames: the previous copy
    config_file, weights_file = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    raw_config, raw_weights = _read(directory, (CONFIG_NAME, WEIGHTS_NAME))
    config = _parse_config(raw_config, config_file)
    version = config.pop("format_version")
    if type(version) is not int or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(f"{config_file}: format_version: expected an int in [1, {FORMAT_VERSION}], got {version!r}")
    checksum = config.pop(_CHECKSUM, None)
    if checksum is None and version >= 3:
        raise ValueError(f"{config_file}: missing key {_CHECKSUM!r} (required from format 3)")
    if checksum is not None:
        actual = hashlib.sha256(raw_weights).hexdigest()
        if checksum != actual:
            raise ValueError(
                f"{weights_file}: checksum mismatch: {config_file.name} records SHA-256 {checksum!r}, "
                f"the file has {actual!r} (truncated, corrupted, or not the weights saved with this config)"
            )
    dtype_name = config.pop("dtype")
    if not isinstance(dtype_name, str) or dtype_name not in DTYPES:
        raise ValueError(f"{config_file}: dtype: expected one of {sorted(DTYPES)}, got {dtype_name!r}")
    model = _build(config, config_file).to(DTYPES[dtype_name])
    try:
        weights = load_safetensors(raw_weights)
    except Exception as error:  # the parser's own error types; a pickle file, truncated bytes, a bad header
        raise ValueError(f"{weights_file}: not a valid safetensors file ({error})") from None
    if version < FORMAT_VERSION:
        try:
            weights = model.upgrade_weights(weights, version)
        except (KeyError, IndexError, RuntimeError, TypeError, ValueError) as error:
            raise ValueError(f"{weights_file}: cannot convert the weights of format {version}: {error!r}") from None
    # buffers that are not part of the state dict (the causal masks) are rebuilt from the config: a file's copy is
    # ignored, whatever it holds (files of format 1 carry them)
    derived = {name for name, _ in model.named_buffers()} - set(model.state_dict())
    weights = {name: tensor for name, tensor in weights.items() if name not in derived}
    where = f"{weights_file}: the weights do not fit the {type(model).__name__} of {config_file}"
    _check_weights(weights, model, where)
    model.load_state_dict(weights)
    device = "cpu" if map_location is None else str(map_location)
    return model.to(device).eval()


def _read(directory: Path, names: tuple[str, ...]) -> list[bytes]:
    """The bytes of the files ``names`` in ``directory``, all opened before any is read.

    Opened relative to the directory itself where the platform allows it, so a save
    swapping ``directory`` meanwhile cannot pair one model's config with another's weights.
    """
    if not directory.is_dir():
        raise FileNotFoundError(f"path: no saved model at {str(directory)!r} (expected a directory)")
    dir_fd = os.open(directory, os.O_RDONLY) if os.open in os.supports_dir_fd else None
    fds = []
    try:
        for name in names:
            try:
                fds.append(os.open(name if dir_fd is not None else directory / name, os.O_RDONLY, dir_fd=dir_fd))
            except FileNotFoundError:
                raise FileNotFoundError(f"path: {str(directory / name)!r} is missing") from None
        contents = []
        for fd in fds:
            with os.fdopen(fd, "rb", closefd=False) as file:
                contents.append(file.read())
        return contents
    finally:
        for fd in fds:
            os.close(fd)
        if dir_fd is not None:
            os.close(dir_fd)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate keys {duplicates}")
    return dict(pairs)


def _parse_config(raw: bytes, config_file: Path) -> dict[str, Any]:
    """The config object: strict JSON (no NaN, no duplicate keys), an object with the keys every format has."""
    try:
        config = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except ValueError as error:  # also UnicodeDecodeError and json.JSONDecodeError
        raise ValueError(f"{config_file}: not a valid JSON config ({error})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_file}: expected a JSON object, got {type(config).__name__}")
    missing = [key for key in ("format_version", "dtype", "type") if key not in config]
    if missing:
        raise ValueError(f"{config_file}: missing keys {missing}")
    return config


def _build(config: dict[str, Any], config_file: Path) -> AutoregressiveModel:
    """The model of ``config`` (its arguments checked by the constructor), with fresh weights."""
    cls = MODEL_REGISTRY.get(config.pop("type"), str(config_file))
    try:
        if "head" in config:
            if not isinstance(config["head"], dict):
                raise TypeError(f"head: expected a head config (a JSON object), got {config['head']!r}")
            config["head"] = head_from_config(config["head"])
        return cls(**config)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{config_file}: the arguments do not build a {cls.__name__}: {error}") from None


def _check_weights(weights: dict[str, torch.Tensor], model: AutoregressiveModel, where: str) -> None:
    """Every tensor of the state dict present, none other, each of its shape and dtype, all finite."""
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{where}: missing {missing}, unexpected {unexpected}")
    for name, tensor in weights.items():
        want = expected[name]
        if tensor.shape != want.shape or tensor.dtype != want.dtype:
            raise ValueError(
                f"{where}: {name}: expected {want.dtype} of shape {tuple(want.shape)}, "
                f"got {tensor.dtype} of shape {tuple(tensor.shape)}"
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"{where}: {name}: holds non-finite values")
