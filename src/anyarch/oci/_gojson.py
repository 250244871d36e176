"""A JSON reader that accepts exactly what Go's ``encoding/json`` accepts.

The image-spec validator anyarch mirrors is written in Go, so "is this valid
JSON" must get Go's answer, not Python's: :func:`json.loads` takes ``NaN``,
Unicode digits in numbers (through its pure-Python scanner), a UTF-8
byte-order mark, and stops at ~1000 levels of nesting where Go allows 10000.
This reader follows Go's scanner instead, and it keeps what later checks need
to see the document as Go does:

- every member of an object in order, duplicates included (:class:`GoObject`),
  because Go's struct decoding visits each copy;
- whether a string was written with escapes (:class:`EscapedStr`), because
  Go's ``time.Time`` decoder reads the raw text between the quotes;
- integer literals as :class:`int`, other numbers as :class:`float`, because
  Go's integer fields refuse ``1.0`` and ``1e3``.

Invalid UTF-8 inside strings becomes U+FFFD, as in Go.
"""

from __future__ import annotations

import json.decoder
import re
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_DEPTH", "EscapedStr", "GoJSONError", "GoObject", "loads"]

#: encoding/json's maxNestingDepth.
MAX_DEPTH = 10000

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


# The C scanner's string decoder (typeshed does not declare it): it accepts
# only ASCII hex in \u escapes and refuses control characters, as Go does.
_scanstring: Callable[[str, int, bool], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009


class GoJSONError(ValueError):
    """The input is not JSON as Go reads it."""


class EscapedStr(str):
    """A string value whose JSON text used at least one backslash escape."""

    __slots__ = ()


class GoObject:
    """A JSON object: ``pairs`` in document order (duplicates kept), ``last`` as Go maps see it."""

    __slots__ = ("last", "pairs")

    def __init__(self) -> None:
        self.pairs: list[tuple[str, Any]] = []
        self.last: dict[str, Any] = {}

    def add(self, key: str, value: Any) -> None:
        self.pairs.append((key, value))
        self.last[key] = value


def _string(s: str, i: int) -> tuple[str, int]:
    """The string whose opening quote is at ``i - 1``; returns ``(value, index after it)``."""
    try:
        value, end = _scanstring(s, i, True)
    except ValueError as e:
        raise GoJSONError(f"bad string at offset {i - 1}: {e}") from None
    if "\\" in s[i : end - 1]:
        return EscapedStr(value), end
    return value, end


def _key(s: str, i: int) -> tuple[str, int]:
    if i >= len(s) or s[i] != '"':
        raise GoJSONError(f"expected an object key at offset {i}")
    key, i = _string(s, i + 1)
    i = _WS.match(s, i).end()  # type: ignore[union-attr]
    if i >= len(s) or s[i] != ":":
        raise GoJSONError(f"expected ':' after object key at offset {i}")
    return str(key), _WS.match(s, i + 1).end()  # type: ignore[union-attr]


def loads(raw: bytes) -> Any:
    """Parse ``raw`` (UTF-8) as one JSON value; raise :class:`GoJSONError` where Go would fail."""
    s = raw.decode("utf-8", errors="replace")
    n = len(s)
    ws = _WS.match
    i = ws(s, 0).end()  # type: ignore[union-attr]
    stack: list[tuple[GoObject | list[Any], str]] = []
    while True:
        # --- one value starts at i -------------------------------------------
        if i >= n:
            raise GoJSONError("unexpected end of JSON input")
        c = s[i]
        value: Any
        if c in "{[":
            if len(stack) + 1 > MAX_DEPTH:
                raise GoJSONError(f"exceeded max depth of {MAX_DEPTH}")
            i = ws(s, i + 1).end()  # type: ignore[union-attr]
            if c == "{":
                obj = GoObject()
                if i < n and s[i] == "}":
                    value, i = obj, i + 1
                else:
                    key, i = _key(s, i)
                    stack.append((obj, key))
                    continue
            else:
                arr: list[Any] = []
                if i < n and s[i] == "]":
                    value, i = arr, i + 1
                else:
                    stack.append((arr, ""))
                    continue
        elif c == '"':
            value, i = _string(s, i + 1)
        elif c == "-" or "0" <= c <= "9":
            m = _NUMBER.match(s, i)
            if m is None:
                raise GoJSONError(f"bad number at offset {i}")
            text = m.group(0)
            value = float(text) if (m.group(1) or m.group(2)) else int(text)
            i = m.end()
        elif s.startswith("true", i):
            value, i = True, i + 4
        elif s.startswith("false", i):
            value, i = False, i + 5
        elif s.startswith("null", i):
            value, i = None, i + 4
        else:
            raise GoJSONError(
                f"invalid character {c!r} looking for beginning of value at offset {i}"
            )
        # --- the value is complete: hand it to its container(s) ----------------
        while True:
            i = ws(s, i).end()  # type: ignore[union-attr]
            if not stack:
                if i != n:
                    raise GoJSONError(f"invalid character {s[i]!r} after top-level value")
                return value
            container, key = stack[-1]
            if isinstance(container, GoObject):
                container.add(key, value)
                closing = "}"
            else:
                container.append(value)
                closing = "]"
            if i >= n:
                raise GoJSONError("unexpected end of JSON input")
            if s[i] == ",":
                i = ws(s, i + 1).end()  # type: ignore[union-attr]
                if isinstance(container, GoObject):
                    key, i = _key(s, i)
                    stack[-1] = (container, key)
                break
            if s[i] == closing:
                stack.pop()
                value, i = container, i + 1
                continue
            raise GoJSONError(
                f"invalid character {s[i]!r} after {'object member' if closing == '}' else 'array element'}"
            )
