"""Checkpoints of the trainer: the model (``par.save``), its tensors (safetensors), its state (JSON); no pickle.

A checkpoint is a directory, written whole and swapped in atomically
(:mod:`~pyro_autoregressive.atomic`), so a process killed while writing leaves the
previous checkpoint loadable:

* ``model/`` -- the model as :func:`~pyro_autoregressive.save` writes it (``par.load``,
  ``sample`` and ``evaluate`` read it as any saved model);
* ``trainer.safetensors`` -- every tensor of the trainer's state (the optimizer's
  moments, the averaged and the best weights, the random generators' states);
* ``trainer.json`` -- the rest of the state (epoch, history, learning-rate schedule,
  the optimizer's hyper-parameters), where each tensor is a reference
  ``{"__tensor__": name}`` into the safetensors file, with the file's SHA-256.

The state is any nest of dicts, lists, tuples, ``None``, bools, ints, floats
(``Infinity`` and ``NaN`` included), strings and tensors: what the state dicts of
torch's optimizers and learning-rate schedulers hold. Tuples and dicts with keys
other than strings (an optimizer's per-parameter state is keyed by index) are
tagged (``{"__tuple__": [...]}``, ``{"__items__": [[key, value], ...]}``), so that
they come back as they went.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file
from torch.optim.swa_utils import AveragedModel

from . import distributed
from .atomic import current_directory, replacing_directory
from .model import AutoregressiveModel
from .persistence import load, save

__all__ = ["FORMAT_VERSION", "Trainer", "read_checkpoint", "rng_state", "set_rng_state", "write_checkpoint"]

#: the version of the checkpoint layout (``trainer.json``'s ``format_version``)
FORMAT_VERSION = 1
MODEL_DIR = "model"
TENSORS_NAME = "trainer.safetensors"
STATE_NAME = "trainer.json"
_TAGS = ("__tensor__", "__tuple__", "__items__", "__ndarray__")


def write_checkpoint(path: str | Path, model: AutoregressiveModel, state: dict[str, Any]) -> Path:
    """Write ``model`` and the trainer's ``state`` to the directory ``path``, atomically; returns ``path``.

    An existing ``path`` must hold nothing but a checkpoint (it is replaced whole).

    :raises TypeError: a value of ``state`` that is none of the kinds above, named by its place.
    """
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(state, tensors, "state")
    with replacing_directory(Path(os.path.abspath(path)), frozenset((MODEL_DIR, TENSORS_NAME, STATE_NAME))) as staging:
        save(model, staging / MODEL_DIR)
        save_file(tensors, str(staging / TENSORS_NAME))
        checksum = hashlib.sha256((staging / TENSORS_NAME).read_bytes()).hexdigest()
        document = {"format_version": FORMAT_VERSION, "tensors_sha256": checksum, "state": encoded}
        (staging / STATE_NAME).write_text(json.dumps(document, indent=1) + "\n")
    return path


def read_checkpoint(path: str | Path) -> tuple[AutoregressiveModel, dict[str, Any]]:
    """The model (on the CPU, by ``par.load``) and the state written by :func:`write_checkpoint`.

    Every malformed checkpoint is a ``ValueError`` naming the file: JSON that is
    not the expected object, an unknown ``format_version``, tensors whose SHA-256
    differs from the recorded one, or a reference to a tensor the file lacks.
    """
    directory = current_directory(Path(path))  # a write killed between its renames: the previous checkpoint
    if not directory.is_dir():
        raise FileNotFoundError(f"path: no checkpoint at {str(directory)!r} (expected a directory)")
    state_file, tensors_file = directory / STATE_NAME, directory / TENSORS_NAME
    try:
        document = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{state_file}: not a readable JSON checkpoint state ({error})") from None
    if not isinstance(document, dict) or not {"format_version", "tensors_sha256", "state"} <= set(document):
        raise ValueError(f"{state_file}: expected an object with format_version, tensors_sha256 and state")
    if document["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{state_file}: format_version: expected {FORMAT_VERSION}, got {document['format_version']!r}")
    raw = tensors_file.read_bytes()
    actual = hashlib.sha256(raw).hexdigest()
    if actual != document["tensors_sha256"]:
        raise ValueError(
            f"{tensors_file}: checksum mismatch: {STATE_NAME} records SHA-256 {document['tensors_sha256']!r}, "
            f"the file has {actual!r}"
        )
    tensors = load_safetensors(raw)
    state = _decode(document["state"], tensors, str(state_file))
    return load(directory / MODEL_DIR), state


def rng_state(device: torch.device) -> dict[str, Any]:
    """The random generators' states: torch's (CPU, and ``device``'s when CUDA) of every process, Python's, NumPy's.

    A collective under ``torchrun``: every process calls it (rank 0 writes the result).
    """
    state: dict[str, Any] = {"torch": distributed.all_gather(torch.get_rng_state())}
    if device.type == "cuda":
        state["cuda"] = distributed.all_gather(torch.cuda.get_rng_state(device))
    state["python"] = random.getstate()
    state["numpy"] = np.random.get_state()  # noqa: NPY002 (the legacy global generator is what user code draws from)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore :func:`rng_state`'s generators; process ``r`` takes the state process ``r`` saved.

    A process the checkpoint has no state for (a run resumed on more processes)
    keeps its own: the run goes on, but not as the uninterrupted one would.
    """
    r = distributed.rank()
    if r < len(state["torch"]):
        torch.set_rng_state(state["torch"][r])
    if device.type == "cuda" and r < len(state.get("cuda", ())):
        torch.cuda.set_rng_state(state["cuda"][r], device)
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002


class Trainer:
    """What :func:`~pyro_autoregressive.training.fit` trains with, to and from a checkpoint's state."""

    def __init__(
        self,
        model: AutoregressiveModel,
        optimizer: torch.optim.Optimizer,
        schedule: Any,
        averaged: AveragedModel | None,
    ) -> None:
        self.model, self.optimizer, self.schedule, self.averaged = model, optimizer, schedule, averaged

    def state(self, device: torch.device, **progress: Any) -> dict[str, Any]:
        """``progress`` (the epoch, history, best weights) with the optimizer's, schedule's, average's and RNG states.

        A collective under ``torchrun`` (the processes' random states are gathered).
        """
        return {
            **progress,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.schedule is None else self.schedule.state_dict(),
            "averaged": None if self.averaged is None else self.averaged.state_dict(),
            "rng": rng_state(device),
            "world_size": distributed.world_size(),
        }

    def resume(self, path: Path) -> dict[str, Any]:
        """Load the checkpoint ``path`` into the model, optimizer, schedule, average and random generators.

        Returns the checkpoint's state (the progress given to :meth:`state` among it).
        A checkpoint of another model (class or configuration), or written with a
        schedule or an average where there is none (or the other way), is a ``ValueError``.
        """
        saved, state = read_checkpoint(path)
        if type(saved) is not type(self.model) or _as_json(saved.config()) != _as_json(self.model.config()):
            raise ValueError(
                f"resume: {os.fspath(path)!r} holds a checkpoint of another model: "
                f"{type(saved).__name__} {_as_json(saved.config())}, "
                f"not this {type(self.model).__name__} {_as_json(self.model.config())}"
            )
        for name, here, there in (
            ("scheduler", self.schedule, state["scheduler"]),
            ("ema_decay", self.averaged, state["averaged"]),
        ):
            if (here is None) != (there is None):
                have = "without" if there is None else "with"
                raise ValueError(f"{name}: the checkpoint {os.fspath(path)!r} was written {have} one; resume alike")
        self.model.load_state_dict(saved.state_dict())
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["scheduler"])
        if self.averaged is not None:
            self.averaged.load_state_dict(state["averaged"])
        set_rng_state(state["rng"], self.model.device)
        return state


