"""Changing a frozen state record: the core builds a new state for every event it applies."""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


@cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


def changed(record: T, **changes: Any) -> T:
    """``dataclasses.replace`` without running ``__init__`` again: the state records have nothing to check there
    (no ``__post_init__``), and replace was the largest single cost of a schedule's firing."""
    cls = type(record)
    unknown = changes.keys() - _field_names(cls)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    if hasattr(cls, "__post_init__"):
        return dataclasses.replace(record, **changes)  # type: ignore[type-var]
    copy = object.__new__(cls)
    copy.__dict__.update(record.__dict__)
    copy.__dict__.update(changes)
    return copy
