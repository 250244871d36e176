"""Strict JSON decoding and typed field access for the document model.

Documents come from registries and other tools, so every read names what was
wrong and where (``manifest: layers[2].size must be an integer``).  Decoding
is stricter than :func:`json.loads`:

- the bytes must be UTF-8 with no byte-order mark;
- ``NaN``/``Infinity`` (not JSON) are refused;
- a key repeated in one object is refused: parsers disagree on which copy
  wins, and a document that means one thing to anyarch and another to a
  registry or runtime is an attack vector.

``null`` reads as "absent" for optional fields, as Go's decoder (which wrote
most documents in the wild) treats it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

from anyarch.errors import InvalidDocumentError

_HINT = "the document is malformed; check the tool or registry that produced it"


def fail(what: str, problem: str, hint: str = _HINT) -> NoReturn:
    """Raise the one error every model parser raises."""
    raise InvalidDocumentError(f"invalid {what}: {problem}", hint=hint)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} appears twice in one object")
        out[k] = v
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_object(raw: bytes, what: str) -> dict[str, Any]:
    """Decode ``raw`` as one JSON object."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        fail(what, f"expected bytes, got {type(raw).__name__}")
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as e:
        fail(what, f"not UTF-8 ({e.reason} at byte {e.start})")
    if text.startswith("\ufeff"):
        fail(what, "starts with a byte-order mark, which JSON forbids")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except RecursionError:
        fail(what, "nested too deeply")
    except ValueError as e:
        fail(what, f"not valid JSON: {e}")
    if not isinstance(value, dict):
        fail(what, f"expected a JSON object, got {json_type(value)}")
    return value


def json_type(v: Any) -> str:
    """The JSON name of a decoded value's type."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple):
        return "array"
    if isinstance(v, Mapping):
        return "object"
    return type(v).__name__


class Fields:
    """Typed access to one JSON object of a document, with error messages naming the path."""

    __slots__ = ("obj", "path", "what")

    def __init__(self, obj: Mapping[str, Any], what: str, path: str = "") -> None:
        self.obj = obj
        self.what = what
        self.path = path

    def where(self, key: str | int) -> str:
        """The display path of a member."""
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def wrong(self, key: str, expected: str) -> NoReturn:
        fail(self.what, f"{self.where(key)} must be {expected}, not {json_type(self.obj[key])}")

    def missing(self, key: str) -> NoReturn:
        fail(self.what, f"{self.where(key)} is required")

    def child(self, key: str) -> Fields | None:
        v = self.obj.get(key)
        if v is None:
            return None
        if not isinstance(v, Mapping):
            self.wrong(key, "an object")
        return Fields(v, self.what, self.where(key))

    def opt_str(self, key: str) -> str | None:
        v = self.obj.get(key)
        if v is None or isinstance(v, str):
            return v
        self.wrong(key, "a string")

    def req_str(self, key: str) -> str:
        v = self.opt_str(key)
        if v is None:
            self.missing(key)
        return v

    def opt_int(self, key: str) -> int | None:
        v = self.obj.get(key)
        if v is None:
            return None
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        self.wrong(key, "an integer")

    def req_int(self, key: str) -> int:
        v = self.opt_int(key)
        if v is None:
            self.missing(key)
        return v

    def opt_bool(self, key: str) -> bool | None:
        v = self.obj.get(key)
        if v is None or isinstance(v, bool):
            return v
        self.wrong(key, "a boolean")

    def opt_list(self, key: str) -> list[Any] | None:
        v = self.obj.get(key)
        if v is None or isinstance(v, list):
            return v
        self.wrong(key, "an array")

    def opt_str_list(self, key: str) -> tuple[str, ...] | None:
        v = self.opt_list(key)
        if v is None:
            return None
        for i, item in enumerate(v):
            if not isinstance(item, str):
                fail(self.what, f"{self.where(key)}[{i}] must be a string, not {json_type(item)}")
        return tuple(v)

    def opt_str_map(self, key: str) -> dict[str, str] | None:
        v = self.obj.get(key)
        if v is None:
            return None
        if not isinstance(v, Mapping):
            self.wrong(key, "an object")
        for k, item in v.items():
            if not isinstance(item, str):
                fail(self.what, f"{self.where(key)}[{k!r}] must be a string, not {json_type(item)}")
        return dict(v)

    def opt_set(self, key: str) -> tuple[str, ...] | None:
        """A Go ``map[string]struct{}`` (ExposedPorts, Volumes): the keys, values must be objects."""
        v = self.obj.get(key)
        if v is None:
            return None
        if not isinstance(v, Mapping):
            self.wrong(key, "an object")
        for k, item in v.items():
            if item is not None and not isinstance(item, Mapping):
                fail(
                    self.what, f"{self.where(key)}[{k!r}] must be an object, not {json_type(item)}"
                )
        return tuple(v)
