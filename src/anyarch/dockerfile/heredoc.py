"""Finding heredoc names (``<<EOF``, ``<<-'EOF'``, ``3<<EOF``) in an instruction line.

Which words of a RUN/COPY/ADD line open a heredoc, what the terminator is and
whether the body is expanded all come from BuildKit's shell lexer run in a
special mode: no environment, unset variables left as written, quotes and
escapes kept (``heredocsFromLine``), then each candidate word lexed again with
and without quotes (``heredocFromMatch``) to learn whether any part of the
name was quoted.  The lexer quirks decide real cases (``<<  EOF`` is a
heredoc, ``<<- EOF`` is not, ``"<<EOF"`` is not), so this module carries a
small private copy of that lexer for exactly this mode instead of depending on
the general word expander: the parser must give BuildKit's answer even where
the expander is configured differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from anyarch.dockerfile._gotext import GO_SPACE_SET, go_quote

__all__ = [
    "HeredocError",
    "HeredocStart",
    "heredocs_from_line",
    "parse_heredoc",
]

_HEREDOC_RE = re.compile(r"([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)\Z")
_MAX_UINT64 = (1 << 64) - 1
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_EOF = ""


class HeredocError(ValueError):
    """A heredoc word that cannot be lexed; the parser adds the location."""


class _LexError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class HeredocStart:
    """A heredoc announced on an instruction line, before its body is read."""

    name: str
    expand: bool
    chomp: bool
    file_descriptor: int


class _Buffer:
    """BuildKit shares one word buffer between nested lexing calls; so do we."""

    __slots__ = ("text",)

    def __init__(self) -> None:
        self.text = ""


class _Words:
    __slots__ = ("buf", "in_word", "words")

    def __init__(self, buf: _Buffer) -> None:
        self.buf = buf
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch in GO_SPACE_SET:
            if self.in_word and self.buf.text:
                self.words.append(self.buf.text)
                self.buf.text = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.buf.text += text
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def get_words(self) -> list[str]:
        if self.buf.text:
            self.words.append(self.buf.text)
            self.buf.text = ""
            self.in_word = False
        return self.words


class _Lexer:
    """BuildKit's ``shell.Lex`` with escape ``\\``, an empty environment and SkipUnsetEnv."""

    __slots__ = ("buf", "pos", "raw_escapes", "raw_quotes", "text")

    def __init__(self, text: str, *, raw_quotes: bool, raw_escapes: bool) -> None:
        self.text = text
        self.pos = 0
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.buf = _Buffer()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        if self.pos < len(self.text):
            self.pos += 1
            return self.text[self.pos - 1]
        return _EOF

    def words(self) -> list[str]:
        return self.process_stop_on(_EOF, self.raw_escapes)[1]

    def process_stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        self.buf.text = ""
        words = _Words(self.buf)
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            while (ch := self.peek()) != _EOF:
                if stop and ch == stop:
                    self.next()
                    return "".join(result), words.get_words()
                if ch == "$":
                    tmp = self.process_dollar()
                    result.append(tmp)
                    words.add_string(tmp)
                    continue
                if ch in "<'\"":
                    if ch == "<":
                        tmp = self.process_possible_heredoc()
                    elif ch == "'":
                        tmp = self.process_single_quote()
                    else:
                        tmp = self.process_double_quote()
                    result.append(tmp)
                    words.add_raw(tmp)
                    continue
                ch = self.next()
                if ch == "\\":
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    ch = self.next()
                    if ch == _EOF:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
            if stop:
                raise _LexError(f"unexpected end of statement while looking for matching {stop}")
            return "".join(result), words.get_words()
        finally:
            self.raw_escapes = saved

    def process_single_quote(self) -> str:
        quote = self.next()
        result = [quote] if self.raw_quotes else []
        while True:
            ch = self.next()
            if ch == _EOF:
                raise _LexError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.raw_quotes:
                    result.append(ch)
                return "".join(result)
            result.append(ch)

    def process_double_quote(self) -> str:
        quote = self.next()
        result = [quote] if self.raw_quotes else []
        while True:
            peek = self.peek()
            if peek == _EOF:
                raise _LexError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if peek == '"':
                ch = self.next()
                if self.raw_quotes:
                    result.append(ch)
                return "".join(result)
            if peek == "$":
                result.append(self.process_dollar())
                continue
            ch = self.next()
            if ch == "\\":
                if self.raw_escapes:
                    result.append(ch)
                following = self.peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", "\\"):
                    ch = self.next()
            result.append(ch)

    def process_name(self) -> str:
        name: list[str] = []
        while (ch := self.peek()) != _EOF:
            if not name and ch.isdecimal():
                while self.peek() != _EOF and self.peek().isdecimal():
                    name.append(self.next())
                return "".join(name)
            if not name and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            name.append(self.next())
        return "".join(name)

    def process_dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.process_name()
            return "$" + name  # unset variables stay as written (SkipUnsetEnv)
        self.next()
        following = self.peek()
        if following == _EOF:
            raise _LexError("syntax error: missing '}'")
        if following in "{}:":
            raise _LexError("syntax error: bad substitution")
        name = self.process_name()
        ch = self.next()
        modifier = ch
        if ch == "}":
            return "${" + name + "}"
        if ch == ":" or (ch and ch in "+-?#%"):
            null_is_unset = ch == ":"
            if null_is_unset:
                ch = self.next()
                modifier += ch
            raw = ch in ("#", "%")
            if null_is_unset and raw:
                raise _LexError(f"unsupported modifier ({modifier}) in substitution")
            try:
                word, _ = self.process_stop_on("}", raw)
            except _LexError:
                if self.peek() == _EOF:
                    raise _LexError("syntax error: missing '}'") from None
                raise
            return "${" + name + modifier + word + "}"
        if ch == "/":
            if self.peek() == "/":
                self.next()
            try:
                pattern, _ = self.process_stop_on("/", True)
            except _LexError:
                if self.peek() == _EOF:
                    raise _LexError("syntax error: missing '/' in ${}") from None
                raise
            try:
                replacement, _ = self.process_stop_on("}", True)
            except _LexError:
                if self.peek() == _EOF:
                    raise _LexError("syntax error: missing '}'") from None
                raise
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        raise _LexError(f"unsupported modifier ({modifier}) in substitution")

    def process_possible_heredoc(self) -> str:
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        spaces: list[str] = []
        while self.peek() in ("\t", "\r", " "):
            spaces.append(self.next())
        return "<<" + "".join(spaces)


