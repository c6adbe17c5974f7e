"""What a model is trained on: the kind of data, its event shape and levels, its labels (recorded in a run)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..data import Dataset
    from ..model import AutoregressiveModel

__all__ = ["KINDS", "DataSpec"]

#: the kinds of data (as :data:`pyro_autoregressive.data.KINDS`)
KINDS = ("image", "audio", "text", "sequence")


@dataclass(frozen=True)
class DataSpec:
    """The data a model was made for: enough to build the model and to write its samples.

    :param kind: ``"image"``, ``"audio"``, ``"text"`` or ``"sequence"``.
    :param event_shape: one item of the data: ``(C, H, W)`` or ``(T,)`` (a MADE's own event is flat).
    :param levels: values ``0..levels-1``.
    :param num_classes: class labels given as one-hot ``context`` (``0``: none).
    :param sample_rate: audio's samples per second.
    :param audio_encoding: how audio levels map to samples (``"mu-law"`` or ``"linear"``).
    :param class_names: the labels' names, where the data has them.
    :param load: the ``load_data`` keywords that reload the data (``Dataset.description``); empty for
        a bare model, whose data is not known.
    """

    kind: str
    event_shape: tuple[int, ...]
    levels: int
    num_classes: int = 0
    sample_rate: int | None = None
    audio_encoding: str = "mu-law"
    class_names: list[str] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dataset(cls, dataset: Dataset, *, labels: bool = True) -> DataSpec:
        """The spec of a loaded data set (its labels dropped unless ``labels``)."""
        description = dict(dataset.description)
        return cls(
            kind=dataset.kind,
            event_shape=tuple(dataset.event_shape),
            levels=dataset.levels,
            num_classes=dataset.num_classes if labels else 0,
            sample_rate=dataset.sample_rate,
            audio_encoding=description.get("audio_encoding", "mu-law"),
            class_names=list(dataset.info.get("classes") or []) if labels else [],
            load=description,
        )

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> DataSpec:
        """The spec recorded by :meth:`to_dict` (a run's ``config.json``); a ``ValueError`` names a bad key."""
        if not isinstance(record, dict):
            raise ValueError(f"data: expected the recorded data description (a JSON object), got {record!r}")
        known = {f for f in cls.__dataclass_fields__}
        missing = sorted({"kind", "event_shape", "levels"} - set(record))
        if missing:
            raise ValueError(f"data: the recorded data description lacks {missing}")
        spec = cls(**{k: v for k, v in record.items() if k in known})
        if spec.kind not in KINDS:
            raise ValueError(f"data: kind: expected one of {', '.join(KINDS)}, got {spec.kind!r}")
        if not isinstance(spec.event_shape, (list, tuple)) or not all(isinstance(n, int) for n in spec.event_shape):
            raise ValueError(f"data: event_shape: expected a list of ints, got {spec.event_shape!r}")
        return cls(**{**asdict(spec), "event_shape": tuple(spec.event_shape)})

    @classmethod
    def of_model(cls, model: AutoregressiveModel) -> DataSpec:
        """What a bare saved model's data must be, from its event shape alone.

        ``(C, H, W)`` is an image; ``(T,)`` a sequence (whether it is audio or text is not known);
        labels are assumed one-hot when the model takes a ``context``.
        """
        shape = tuple(model.layout().event_shape)
        levels = model.head.num_classes  # a discrete head: open_run checks
        kind = "image" if len(shape) == 3 else "sequence"
        return cls(kind=kind, event_shape=shape, levels=levels, num_classes=model.context_size)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for a run's ``config.json``."""
        return {**asdict(self), "event_shape": list(self.event_shape)}

    @property
    def is_image(self) -> bool:
        return self.kind == "image"

    @property
    def dims(self) -> int:
        """Values per item (pixels x channels, or steps)."""
        return math.prod(self.event_shape)

    @property
    def source(self) -> str:
        """Where the data came from (a built-in's name, a path), or ``"?"`` for a bare model."""
        return str(self.load.get("source", "?"))

    def describe(self) -> str:
        """One line: kind, shape, levels, labels, rate, source."""
        parts = [f"{self.kind} {tuple(self.event_shape)}", f"{self.levels} levels"]
        if self.num_classes:
            parts.append(f"{self.num_classes} classes as context")
        if self.sample_rate:
            parts.append(f"{self.sample_rate} Hz {self.audio_encoding}")
        return f"{', '.join(parts)} (from {self.source})"