def _as_json(config: dict[str, Any]) -> str:
    """A model config in one canonical form (tuples and lists alike, as in a saved file)."""
    return json.dumps(config, sort_keys=True)


def _encode(value: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    """``value`` as JSON, its tensors moved into ``tensors`` (named after their place ``where``)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        name = where if where not in tensors else f"{where}#{len(tensors)}"
        tensors[name] = value.detach().cpu().contiguous().clone()
        return {"__tensor__": name}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": {"dtype": str(value.dtype), "data": value.tolist()}}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{where}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{where}.{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and k not in _TAGS for k in value):
            return {k: _encode(v, tensors, f"{where}.{k}") for k, v in value.items()}
        return {
            "__items__": [[_encode(k, tensors, where), _encode(v, tensors, f"{where}.{k}")] for k, v in value.items()]
        }
    raise TypeError(
        f"{where}: a checkpoint holds tensors, numbers, strings, lists and dicts, got {type(value).__name__}"
    )


def _decode(value: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    """The inverse of :func:`_encode`."""
    if isinstance(value, list):
        return [_decode(v, tensors, where) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and next(iter(value)) in _TAGS:
        tag, content = next(iter(value.items()))
        if tag == "__tensor__":
            if content not in tensors:
                raise ValueError(f"{where}: refers to a tensor {content!r} that {TENSORS_NAME} lacks")
            return tensors[content]
        if tag == "__tuple__":
            return tuple(_decode(v, tensors, where) for v in content)
        if tag == "__ndarray__":
            return np.asarray(content["data"], dtype=content["dtype"])
        return {_decode(k, tensors, where): _decode(v, tensors, where) for k, v in content}
    return {k: _decode(v, tensors, where) for k, v in value.items()}
