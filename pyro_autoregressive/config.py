"""Constructor arguments recorded once, generically, and the registries that ``load`` looks classes up in."""

from __future__ import annotations

import functools
import inspect
import numbers
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "record_arguments", "recorded_config", "registry_name"]

T = TypeVar("T")

_LIBRARY = __name__.rsplit(".", 1)[0] + "."  # "pyro_autoregressive."


def registry_name(cls: type) -> str:
    """The name a class is saved under: its own name for the library's classes, ``module.QualName`` for others.

    So a user's class named ``MADE`` (in ``__main__`` or a module of their own)
    can never stand in for the library's ``MADE`` when a file is loaded.
    """
    if cls.__module__.startswith(_LIBRARY):
        return cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


class Registry(Generic[T]):
    """Loadable classes by :func:`registry_name` (nothing is imported or executed from a file)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, type[T]] = {}

    def add(self, cls: type[T]) -> None:
        self._classes[registry_name(cls)] = cls

    def get(self, name: object, where: str) -> type[T]:
        if not isinstance(name, str) or name not in self._classes:
            raise ValueError(f"{where}: expected a {self.kind} 'type' in {sorted(self._classes)}, got {name!r}")
        return self._classes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._classes)


def record_arguments(cls: type) -> None:
    """Wrap ``cls.__init__`` so that every instance records the arguments of its constructor call.

    The outermost constructor (the instance's own class) wins; a constructor may
    replace an argument by the value it resolved it to (MADE's ``order="random"``
    by the permutation drawn) with ``self._resolved_arguments[name] = value``; a subclass whose own
    constructor does not take that argument cannot be saved (``recorded_config`` says so).
    Called from ``__init_subclass__``, so a new constructor argument is recorded
    without anyone writing it down.
    """
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, "_records_arguments", False):
        return
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(self, *args, **kwargs)
        arguments: dict[str, Any] = {}
        for name, parameter in list(signature.parameters.items())[1:]:
            value = bound.arguments[name]
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(value)
            elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
                if value:
                    arguments[f"*{name}"] = value  # refused by recorded_config: positional varargs have no name
            else:
                arguments[name] = value
        resolved = self.__dict__.get("_resolved_arguments", {})
        arguments.update({k: v for k, v in resolved.items() if k in arguments})
        # a value resolved inside (a random draw) that this constructor cannot be given back: refuse to save
        object.__setattr__(self, "_unrecordable", sorted(k for k in resolved if k not in arguments))
        object.__setattr__(self, "_init_arguments", arguments)

    wrapper._records_arguments = True  # type: ignore[attr-defined]
    cls.__init__ = wrapper  # type: ignore[misc]


def recorded_config(instance: object) -> dict[str, Any]:
    """``{"type": ..., **constructor arguments}`` of an instance, as JSON-serialisable values.

    Objects with a ``config()`` (a head) are stored as their config; tuples as
    lists; NumPy scalars as Python numbers. Anything else is a ``TypeError``
    naming the argument, raised when saving rather than when loading.
    """
    arguments = getattr(instance, "_init_arguments", None)
    if arguments is None and type(instance).__init__ is object.__init__:
        arguments = {}  # a class without a constructor of its own (Bernoulli)
    if arguments is None:
        raise TypeError(f"{type(instance).__name__}: no recorded constructor arguments (was __init__ bypassed?)")
    for name in getattr(instance, "_unrecordable", ()):
        raise TypeError(
            f"{name}: {type(instance).__name__}'s constructor resolved it (a random draw) but does not take it, so a "
            f"saved copy would draw again; add a '{name}' argument to the constructor, or pass a fixed value"
        )
    for name in arguments:
        if name.startswith("*"):
            raise TypeError(f"{name}: positional varargs of a constructor cannot be saved (they have no name)")
    return {"type": registry_name(type(instance)), **{k: _to_json(k, v) for k, v in arguments.items()}}


def _to_json(name: str, value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(name, v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _to_json(f"{name}.{k}", v) for k, v in value.items()}
    config = getattr(value, "config", None)
    if callable(config):
        return config()
    raise TypeError(
        f"{name}: a constructor argument must be JSON-serialisable (numbers, strings, lists, a head) to be saved, "
        f"got {type(value).__name__}"
    )