def _count_quotes(word: str) -> int:
    return word.count("'") + word.count('"')


def parse_heredoc(word: str) -> HeredocStart | None:
    """BuildKit's ``ParseHeredoc`` for one word: the heredoc it opens, or None.

    Raises :class:`HeredocError` when the name cannot be lexed (``<<'EOF``).
    """
    match = _HEREDOC_RE.match(word)
    if match is None:
        return None
    digits, dash, rest = match.groups()
    if not rest:
        return None
    try:
        plain = _Lexer(rest, raw_quotes=False, raw_escapes=False).words()
        if len(plain) != 1:
            return None
        raw = _Lexer(rest, raw_quotes=True, raw_escapes=False).words()
    except _LexError as err:
        raise HeredocError(f"failed to process {go_quote(rest)}: {err}") from None
    if len(raw) != len(plain):
        raise HeredocError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    descriptor = min(int(digits), _MAX_UINT64) if digits else 0
    return HeredocStart(
        name=plain[0],
        expand=_count_quotes(plain[0]) == _count_quotes(raw[0]),
        chomp=dash == "-",
        file_descriptor=descriptor,
    )


def heredocs_from_line(line: str) -> list[HeredocStart]:
    """The heredocs an instruction line opens, in order (BuildKit's ``heredocsFromLine``).

    A line the lexer cannot split (an unmatched quote) opens none.
    """
    try:
        words = _Lexer(line, raw_quotes=True, raw_escapes=True).words()
    except _LexError:
        return []
    found: list[HeredocStart] = []
    for word in words:
        start = parse_heredoc(word)
        if start is not None:
            found.append(start)
    return found
