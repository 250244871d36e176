"""Go's idea of whitespace, trimming and quoting, for byte-exact BuildKit parity.

BuildKit's parser is written in Go, and small library details decide what a
Dockerfile means: ``unicode.IsSpace`` is not Python's ``str.isspace`` (Python
also counts the ASCII separators U+001C-U+001F), ``regexp``'s ``\\s`` is ASCII
only, and a few loops in BuildKit walk *bytes* and test ``unicode.IsSpace(rune(b))``,
so the bytes 0x85 and 0xA0 inside a multi-byte UTF-8 character count as
spaces there.  ``strconv.Quote`` defines the ``result`` test format.  Keeping
these rules in one place lets the parser say "as Go does" and mean it.
"""

from __future__ import annotations

import re

__all__ = [
    "BYTE_SPACES",
    "GO_SPACES",
    "GO_SPACE_SET",
    "RE_WHITESPACE",
    "from_bytes_view",
    "go_quote",
    "go_quote_list",
    "to_bytes_view",
    "trim_space",
]

#: Every rune for which Go's ``unicode.IsSpace`` is true (Unicode White_Space).
GO_SPACES = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
GO_SPACE_SET = frozenset(GO_SPACES)

#: ``unicode.IsSpace(rune(b))`` for a single byte b, seen through :func:`to_bytes_view`.
BYTE_SPACES = frozenset("\t\n\v\f\r \x85\xa0")

#: BuildKit's ``reWhitespace``: the separators of FROM/EXPOSE/COPY words (no newline, ASCII only).
RE_WHITESPACE = re.compile(r"[\t\v\f\r ]+")


def trim_space(text: str) -> str:
    """Go's ``strings.TrimSpace``."""
    return text.strip(GO_SPACES)


def to_bytes_view(text: str) -> str:
    """Text whose characters are the UTF-8 bytes of ``text`` (one char per byte).

    BuildKit's flag splitter and HEALTHCHECK splitter index Go strings byte by
    byte and turn each byte into a rune; running the same loop over this view
    gives the same words, including the same mangling of non-ASCII bytes.
    """
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def from_bytes_view(view: str) -> str:
    """Inverse of :func:`to_bytes_view` for a slice that came from it.

    A slice that splits a character keeps the stray bytes as surrogate escapes,
    which :func:`go_quote` prints as Go prints invalid UTF-8 (``\\xNN``).
    """
    return view.encode("latin-1").decode("utf-8", "surrogateescape")


_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}


def _escape_rune(ch: str) -> str:
    short = _SHORT_ESCAPES.get(ch)
    if short is not None:
        return short
    if ch.isprintable():
        return ch
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of invalid UTF-8 kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:  # Go strings cannot hold surrogates: RuneError
        return "\\ufffd"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: double quotes, Go escapes, printable runes kept."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return '"' + "".join(_escape_rune(ch) for ch in text) + '"'


def go_quote_list(items: tuple[str, ...] | list[str]) -> str:
    """Go's ``fmt.Sprintf("%q", []string{...})``: ``["a" "b"]``."""
    return "[" + " ".join(go_quote(item) for item in items) + "]"
