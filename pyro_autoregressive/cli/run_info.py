"""A run folder (``train --out RUN``) or a bare saved model: where the model is, and what it was trained on.

A run folder holds ``model/`` (``par.save``) and ``config.json`` (the run's record: the
model family and options, the data description of :class:`DataSpec`, the split and the
hyper-parameters); it may hold ``metrics.json`` too. A bare model directory holds only
``config.json`` and ``model.safetensors``: its data is inferred from the model's event shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..atomic import current_directory
from ..data import Split
from ..heads import DiscreteHead
from ..model import AutoregressiveModel
from ..persistence import CONFIG_NAME, WEIGHTS_NAME, load
from ..runs import CONFIG_NAME as RUN_CONFIG  # a run's record, its model directory and metrics in the run folder
from ..runs import METRICS_JSON as METRICS
from ..runs import MODEL as MODEL_DIR
from .data_spec import DataSpec

__all__ = ["MODEL_DIR", "RUN_CONFIG", "Run", "data_record", "find_model_dir", "open_run"]


def _is_model_dir(path: Path) -> bool:
    path = current_directory(path)
    return (path / CONFIG_NAME).is_file() and (path / WEIGHTS_NAME).is_file()


def find_model_dir(path: Path) -> Path | None:
    """The saved model of a run folder (``RUN/model``) or of a model directory itself; None if neither."""
    if _is_model_dir(path / MODEL_DIR):
        return path / MODEL_DIR
    if _is_model_dir(path):
        return path
    return None


@dataclass
class Run:
    """What ``sample``, ``evaluate`` and ``info`` know of a run or a bare model.

    :param model: the loaded model (eval mode).
    :param spec: the data it was trained on (recorded), or as inferred from the model's event shape.
    :param record: the run's ``config.json`` (empty for a bare model).
    :param metrics: the run's ``metrics.json`` (empty if none).
    """

    path: Path
    model_dir: Path
    model: AutoregressiveModel
    spec: DataSpec
    record: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def is_run(self) -> bool:
        return self.model_dir != self.path

    @property
    def split(self) -> dict[str, Any] | None:
        """The recorded split (``Split.to_dict``), or None."""
        split = self.record.get("split")
        return split if isinstance(split, dict) and {"train", "val", "test"} <= set(split) else None


def data_record(spec: DataSpec, split: Split) -> dict[str, Any]:
    """What a run's ``config.json`` records of its data for ``sample``, ``evaluate`` and ``info``.

    ``{"data": spec.to_dict(), "split": split.to_dict()}``: the kind, event shape, levels,
    labels, rate and encoding, the ``load_data`` keywords that reload it, and the split.
    """
    return {"data": spec.to_dict(), "split": split.to_dict()}


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable JSON record ({error})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(record).__name__}")
    return record


def open_run(path: str | Path, map_location: str | torch.device | None = None) -> Run:
    """Load the model of a run folder or model directory, with what is known of its data.

    A run whose ``config.json`` has no usable data description is treated as a bare model.
    """
    path = Path(path)
    model_dir = find_model_dir(path)
    if model_dir is None:
        raise ValueError(f"{path}: no run or saved model (expected RUN/model/{CONFIG_NAME} or {CONFIG_NAME})")
    if model_dir == path and path.name == MODEL_DIR and (path.parent / RUN_CONFIG).is_file():
        path = path.parent  # RUN/model given: the run it belongs to
    model = load(model_dir, map_location=map_location).eval()
    if not isinstance(model.head, DiscreteHead):
        raise ValueError(
            f"{path}: the command line works with models over levels (Categorical, Bernoulli, "
            f"DiscretizedLogisticMixture heads), got the continuous head {model.head!r}"
        )
    record = _read_json(path / RUN_CONFIG) if model_dir != path else {}
    metrics = _read_json(path / METRICS) if model_dir != path else {}
    data = record.get("data")
    spec = DataSpec.from_dict(data) if isinstance(data, dict) and "kind" in data else DataSpec.of_model(model)
    return Run(path, model_dir, model, spec, record, metrics)
