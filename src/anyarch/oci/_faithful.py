"""Typed views of JSON objects that re-encode without losing anything.

An image config read from a registry and written back (after adding a layer,
an ENV, a label) must keep what anyarch does not model — Docker's
``container_config``, ``Hostname``, a future field — and should keep the
*form* of what it does model: ``"Volumes": null`` stays ``null``, ``"User": ""``
stays ``""``.  Each record therefore remembers the JSON it was read from
(``orig``); when encoding, a field whose typed value still equals what ``orig``
decodes to is copied from ``orig`` verbatim, and only changed fields are
rendered from the typed value.  Unknown keys live in ``extra``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anyarch.oci._frozen import FrozenMap, freeze, thaw
from anyarch.oci._jsonread import Fields, fail


@dataclass(frozen=True, slots=True)
class Spec:
    """How one JSON member maps to one typed attribute."""

    attr: str
    key: str
    read: Callable[[Fields, str], Any]
    write: Callable[[Any], Any]
    omit: Callable[[Any], bool]


def decode(
    f: Fields, specs: Sequence[Spec]
) -> tuple[dict[str, Any], FrozenMap[Any], FrozenMap[Any]]:
    """``(typed values by attr, orig known members, extra unknown members)`` of one object."""
    known = {s.key for s in specs}
    values = {s.attr: s.read(f, s.key) for s in specs}
    orig = FrozenMap((k, freeze(v)) for k, v in f.obj.items() if k in known)
    extra = FrozenMap((k, freeze(v)) for k, v in f.obj.items() if k not in known)
    return values, orig, extra


def encode(
    values: Mapping[str, Any],
    specs: Sequence[Spec],
    orig: Mapping[str, Any],
    extra: Mapping[str, Any],
    what: str,
) -> dict[str, Any]:
    """The JSON object for ``values``, reusing ``orig``'s form for unchanged members."""
    out: dict[str, Any] = {}
    for s in specs:
        value = values[s.attr]
        if s.key in orig:
            before = s.read(Fields({s.key: thaw(orig[s.key])}, what), s.key)
            if before == value:
                out[s.key] = thaw(orig[s.key])
                continue
        if not s.omit(value):
            out[s.key] = s.write(value)
    for k, v in extra.items():
        if k in out or any(s.key == k for s in specs):
            fail(
                what,
                f"extra field {k!r} collides with a modelled field",
                "set it through its attribute",
            )
        out[k] = thaw(v)
    return out


# --- readers / writers used by the specs ------------------------------------


def read_str(f: Fields, key: str) -> str | None:
    return f.opt_str(key)


def read_int(f: Fields, key: str) -> int | None:
    return f.opt_int(key)


def read_bool(f: Fields, key: str) -> bool | None:
    return f.opt_bool(key)


def read_strs(f: Fields, key: str) -> tuple[str, ...]:
    return f.opt_str_list(key) or ()


def read_strs_or_none(f: Fields, key: str) -> tuple[str, ...] | None:
    return f.opt_str_list(key)


def read_set(f: Fields, key: str) -> tuple[str, ...]:
    return f.opt_set(key) or ()


def read_str_map(f: Fields, key: str) -> FrozenMap[str]:
    return FrozenMap(f.opt_str_map(key) or {})


def same(v: Any) -> Any:
    return v


def as_list(v: Sequence[Any]) -> list[Any]:
    return list(v)


def as_set(v: Sequence[str]) -> dict[str, Any]:
    return {k: {} for k in v}


def as_dict(v: Mapping[str, str]) -> dict[str, str]:
    return dict(v)


def is_none(v: Any) -> bool:
    return v is None


def is_empty(v: Any) -> bool:
    return not v
