"""``WWW-Authenticate`` challenges (RFC 7235) as registries send them.

A registry tells us how to authenticate only by refusing us: ``Basic
realm=...`` for htpasswd-style auth, ``Bearer realm=...,service=...,scope=...``
for the token flow of the distribution spec.  Scope values contain commas
and colons inside quotes, so a naive ``split(",")`` breaks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A pattern, compiled (and cached by ``re``) on first use: only registries that ask
# for credentials send challenges, and every registry command would pay to compile it.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"


@dataclass(frozen=True, slots=True)
class Challenge:
    """One auth scheme and its parameters (names lower-cased)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes the registry asked for (space separated in the header)."""
        return tuple(s for s in self.params.get("scope", "").split(" ") if s)


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _quoted(text: str, i: int) -> tuple[str, int]:
    """Read a quoted-string starting at the opening quote; return (value, next index)."""
    out: list[str] = []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return "".join(out), i


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge in one header value; unparseable tails are ignored."""
    token = re.compile(_TOKEN)
    challenges: list[Challenge] = []
    i = 0
    n = len(header)
    while i < n:
        i = _skip_ws(header, i)
        while i < n and header[i] == ",":
            i = _skip_ws(header, i + 1)
        m = token.match(header, i)
        if not m:
            break
        scheme = m.group(0)
        i = _skip_ws(header, m.end())
        params: dict[str, str] = {}
        while i < n:
            pm = token.match(header, i)
            if not pm:
                break
            j = _skip_ws(header, pm.end())
            if j >= n or header[j] != "=":
                # The token is the next challenge's scheme, not a parameter.
                break
            j = _skip_ws(header, j + 1)
            if j < n and header[j] == '"':
                value, j = _quoted(header, j)
            else:
                vm = token.match(header, j)
                value = vm.group(0) if vm else ""
                j = vm.end() if vm else j
            params[pm.group(0).lower()] = value
            j = _skip_ws(header, j)
            if j < n and header[j] == ",":
                j = _skip_ws(header, j + 1)
            i = j
        challenges.append(Challenge(scheme.lower(), params))
    return challenges


def pick_challenge(headers: list[str]) -> Challenge | None:
    """The challenge we will answer: Bearer preferred over Basic; others ignored."""
    found = [c for h in headers for c in parse_challenges(h)]
    for wanted in ("bearer", "basic"):
        for c in found:
            if c.scheme == wanted:
                return c
    return None
