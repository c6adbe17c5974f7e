"""The property-test table: every model registers tiny instances, one per head it supports.

Each :class:`Case` builds a fresh tiny model. The generic tests in
``test_properties.py`` run over all of them; a new model is done when it is
registered with every head it supports and the whole table passes.
Each model family registers its cases in its own ``tests/cases_<family>.py``
(collected at the bottom of this file).
Keep the event tiny: discrete cases are enumerated (``K ** values`` points),
continuous ones integrated one conditional (step and channel) at a time on a fine 1-d rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pyro_autoregressive as par
from pyro_autoregressive.heads import Bernoulli, Categorical, DiscretizedLogisticMixture, Normal, NormalMixture


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[], par.AutoregressiveModel]
    length: int | None = None  # for sequence models
    #: parameters that no value of this tiny event can reach (a one-row image has no rows above)
    unreached: tuple[str, ...] = ()

    def model(self) -> par.AutoregressiveModel:
        return self.build()


CASES: list[Case] = []


def register(
    id: str, build: Callable[[], par.AutoregressiveModel], length: int | None = None, unreached: tuple[str, ...] = ()
) -> None:
    CASES.append(Case(id, build, length, unreached))


def tiny_heads(continuous_ok: bool = True) -> dict[str, Callable[[], par.heads.Head]]:
    """One small instance of every head (small K so that events can be enumerated)."""
    heads: dict[str, Callable[[], par.heads.Head]] = {
        "categorical": lambda: Categorical(3),
        "bernoulli": Bernoulli,
        "logistic_mixture": lambda: DiscretizedLogisticMixture(2, num_classes=4),
    }
    if continuous_ok:
        heads |= {"normal": Normal, "normal_mixture": lambda: NormalMixture(2)}
    return heads


def num_event_values(model: par.AutoregressiveModel, case: Case) -> int:
    return math.prod(model.layout(case.length).event_shape)


def _collect() -> None:
    import importlib
    import pathlib

    for path in sorted(pathlib.Path(__file__).parent.glob("cases_*.py")):
        importlib.import_module(path.stem)


_collect()
