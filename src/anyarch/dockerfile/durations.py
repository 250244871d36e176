"""Go's ``time.ParseDuration`` and ``Duration.String``, for HEALTHCHECK.

``HEALTHCHECK --interval=1m30s`` is parsed by BuildKit with Go's duration
parser, and the image history records the result with Go's ``%v`` of a
``time.Duration`` (``1m30s``, ``500ms``, ``0s``).  Users copy these values
between Docker and anyarch, so both directions follow Go exactly: the same
accepted syntax (``1.5h``, ``-3s``, ``2h45m``, ``300µs``), the same overflow
limits and the same error texts.  Durations are integer nanoseconds.
"""

from __future__ import annotations

from anyarch.dockerfile._gotext import go_quote

__all__ = ["DurationError", "format_duration", "parse_duration"]

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # U+00B5 micro sign
    "\u03bcs": 1_000,  # U+03BC Greek small letter mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_LIMIT = 1 << 63
_DIGITS = "0123456789"


class DurationError(ValueError):
    """A duration Go would refuse; the message is Go's."""


def _leading_int(s: str) -> tuple[int, str]:
    value = 0
    i = 0
    while i < len(s) and s[i] in _DIGITS:
        if value > _LIMIT // 10:
            raise OverflowError
        value = value * 10 + ord(s[i]) - 48
        if value > _LIMIT:
            raise OverflowError
        i += 1
    return value, s[i:]


def _leading_fraction(s: str) -> tuple[int, float, str]:
    value = 0
    scale = 1.0
    overflow = False
    i = 0
    while i < len(s) and s[i] in _DIGITS:
        if not overflow:
            if value > (_LIMIT - 1) // 10:
                overflow = True
            else:
                candidate = value * 10 + ord(s[i]) - 48
                if candidate >= _LIMIT:
                    overflow = True
                else:
                    value = candidate
                    scale *= 10
        i += 1
    return value, scale, s[i:]


def parse_duration(text: str) -> int:
    """Nanoseconds in ``text`` (``[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+``), as Go parses it."""
    invalid = DurationError(f"time: invalid duration {go_quote(text)}")
    s = text
    negative = False
    if s and s[0] in "-+":
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if s[0] != "." and s[0] not in _DIGITS:
            raise invalid
        before = len(s)
        try:
            whole, s = _leading_int(s)
        except OverflowError:
            raise invalid from None
        pre = before != len(s)
        fraction, scale, post = 0, 1.0, False
        if s and s[0] == ".":
            s = s[1:]
            before = len(s)
            fraction, scale, s = _leading_fraction(s)
            post = before != len(s)
        if not pre and not post:
            raise invalid
        i = 0
        while i < len(s) and s[i] != "." and s[i] not in _DIGITS:
            i += 1
        if i == 0:
            raise DurationError(f"time: missing unit in duration {go_quote(text)}")
        unit_name, s = s[:i], s[i:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise DurationError(
                f"time: unknown unit {go_quote(unit_name)} in duration {go_quote(text)}"
            )
        if whole > _LIMIT // unit:
            raise invalid
        whole *= unit
        if fraction > 0:
            whole += int(float(fraction) * (float(unit) / scale))
            if whole > _LIMIT:
                raise invalid
        total += whole
        if total > _LIMIT:
            raise invalid
    if negative:
        return -total
    if total > _LIMIT - 1:
        raise invalid
    return total


def _with_fraction(value: int, precision: int) -> str:
    whole, fraction = divmod(value, 10**precision)
    digits = str(fraction).rjust(precision, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def format_duration(nanoseconds: int) -> str:
    """Go's ``Duration.String``: ``1h0m0s``, ``1m30s``, ``1.5s``, ``500ms``, ``0s``."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    u = abs(nanoseconds)
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_with_fraction(u, 3)}\u00b5s"
    if u < 1_000_000_000:
        return f"{sign}{_with_fraction(u, 6)}ms"
    seconds = _with_fraction(u % (60 * 10**9), 9) + "s"
    minutes = u // (60 * 10**9)
    if minutes == 0:
        return sign + seconds
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{f'{hours}h' if hours else ''}{minutes}m{seconds}"
