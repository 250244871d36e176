"""Immutable JSON values, so documents can be frozen dataclasses all the way down.

Annotations, labels and the unknown fields anyarch carries through a config
are JSON objects; stored as plain dicts they could be changed behind a
"frozen" value's back and would make it unhashable.  :class:`FrozenMap` is a
read-only, hashable, order-keeping mapping; :func:`freeze` and :func:`thaw`
convert whole JSON trees (objects ↔ FrozenMap, arrays ↔ tuple).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

__all__ = ["FrozenMap", "freeze", "thaw"]

_V = TypeVar("_V")


class FrozenMap(Mapping[str, _V]):
    """A read-only mapping that keeps insertion order and is hashable."""

    __slots__ = ("_d", "_hash")

    def __init__(self, items: Mapping[str, _V] | Iterable[tuple[str, _V]] | None = None, /) -> None:
        self._d: dict[str, _V] = dict(items) if items is not None else {}
        self._hash: int | None = None

    def __getitem__(self, key: str) -> _V:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._d.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._d == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._d!r})"

    def to_dict(self) -> dict[str, _V]:
        """A shallow, mutable copy."""
        return dict(self._d)


def freeze(value: Any) -> Any:
    """A JSON value with every object made a :class:`FrozenMap` and every array a tuple."""
    if isinstance(value, Mapping):
        return FrozenMap((k, freeze(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of :func:`freeze`: plain dicts and lists, ready for ``json.dumps``."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value
