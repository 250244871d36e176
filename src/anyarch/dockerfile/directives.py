"""Parser directives (``# syntax=``, ``# escape=``, ``# check=``) with BuildKit's quirks.

Directives change how the rest of the file is read (the escape character) or
which frontend and checks apply, so they must be recognised exactly where
BuildKit recognises them: only in the leading block of comment lines, before
any instruction, blank line or ordinary comment; names case-insensitive; each
at most once.  This mirrors ``frontend/dockerfile/parser/directives.go``:
:class:`DirectiveParser` is its line-by-line state machine (used by the parse
loop), :func:`detect_syntax` and :func:`parse_directive` are ``DetectSyntax``
and ``ParseDirective``, which BuildKit's frontend uses on the raw file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from anyarch.dockerfile._gotext import GO_SPACES
from anyarch.dockerfile.nodes import Directive

__all__ = [
    "DirectiveError",
    "DirectiveMatch",
    "DirectiveParser",
    "detect_syntax",
    "parse_directive",
]

VALID_DIRECTIVES = frozenset({"syntax", "escape", "check"})

# Go's \s is [\t\n\f\r ]; $ without (?m) is the end of the text.
_DIRECTIVE_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z")


class DirectiveError(ValueError):
    """A directive repeated; the parser turns it into a located DockerfileError."""


class DirectiveParser:
    """BuildKit's ``DirectiveParser``: feed it lines until it says the block is over.

    ``line`` counts the lines seen (1-based after the first call), ``done``
    becomes true at the first line that is not a known directive, after which
    nothing more is recognised.
    """

    __slots__ = ("comment", "done", "line", "seen")

    def __init__(self, *, comment: str = "#", line: int = 0) -> None:
        self.comment = comment
        self.line = line
        self.done = False
        self.seen: set[str] = set()

    def parse_line(self, text: str) -> Directive | None:
        """The directive on this line (no line ending), or None; raises on a repeat."""
        self.line += 1
        if self.done:
            return None
        if not text.startswith(self.comment):
            self.done = True
            return None
        match = _DIRECTIVE_RE.match(text[len(self.comment) :].lstrip(GO_SPACES))
        if match is None:
            self.done = True
            return None
        name = match.group(1).lower()
        if name not in VALID_DIRECTIVES:
            self.done = True
            return None
        if name in self.seen:
            raise DirectiveError(f"only one {name} parser directive can be used")
        self.seen.add(name)
        return Directive(name, match.group(2), self.line)

    def parse_all(self, text: str) -> list[Directive]:
        """BuildKit's ``ParseAll``: directives of the leading block; stops at a repeat."""
        found: list[Directive] = []
        start = 0
        while start < len(text) and not self.done:
            end = text.find("\n", start)
            if end < 0:
                end = len(text)
            line = text[start:end]
            start = end + 1
            try:
                directive = self.parse_line(line[:-1] if line.endswith("\r") else line)
            except DirectiveError:
                break
            if directive is not None:
                found.append(directive)
        return found


@dataclass(frozen=True, slots=True)
class DirectiveMatch:
    """A directive found by :func:`detect_syntax` / :func:`parse_directive`.

    ``ref`` is the value up to its first space (the frontend image for
    ``syntax``), ``cmdline`` the whole value, ``line`` its 1-based line.
    """

    ref: str
    cmdline: str
    line: int


def _discard_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


def _find(key: str, text: str, parser: DirectiveParser) -> DirectiveMatch | None:
    for directive in parser.parse_all(text):
        if directive.name == key:
            return DirectiveMatch(directive.value.split(" ", 1)[0], directive.value, directive.line)
    return None


def _parse_directive(key: str, text: str, any_format: bool) -> DirectiveMatch | None:
    text = _discard_bom(text)
    line = 0
    first, _, rest = text.partition("\n")
    if first.startswith("#!"):
        text, line = rest, 1
    found = _find(key, text, DirectiveParser(line=line))
    if found is not None or not any_format:
        return found
    found = _find(key, text, DirectiveParser(comment="//", line=line))
    if found is not None:
        return found
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if isinstance(document, dict):
        value = document.get(key)
        if isinstance(value, str):
            return DirectiveMatch(value, value, line)
    return None


def detect_syntax(text: str) -> DirectiveMatch | None:
    """BuildKit's ``DetectSyntax``: ``# syntax=``, ``//syntax=`` or ``{"syntax": ...}``.

    A UTF-8 byte-order mark and a ``#!`` first line are skipped.
    """
    return _parse_directive("syntax", text, True)


def parse_directive(key: str, text: str) -> DirectiveMatch | None:
    """BuildKit's ``ParseDirective``: only the ``# key=value`` form (used for ``check``)."""
    return _parse_directive(key, text, False)
