"""The Go library checks the image-spec validator runs, re-stated in Python.

Upstream's validator (``schema/validator.go``, Go module ``schema`` with
``go 1.21``) decodes a document with ``encoding/json`` into the image-spec Go
types and then checks it with santhosh-tekuri/jsonschema v6, which asserts
``format`` for draft-04 schemas.  Four library behaviours decide cases that a
plain JSON-schema check gets wrong; each function here answers exactly the
question the Go code answers, and names the Go function it follows:

- :func:`created_ok` — ``time.Time.UnmarshalJSON`` (``time.Parse(RFC3339)`` on the
  raw text, escapes not decoded) *and* jsonschema's ``date-time`` format;
- :func:`uri_ok` — jsonschema's ``uri`` format: ``net/url.Parse`` succeeds, the
  URL is absolute, and an IPv6 host is bracketed and valid;
- :func:`base64_ok` — ``base64.StdEncoding.Decode`` as ``encoding/json`` uses it for ``[]byte``;
- :func:`digest_problem` — ``go-digest`` v1.0.0 ``Digest.Validate``.

Where Go versions differ (net/url gained IP-literal checks later), the
behaviour of the Go 1.21 standard library is the one followed.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["base64_ok", "created_ok", "digest_problem", "uri_ok"]

# --- time -------------------------------------------------------------------

# What both Go's time.Parse(time.RFC3339, raw) and jsonschema's date-time accept:
# Go allows a one-digit hour, a comma before the fraction and offsets up to
# 24:60 but not lower-case t/z or leap seconds; jsonschema the reverse.
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.[0-9]+)?(?:Z|[+-]([0-9]{2}):([0-9]{2}))\Z"
)
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in(month: int, year: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS[month - 1]


def created_ok(value: str, *, escaped: bool = False) -> bool:
    """Whether a ``created`` string passes both Go's time decoding and the date-time format.

    ``escaped`` says the JSON text used backslash escapes: Go parses the raw
    text between the quotes, so any escape makes it fail.
    """
    if escaped:
        return False
    m = _DATE_TIME.match(value)
    if m is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not 1 <= month <= 12 or not 1 <= day <= _days_in(month, year):
        return False
    if hour > 23 or minute > 59 or second > 59:
        return False
    offset_hour, offset_minute = m.group(7), m.group(8)
    return offset_hour is None or (int(offset_hour) <= 23 and int(offset_minute) <= 59)


# --- base64 -----------------------------------------------------------------

_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")


def base64_ok(value: str) -> bool:
    """``base64.StdEncoding.Decode``: padded standard alphabet; CR and LF skipped anywhere."""
    return _BASE64.match(value.replace("\r", "").replace("\n", "")) is not None


# --- go-digest v1.0.0 -------------------------------------------------------

_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+\Z")
# go-digest v1.0.0 knows sha384 too, and crypto/sha512 (which provides it) is
# linked into the validator through net/http, so sha384 is checked as well.
_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}
_LOWER_HEX = re.compile(r"[a-f0-9]+\Z")


def digest_problem(d: str) -> str | None:
    """Why ``Digest.Validate`` fails, or ``None`` (also for unsupported algorithms, which upstream ignores)."""
    i = d.find(":")
    if i <= 0 or i + 1 == len(d):
        return f"digest {d!r} is not of the form algorithm:encoded"
    algorithm, encoded = d[:i], d[i + 1 :]
    length = _HEX_LENGTH.get(algorithm)
    if length is None:
        if _DIGEST.match(d) is None:
            return f"digest {d!r} is not of the form algorithm:encoded"
        return None
    if len(encoded) != length:
        return f"digest {d!r}: {algorithm} needs {length} hex characters"
    if _LOWER_HEX.match(encoded) is None:
        return f"digest {d!r}: {algorithm} needs lower-case hex"
    return None


# --- net/url (Go 1.21) + jsonschema "uri" -----------------------------------

_HOST_OK = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!$&'()*+,;=:[]<>\"-_.~"
)
_USERINFO_OK = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:~!$&'()*+,;=%@"
)
_HEX = frozenset("0123456789abcdefABCDEF")


class _URLError(Exception):
    pass


def _unescape(s: str, mode: str) -> str:
    """``net/url.unescape``: validate ``%XX`` escapes (and host characters); return the text."""
    out: list[str] = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "%":
            if i + 2 >= n or s[i + 1] not in _HEX or s[i + 2] not in _HEX:
                raise _URLError("invalid URL escape")
            v = int(s[i + 1 : i + 3], 16)
            if mode == "host" and v < 0x80 and s[i : i + 3] != "%25":
                raise _URLError("invalid URL escape in host")
            if (
                mode == "zone"
                and s[i : i + 3] != "%25"
                and v != 0x20
                and (v >= 0x80 or chr(v) not in _HOST_OK)
            ):
                raise _URLError("invalid URL escape in zone")
            out.append(chr(v))
            i += 3
            continue
        if mode in ("host", "zone") and ord(c) < 0x80 and c not in _HOST_OK:
            raise _URLError(f"invalid character {c!r} in host name")
        out.append(c)
        i += 1
    return "".join(out)


def _valid_optional_port(port: str) -> bool:
    return port == "" or (port[0] == ":" and all("0" <= c <= "9" for c in port[1:]))


def _parse_host(host: str) -> str:
    if host.startswith("["):
        i = host.rfind("]")
        if i < 0:
            raise _URLError("missing ']' in host")
        if not _valid_optional_port(host[i + 1 :]):
            raise _URLError("invalid port after host")
        zone = host.find("%25", 0, i)
        if zone >= 0:
            return (
                _unescape(host[:zone], "host")
                + _unescape(host[zone:i], "zone")
                + _unescape(host[i:], "host")
            )
    else:
        i = host.rfind(":")
        if i != -1 and not _valid_optional_port(host[i:]):
            raise _URLError("invalid port after host")
    return _unescape(host, "host")


def _parse_authority(authority: str) -> str:
    i = authority.rfind("@")
    host = _parse_host(authority[i + 1 :] if i >= 0 else authority)
    if i < 0:
        return host
    userinfo = authority[:i]
    if any(c not in _USERINFO_OK for c in userinfo):
        raise _URLError("invalid userinfo")
    for part in userinfo.split(":", 1):
        _unescape(part, "userinfo")
    return host


def _scheme(raw: str) -> tuple[str, str]:
    for i, c in enumerate(raw):
        if "a" <= c <= "z" or "A" <= c <= "Z":
            continue
        if "0" <= c <= "9" or c in "+-.":
            if i == 0:
                return "", raw
            continue
        if c == ":":
            if i == 0:
                raise _URLError("missing protocol scheme")
            return raw[:i], raw[i + 1 :]
        return "", raw
    return "", raw


def _go_url_parse(raw: str) -> tuple[str, str]:
    """``net/url.Parse``: ``(scheme, host)`` or :class:`_URLError`."""
    u, _, frag = raw.partition("#")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in u):
        raise _URLError("invalid control character in URL")
    if u == "*":
        return "", ""
    scheme, rest = _scheme(u)
    scheme = scheme.lower()
    host = ""
    # A lone trailing "?" is ForceQuery; otherwise the query starts at the first "?".
    rest = rest[:-1] if rest.endswith("?") and rest.count("?") == 1 else rest.partition("?")[0]
    if not rest.startswith("/"):
        if scheme:
            rest = ""  # an opaque URL: nothing more is checked
        elif ":" in rest.partition("/")[0]:
            raise _URLError("first path segment in URL cannot contain colon")
    if (scheme or not rest.startswith("///")) and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        host = _parse_authority(authority)
        rest = slash + path
    _unescape(rest, "path")
    if frag:
        _unescape(frag, "fragment")
    return scheme, host


def _hostname(host: str) -> str:
    """``url.URL.Hostname``: the host without a valid port and without brackets."""
    colon = host.rfind(":")
    if colon != -1 and _valid_optional_port(host[colon:]):
        host = host[:colon]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def uri_ok(value: str) -> bool:
    """jsonschema's ``uri`` format (santhosh-tekuri v6 ``validateURI``)."""
    try:
        scheme, host = _go_url_parse(value)
    except _URLError:
        return False
    name = _hostname(host)
    if ":" in name:
        if "[" not in host or "]" not in host or "%" in name:
            return False
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return False
    return scheme != ""
