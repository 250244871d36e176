"""An immutable, ordered environment: BuildKit's ``llb.EnvList``.

A RUN step sees the stage's environment in a definite order (it is part of
its cache key), and BuildKit's rule is "last definition wins and moves to the
end": ``AddOrReplace`` appends, and listing walks from the newest entry.
Each ENV/ARG returns a new list, so the state before a step can be kept with
the step.  Lookups go through a plain ``dict``, which the word expander
accepts as an environment without conversion.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["EnvList", "split_env"]


def split_env(entry: str) -> tuple[str, str]:
    """``K=V`` into (K, V); an entry without ``=`` is an empty value (BuildKit's ``parseKeyValue``)."""
    key, _, value = entry.partition("=")
    return key, value


class EnvList:
    """Ordered ``name -> value``; every change returns a new list."""

    __slots__ = ("_values",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        values: dict[str, str] = {}
        for key, value in items:
            values.pop(key, None)
            values[key] = value
        self._values = values

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> EnvList:
        """From ``K=V`` strings (an image config's ``Env``)."""
        return cls(split_env(e) for e in entries)

    def set(self, key: str, value: str) -> EnvList:
        """A copy with ``key`` set to ``value`` and moved to the end."""
        values = dict(self._values)
        values.pop(key, None)
        values[key] = value
        new = EnvList.__new__(EnvList)
        new._values = values
        return new

    def delete(self, key: str) -> EnvList:
        """A copy without ``key``."""
        if key not in self._values:
            return self
        values = dict(self._values)
        del values[key]
        new = EnvList.__new__(EnvList)
        new._values = values
        return new

    def get(self, key: str, /) -> str | None:
        """The value of ``key``, or None (the word expander's ``EnvGetter``)."""
        return self._values.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> tuple[str, ...]:
        """Names in order."""
        return tuple(self._values)

    def items(self) -> tuple[tuple[str, str], ...]:
        """(name, value) pairs in order."""
        return tuple(self._values.items())

    @property
    def mapping(self) -> dict[str, str]:
        """The underlying dict, for lookups only (never mutate it)."""
        return self._values

    def entries(self) -> tuple[str, ...]:
        """``K=V`` strings in order, as a process environment."""
        return tuple(f"{k}={v}" for k, v in self._values.items())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnvList) and list(self._values.items()) == list(
            other._values.items()
        )

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def __repr__(self) -> str:
        return f"EnvList({list(self._values.items())!r})"
