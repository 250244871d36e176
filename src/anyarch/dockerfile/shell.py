"""Shell-word expansion for Dockerfile instructions, the way BuildKit does it.

BuildKit does not run a shell to expand ``$VAR`` in ``ENV``, ``ARG``, ``COPY``,
``WORKDIR``, ``FROM`` and friends: it has its own small lexer
(``frontend/dockerfile/shell/lex.go`` in moby/buildkit).  Users' Dockerfiles
depend on its exact behaviour -- which quotes are removed, what a backslash
does inside double quotes, that ``${V:=w}`` is an error, that ``${V#pat}``
takes glob patterns -- so this module reproduces it rule by rule rather than
approximating POSIX ``sh``.  The conformance tables copied from BuildKit
(``shared/conformance/buildkit-parser/shell``) are the measure.

Supported: ``$V``, ``${V}``, ``${V:-w}``, ``${V-w}``, ``${V:+w}``, ``${V+w}``,
``${V:?msg}``, ``${V?msg}``, ``${V#pat}``, ``${V##pat}``, ``${V%pat}``,
``${V%%pat}``, ``${V/pat/repl}``, ``${V//pat/repl}``; single quotes, double
quotes, the escape character (``\\`` or the Windows backtick), and BuildKit's
``RawQuotes``/``RawEscapes``/``SkipUnsetEnv``/``SkipProcessQuotes`` switches.

Where BuildKit has an accidental behaviour this module keeps it when a user
could observe it in a build result (for example the Go ``regexp`` ``$0``
expansion in ``${V//pat/repl}``), and departs from it in two places where the
upstream behaviour is a plain bug, each marked ``Divergence`` below.

The scanner is hand-written and linear: runs of ordinary characters are
copied with one precompiled character-class search, never a backtracking
regular expression.  Python's ``re`` is used only to run the (short) glob
patterns of ``#``, ``%`` and ``/``, exactly where BuildKit uses Go's ``regexp``.

This module is pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, TypeAlias, runtime_checkable

from anyarch.errors import DockerfileError, SourceLocation

__all__ = [
    "Env",
    "EnvGetter",
    "EnvLike",
    "ExpansionResult",
    "ShellExpansionError",
    "ShellLex",
    "normalize_env_key",
]


@runtime_checkable
class EnvGetter(Protocol):
    """Anything that can look a variable up: ``get(name)`` gives its value or ``None``.

    A plain ``Mapping[str, str]`` already satisfies this, so build scopes can
    be passed as dicts.  A getter decides key equality itself: the lexer's
    ``case_insensitive_env`` switch only affects the mappings and ``K=V``
    lists it converts on the caller's behalf.
    """

    def get(self, key: str, /) -> str | None: ...


EnvLike: TypeAlias = Mapping[str, str] | EnvGetter | Iterable[str]
"""What the ``process_*`` methods accept: a mapping, a getter, or ``K=V`` strings."""


def normalize_env_key(key: str, *, case_insensitive: bool) -> str:
    """The form of ``key`` used for comparison (BuildKit's ``NormalizeEnvKey``).

    Windows variable names are case-insensitive, so BuildKit upper-cases them
    before comparing (``$pwd`` is ``$PWD`` on a Windows target).  Go's
    ``strings.ToUpper`` maps each character on its own, so a character whose
    full upper case is several characters (``ß``) is kept as it is, unlike
    Python's ``str.upper``.
    """
    if not case_insensitive:
        return key
    if key.isascii():
        return key.upper()
    return "".join(u if len(u := c.upper()) == 1 else c for c in key)


class Env:
    """An immutable environment built from ``K=V`` strings or a mapping.

    This is BuildKit's ``EnvsFromSlice``: an entry without ``=`` defines the
    variable as empty, a later entry for the same key wins, and with
    ``case_insensitive`` (Windows targets) keys compare case-insensitively.
    """

    __slots__ = ("_case_insensitive", "_keys", "_values")

    def __init__(
        self,
        entries: Mapping[str, str] | Iterable[str] = (),
        *,
        case_insensitive: bool = False,
    ) -> None:
        if isinstance(entries, str):
            raise TypeError("Env needs K=V strings or a mapping, not one string")
        pairs: Iterable[tuple[str, str]]
        if isinstance(entries, Mapping):
            pairs = entries.items()
        else:
            pairs = ((k, v) for k, _, v in (e.partition("=") for e in entries))
        values: dict[str, str] = {}
        keys: list[str] = []
        for key, value in pairs:
            keys.append(key)
            values[normalize_env_key(key, case_insensitive=case_insensitive)] = value
        self._values = values
        self._keys = tuple(keys)
        self._case_insensitive = case_insensitive

    def get(self, key: str, /) -> str | None:
        """The value of ``key``, or ``None`` when it is not set."""
        return self._values.get(normalize_env_key(key, case_insensitive=self._case_insensitive))

    def keys(self) -> tuple[str, ...]:
        """The keys as given, in order, duplicates included (BuildKit's ``Keys``)."""
        return self._keys

    @property
    def case_insensitive(self) -> bool:
        """Whether keys compare case-insensitively (Windows targets)."""
        return self._case_insensitive

    def __repr__(self) -> str:
        return f"Env({dict(self._values)!r}, case_insensitive={self._case_insensitive})"


@dataclass(frozen=True, slots=True)
class ExpansionResult:
    """Everything one expansion produces, for callers that need more than one view.

    ``result`` is the single expanded word (``process_word``), ``words`` the
    same text split on unquoted whitespace (``process_words``), ``matched``
    the variables that were looked up and set, ``unmatched`` those looked up
    and unset -- the linter reports the latter as possibly misspelled.
    """

    result: str
    words: list[str]
    matched: set[str]
    unmatched: set[str]


class ShellExpansionError(DockerfileError):
    """A word that cannot be expanded: bad syntax, or a ``${V:?msg}`` that fired.

    ``word`` is the text that was being expanded, ``variable`` the variable a
    ``?`` modifier rejected (``None`` for syntax errors), ``detail`` the reason
    without the ``failed to process`` prefix.  The parser adds the location.
    """

    def __init__(
        self,
        message: str,
        *,
        word: str = "",
        detail: str = "",
        variable: str | None = None,
        location: SourceLocation | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, location=location, hint=hint)
        self.word = word
        self.detail = detail or message
        self.variable = variable


class _LexError(Exception):
    """Internal: raised deep in the scanner, turned into ShellExpansionError at the top.

    Kept separate so that nested ``${...}`` handling can rewrite the message
    (BuildKit reports any failure that reaches the end of input inside
    ``${`` as a missing ``}``) before the public error is built.
    """

    def __init__(self, detail: str, hint: str, variable: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint
        self.variable = variable


# Go's unicode.IsSpace: the ASCII/Latin-1 spaces plus Unicode White_Space.
# (Python's str.isspace also counts U+001C..U+001F, which Go does not.)
_GO_SPACES = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WS_RUN = re.compile("[" + re.escape(_GO_SPACES) + "]+")
_ASCII_NAME = re.compile(r"[A-Za-z0-9_]*")
# Special parameters of POSIX sh ($@, $*, ...): never set in a Dockerfile, but
# they are names, so ``$@x`` is ``x`` and ``${@:-d}`` is ``d``.
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
# Whitespace allowed between ``<<`` and a heredoc word, kept inside the word.
_HEREDOC_SPACE = frozenset("\t\r ")
_MODIFIERS = frozenset("+-?#%")

_HINT_QUOTE = (
    "close the quote, or put the escape character {esc} before a quote to keep it literally"
)
_HINT_BRACE = "close the variable reference with '}}', or write {esc}$ for a literal '$'"
_HINT_BAD = "a variable reference needs a name, as in ${{NAME}}; write {esc}$ for a literal '$'"
_HINT_MODIFIER = (
    "supported forms: ${VAR}, ${VAR:-word}, ${VAR-word}, ${VAR:+word}, ${VAR+word}, "
    "${VAR:?message}, ${VAR?message}, ${VAR#pattern}, ${VAR##pattern}, ${VAR%pattern}, "
    "${VAR%%pattern}, ${VAR/pattern/replacement}, ${VAR//pattern/replacement}"
)
_HINT_PATTERN = (
    "in a pattern, '*' matches any text and '?' one character; only \\*, \\?, \\\\ "
    "(and \\} or \\/ for a literal '}' or '/') may be escaped"
)


@lru_cache(maxsize=64)
def _plain_run_end(chars: str) -> Callable[[str, int], re.Match[str] | None]:
    """A search for the next character that is not plain text, for a set of specials.

    One compiled character class per lexer configuration: the scanner jumps
    over runs of ordinary text with it instead of looking at every character
    in Python.
    """
    return re.compile("[" + re.escape(chars) + "]").search


class _Words:
    """Splits expanded text into words the way BuildKit's ``wordsStruct`` does.

    Unquoted literal text and unquoted expansion results split on whitespace;
    quoted text and escaped characters never do.  An empty word (``""``) is
    dropped, as upstream does.

    Divergence: since 2024 BuildKit shares one word buffer between nested
    ``${V:-...}`` scans, so ``a${X:-b}c`` splits to ``["bc"]``, losing ``a``.
    That is an accident of a memory optimisation (commit 4c935cf9); we keep
    the earlier, intended result ``["abc"]``.
    """

    __slots__ = ("current", "words")

    def __init__(self) -> None:
        self.words: list[str] = []
        self.current: list[str] = []

    def raw(self, text: str) -> None:
        """Add text that must not be split (quoted or escaped)."""
        if text:
            self.current.append(text)

    def split(self, text: str) -> None:
        """Add text that splits on whitespace (unquoted literals and expansions)."""
        if _WS_RUN.search(text) is None:
            if text:
                self.current.append(text)
            return
        parts = _WS_RUN.split(text)
        current = self.current
        if parts[0]:
            current.append(parts[0])
        for part in parts[1:]:
            if current:
                self.words.append("".join(current))
                current.clear()
            if part:
                current.append(part)

    def finish(self) -> list[str]:
        """All words, the last one included."""
        if self.current:
            self.words.append("".join(self.current))
            self.current.clear()
        return self.words


class _Expander:
    """State of one expansion: the text, the position, the environment, what was looked up.

    Mirrors BuildKit's ``shellWord``; one is made per call, so a ``ShellLex``
    can be shared between threads.
    """

    __slots__ = (
        "esc",
        "lookup",
        "matched",
        "n",
        "pos",
        "quotes",
        "raw_quotes",
        "s",
        "skip_unset",
        "unmatched",
    )

    def __init__(self, lex: ShellLex, text: str, lookup: Callable[[str], str | None]) -> None:
        self.s = text
        self.n = len(text)
        # Go's text/scanner drops a byte-order mark at the very start of its input.
        self.pos = 1 if text.startswith("\ufeff") else 0
        self.esc = lex.escape
        self.quotes = not lex.skip_process_quotes
        self.raw_quotes = lex.raw_quotes
        self.skip_unset = lex.skip_unset_env
        self.lookup = lookup
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    # -- environment ---------------------------------------------------------

    def get(self, name: str) -> str | None:
        value = self.lookup(name)
        if value is None:
            self.unmatched.add(name)
        else:
            self.matched.add(name)
        return value

    # -- scanning ------------------------------------------------------------

    def scan(self, stop: str | None, raw_escapes: bool, words: _Words | None) -> str:
        """Expand up to ``stop`` (consumed) or the end of input (BuildKit's ``processStopOn``).

        ``raw_escapes`` keeps escape characters in the output: BuildKit does
        that for the patterns of ``#``, ``%`` and ``/`` so that ``\\*`` still
        means a literal star when the pattern is compiled.
        """
        s, n, esc, quotes = self.s, self.n, self.esc, self.quotes
        specials = "$<" + esc + (stop or "") + ("'\"" if quotes else "")
        find_special = _plain_run_end(specials)
        out: list[str] = []
        while self.pos < n:
            pos = self.pos
            ch = s[pos]
            if ch == stop:
                self.pos = pos + 1
                return "".join(out)
            if ch == "$":
                text = self.dollar()
                out.append(text)
                if words is not None:
                    words.split(text)
            elif quotes and ch == "'":
                text = self.single_quote()
                out.append(text)
                if words is not None:
                    words.raw(text)
            elif quotes and ch == '"':
                text = self.double_quote(raw_escapes)
                out.append(text)
                if words is not None:
                    words.raw(text)
            elif ch == "<":
                text = self.possible_heredoc()
                out.append(text)
                if words is not None:
                    words.raw(text)
            elif ch == esc:
                if raw_escapes:
                    out.append(ch)
                    if words is not None:
                        words.raw(ch)
                pos += 1
                if pos >= n:
                    # A trailing escape character is dropped (kept when raw).
                    self.pos = n
                    break
                out.append(s[pos])
                if words is not None:
                    words.raw(s[pos])
                self.pos = pos + 1
            else:
                match = find_special(s, pos)
                end = n if match is None else match.start()
                text = s[pos:end]
                out.append(text)
                if words is not None:
                    words.split(text)
                self.pos = end
        if stop is not None:
            raise _LexError(
                f"unexpected end of statement while looking for matching {stop}",
                _HINT_BRACE.format(esc=self.esc),
            )
        return "".join(out)

    def single_quote(self) -> str:
        """Everything up to the next ``'`` verbatim: no escapes, no variables."""
        start = self.pos + 1
        end = self.s.find("'", start)
        if end < 0:
            self.pos = self.n
            raise _LexError(
                "unexpected end of statement while looking for matching single-quote",
                _HINT_QUOTE.format(esc=self.esc),
            )
        self.pos = end + 1
        return self.s[start - 1 : end + 1] if self.raw_quotes else self.s[start:end]

    def double_quote(self, raw_escapes: bool) -> str:
        """Up to the next unescaped ``"``: variables expand, the escape only escapes ``"``, ``$`` and itself.

        Any other escaped character keeps its escape (``"a\\tb"`` stays
        ``a\\tb``), as in ``sh``.  With ``raw_escapes`` such an escape is
        written twice -- BuildKit does so, and it is what makes ``"\\x"``
        inside a ``${V#...}`` pattern a valid escaped backslash.
        """
        s, n, esc = self.s, self.n, self.esc
        find_special = _plain_run_end('"$' + esc)
        out: list[str] = ['"'] if self.raw_quotes else []
        pos = self.pos + 1
        while True:
            if pos >= n:
                self.pos = n
                raise _LexError(
                    "unexpected end of statement while looking for matching double-quote",
                    _HINT_QUOTE.format(esc=esc),
                )
            ch = s[pos]
            if ch == '"':
                self.pos = pos + 1
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                self.pos = pos
                out.append(self.dollar())
                pos = self.pos
            elif ch == esc:
                pos += 1
                if raw_escapes:
                    out.append(ch)
                if pos >= n:
                    continue  # reported as an unterminated quote on the next turn
                nxt = s[pos]
                if nxt == '"' or nxt == "$" or nxt == esc:
                    out.append(nxt)
                    pos += 1
                else:
                    out.append(ch)
            else:
                match = find_special(s, pos)
                end = n if match is None else match.start()
                out.append(s[pos:end])
                pos = end

    def possible_heredoc(self) -> str:
        """``<`` or ``<<`` plus the blanks after it, kept together in one word.

        BuildKit does this so that ``RUN << EOF`` still yields the single word
        ``<< EOF`` when the parser looks for heredocs; the text is unchanged.
        """
        s, n = self.s, self.n
        pos = self.pos + 1
        if pos >= n or s[pos] != "<":
            self.pos = pos
            return "<"
        pos += 1
        start = pos
        while pos < n and s[pos] in _HEREDOC_SPACE:
            pos += 1
        self.pos = pos
        return "<<" + s[start:pos]

    def name(self) -> str:
        """A variable name at the current position, or ``""``.

        A name is letters, digits and ``_`` (Unicode letters and decimal
        digits count, as in Go); a leading digit makes it a positional
        parameter of digits only (``$1x`` is ``$1`` then ``x``), and a special
        parameter (``@ * # ? - $ ! 0``) is one character.
        """
        s, n, pos = self.s, self.n, self.pos
        if pos >= n:
            return ""
        first = s[pos]
        if first.isdecimal():
            end = pos + 1
            while end < n and s[end].isdecimal():
                end += 1
        elif first in _SPECIAL_PARAMS:
            end = pos + 1
        else:
            match = _ASCII_NAME.match(s, pos)
            end = pos if match is None else match.end()
            while end < n and (s[end] == "_" or s[end].isalpha() or s[end].isdecimal()):
                end += 1
        self.pos = end
        return s[pos:end]

    def nested(self, stop: str, raw_escapes: bool, at_eof: str) -> str:
        """The word inside ``${...}``; any failure at the end of input means it was never closed."""
        try:
            return self.scan(stop, raw_escapes, None)
        except _LexError:
            if self.pos >= self.n:
                raise _LexError(at_eof, _HINT_BRACE.format(esc=self.esc)) from None
            raise

    def dollar(self) -> str:
        """Expand the ``$`` reference at the current position (BuildKit's ``processDollar``)."""
        s, n = self.s, self.n
        pos = self.pos + 1
        if pos >= n or s[pos] != "{":
            self.pos = pos
            name = self.name()
            if not name:
                return "$"
            value = self.get(name)
            if value is None:
                return "$" + name if self.skip_unset else ""
            return value

        self.pos = pos = pos + 1
        if pos >= n:
            raise _LexError("syntax error: missing '}'", _HINT_BRACE.format(esc=self.esc))
        if s[pos] in "{}:":
            raise _LexError("syntax error: bad substitution", _HINT_BAD.format(esc=self.esc))
        name = self.name()
        if self.pos >= n:
            # BuildKit says "unsupported modifier" here; an unclosed ${ is the truth.
            raise _LexError("syntax error: missing '}'", _HINT_BRACE.format(esc=self.esc))
        ch = s[self.pos]
        self.pos += 1

        if ch == "}":
            value = self.get(name)
            if value is None:
                return "${" + name + "}" if self.skip_unset else ""
            return value
        if ch == "/":
            return self.substitute(name)

        modifier = ch
        null_is_unset = ch == ":"
        if null_is_unset:
            if self.pos >= n:
                raise _LexError("syntax error: missing '}'", _HINT_BRACE.format(esc=self.esc))
            ch = s[self.pos]
            self.pos += 1
            modifier += ch
        elif ch not in _MODIFIERS:
            raise _LexError(f"unsupported modifier ({modifier}) in substitution", _HINT_MODIFIER)

        trims = ch == "#" or ch == "%"
        if null_is_unset and trims:
            raise _LexError(f"unsupported modifier ({modifier}) in substitution", _HINT_MODIFIER)
        # As upstream, the word is expanded (and may fail) before an unknown
        # modifier after ':' is reported, and an unset variable under
        # skip_unset_env is kept as written without checking the modifier.
        word = self.nested("}", trims, "syntax error: missing '}'")
        value = self.get(name)
        if value is None and self.skip_unset:
            return "${" + name + modifier + word + "}"

        if ch == "-":
            if value is None or (null_is_unset and value == ""):
                return word
            return value
        if ch == "+":
            if value is None or (null_is_unset and value == ""):
                return ""
            return word
        if ch == "?":
            if value is None:
                raise _LexError(
                    f"{name}: {word or 'is not allowed to be unset'}",
                    f"set {name} with ARG or ENV before this instruction, or pass --build-arg {name}=...",
                    variable=name,
                )
            if null_is_unset and value == "":
                raise _LexError(
                    f"{name}: {word or 'is not allowed to be empty'}",
                    f"give {name} a non-empty value with ARG or ENV, or pass --build-arg {name}=...",
                    variable=name,
                )
            return value
        if trims:
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            return _trim(value or "", word, greedy, suffix=ch == "%")
        raise _LexError(f"unsupported modifier ({modifier}) in substitution", _HINT_MODIFIER)

    def substitute(self, name: str) -> str:
        """``${V/pat/repl}`` (first match) and ``${V//pat/repl}`` (every match).

        Pattern and replacement keep their escapes (``\\/`` is how a ``/`` gets
        into a pattern).  The pattern is a greedy, unanchored glob.
        """
        replace_all = self.pos < self.n and self.s[self.pos] == "/"
        if replace_all:
            self.pos += 1
        pattern = self.nested("/", True, "syntax error: missing '/' in ${}")
        replacement = self.nested("}", True, "syntax error: missing '}'")
        value = self.get(name)
        if value is None:
            if self.skip_unset:
                # Divergence: BuildKit writes "${V/p/r}" back even for "//",
                # silently turning replace-all into replace-first.
                slashes = "//" if replace_all else "/"
                return "${" + name + slashes + pattern + "/" + replacement + "}"
            value = ""
        regex = _pattern_or_error(pattern, True, False, pattern)
        if replace_all:
            return _go_replace_all(regex, value, replacement)
        match = regex.search(value)
        if match is None:
            return value
        return value[: match.start()] + replacement + value[match.end() :]


class ShellLex:
    """BuildKit's Dockerfile word lexer (``shell.Lex``).

    ``escape`` is the Dockerfile's escape character (``\\``, or `````` ` ``````
    after ``# escape=```` ` ````).  The switches are plain attributes, as in
    BuildKit, because the parser flips them between calls:

    ``raw_quotes``
        keep quote characters in the output (heredoc detection, RUN display).
    ``raw_escapes``
        keep escape characters in the output.
    ``skip_unset_env``
        leave references to unset variables as written instead of expanding
        them to ``""`` (used where expansion must be deferred).
    ``skip_process_quotes``
        treat quotes as ordinary characters.
    ``case_insensitive_env``
        compare variable names case-insensitively, as BuildKit does for
        Windows targets (``EqualEnvKeys``/``NormalizeEnvKey``).  It applies to
        the mappings and ``K=V`` lists given to the ``process_*`` methods; an
        :class:`Env` or custom getter brings its own rule.

    Errors are :class:`ShellExpansionError` (a ``DockerfileError``) without a
    location; the caller knows the line and adds it.
    """

    __slots__ = (
        "case_insensitive_env",
        "escape",
        "raw_escapes",
        "raw_quotes",
        "skip_process_quotes",
        "skip_unset_env",
    )

    def __init__(self, escape: str = "\\", *, case_insensitive_env: bool = False) -> None:
        if len(escape) != 1:
            raise ValueError(f"the escape character must be one character, not {escape!r}")
        self.escape = escape
        self.raw_quotes = False
        self.raw_escapes = False
        self.skip_unset_env = False
        self.skip_process_quotes = False
        self.case_insensitive_env = case_insensitive_env

    def process_word(self, word: str, env: EnvLike) -> str:
        """Expand ``word`` into one string: quotes removed, escapes and variables processed."""
        if self._is_plain(word, env):
            return word
        return self._expand(word, env, False).result

    def process_words(self, word: str, env: EnvLike) -> list[str]:
        """Expand ``word`` and split it on unquoted whitespace.

        Whitespace that comes from an unquoted variable splits too
        (``a${V}b`` with ``V="1 2"`` gives ``a1``, ``2b``); quoted text never
        does, and empty words are dropped.
        """
        return self._run(word, env, True).words

    def process_word_with_matches(self, word: str, env: EnvLike) -> tuple[str, set[str], set[str]]:
        """Expand ``word``; also return which variables were set and which were not.

        The sets name every variable the expansion looked up, as written in
        the word; the linter uses the unset ones to warn about typos.
        """
        res = self._run(word, env, False)
        return res.result, res.matched, res.unmatched

    def process(self, word: str, env: EnvLike) -> ExpansionResult:
        """Expand ``word`` and return every view of the result at once."""
        return self._run(word, env, True)

    # -- internals -------------------------------------------------------------

    def _lookup(self, env: EnvLike) -> Callable[[str], str | None]:
        if isinstance(env, Env):
            return env.get
        if isinstance(env, Mapping):
            if self.case_insensitive_env:
                return Env(env, case_insensitive=True).get
            return env.get
        if isinstance(env, str):
            raise TypeError("env must be a mapping, an EnvGetter or K=V strings, not one string")
        if not isinstance(env, list | tuple) and isinstance(env, EnvGetter):
            return env.get
        return Env(env, case_insensitive=self.case_insensitive_env).get

    def _is_plain(self, word: str, env: EnvLike) -> bool:
        """True when ``word`` has nothing to expand: the common case for COPY/ENV words."""
        if isinstance(env, str):
            raise TypeError("env must be a mapping, an EnvGetter or K=V strings, not one string")
        specials = "$<" + self.escape + ("" if self.skip_process_quotes else "'\"")
        return _plain_run_end(specials)(word, 0) is None and not word.startswith("\ufeff")

    def _run(self, word: str, env: EnvLike, want_words: bool) -> ExpansionResult:
        if self._is_plain(word, env):
            words = [w for w in _WS_RUN.split(word) if w] if want_words else []
            return ExpansionResult(word, words, set(), set())
        return self._expand(word, env, want_words)

    def _expand(self, word: str, env: EnvLike, want_words: bool) -> ExpansionResult:
        expander = _Expander(self, word, self._lookup(env))
        collector = _Words() if want_words else None
        try:
            result = expander.scan(None, self.raw_escapes, collector)
        except _LexError as err:
            raise ShellExpansionError(
                f"failed to process {json.dumps(word, ensure_ascii=False)}: {err.detail}",
                word=word,
                detail=err.detail,
                variable=err.variable,
                hint=err.hint,
            ) from None
        words = collector.finish() if collector is not None else []
        return ExpansionResult(result, words, expander.matched, expander.unmatched)


# -- glob patterns -------------------------------------------------------------


def _trim(value: str, pattern: str, greedy: bool, *, suffix: bool) -> str:
    """``${V#p}``/``${V##p}`` (prefix) and ``${V%p}``/``${V%%p}`` (suffix).

    A regular expression cannot find the shortest match that ends at the end
    of a string, so, like BuildKit, the suffix case reverses both the value
    and the pattern (keeping ``\\x`` pairs in order) and trims a prefix.
    """
    if suffix:
        return _trim_prefix(value[::-1], _reverse_pattern(pattern), greedy, pattern)[::-1]
    return _trim_prefix(value, pattern, greedy, pattern)


def _trim_prefix(value: str, pattern: str, greedy: bool, shown: str) -> str:
    regex = _pattern_or_error(pattern, greedy, True, shown)
    match = regex.match(value)
    return value if match is None else value[match.end() :]


def _pattern_or_error(pattern: str, greedy: bool, anchored: bool, shown: str) -> re.Pattern[str]:
    """The compiled glob, or the user-facing error naming the pattern as written."""
    try:
        return _compile_pattern(pattern, greedy, anchored)
    except ValueError as err:
        raise _LexError(
            f"invalid pattern ({shown}) in substitution: {err}", _HINT_PATTERN
        ) from None


@lru_cache(maxsize=256)
def _compile_pattern(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """Compile a shell glob the way BuildKit's ``convertShellPatternToRegex`` does.

    ``*`` is any text (longest or shortest first, per ``greedy``), ``?`` one
    character (neither matches a newline: Go's ``.``), ``\\*``, ``\\?`` and
    ``\\\\`` are literal, ``\\}`` and ``\\/`` are ``}`` and ``/``.  Bracket
    expressions are not supported: ``[`` is literal.  Anchoring is done by
    the caller with ``match``.
    """
    star = ".*" if greedy else ".*?"
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < n and pattern[i] in "}/":
                continue
            if i >= n:
                raise ValueError("it ends with a lone '\\'")
            escaped = pattern[i]
            i += 1
            if escaped not in "*?\\":
                raise ValueError(f"invalid escape '\\{escaped}'")
            out.append(re.escape(escaped))
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out))


def _reverse_pattern(pattern: str) -> str:
    """Reverse a glob but keep each ``\\x`` pair in order (``a\\*c`` → ``c\\*a``)."""
    out = [""] * len(pattern)
    last = len(pattern) - 1
    i = 0
    while i <= last:
        ch = pattern[i]
        if ch == "\\" and i != last:
            out[last - i - 1] = ch
            out[last - i] = pattern[i + 1]
            i += 2
        else:
            out[last - i] = ch
            i += 1
    return "".join(out)


def _go_replace_all(regex: re.Pattern[str], value: str, template: str) -> str:
    """Go's ``Regexp.ReplaceAllString``, which BuildKit uses for ``${V//p/r}``.

    Differs from ``re.sub`` in two ways a user can see: an empty match right
    after a match is not replaced (``${V//*/x}`` gives ``x``, not ``xx``),
    and ``$0``/``${0}`` in the replacement insert the matched text while
    other ``$name`` references vanish and ``$$`` is ``$``.
    """
    out: list[str] = []
    last_end = 0
    search_pos = 0
    end_pos = len(value)
    while search_pos <= end_pos:
        match = regex.search(value, search_pos)
        if match is None:
            break
        start, end = match.span()
        out.append(value[last_end:start])
        if end > last_end or start == 0:
            out.append(_go_expand(template, value[start:end]))
        last_end = end
        width = 1 if search_pos < end_pos else 0
        if search_pos + width > end:
            search_pos += width
        elif search_pos + 1 > end:
            search_pos += 1
        else:
            search_pos = end
    out.append(value[last_end:])
    return "".join(out)


def _go_expand(template: str, matched: str) -> str:
    """Go's ``Regexp.Expand`` for a pattern without groups: only ``$0`` has a value."""
    if "$" not in template:
        return template
    out: list[str] = []
    rest = template
    while True:
        i = rest.find("$")
        if i < 0:
            break
        out.append(rest[:i])
        rest = rest[i + 1 :]
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        extracted = _go_extract(rest)
        if extracted is None:
            out.append("$")
            continue
        number, rest = extracted
        if number == 0:
            out.append(matched)
    out.append(rest)
    return "".join(out)


def _go_extract(text: str) -> tuple[int, str] | None:
    """Parse ``name`` or ``{name}`` after a ``$`` (Go's ``extract``): group number (-1 if named), rest."""
    brace = text.startswith("{")
    body = text[1:] if brace else text
    i = 0
    while i < len(body) and (body[i] == "_" or body[i].isalpha() or body[i].isdecimal()):
        i += 1
    if i == 0:
        return None
    name = body[:i]
    if brace:
        if i >= len(body) or body[i] != "}":
            return None
        i += 1
    number = 0
    for ch in name:
        if not ("0" <= ch <= "9") or number >= 100_000_000:
            number = -1
            break
        number = number * 10 + ord(ch) - ord("0")
    if name[0] == "0" and len(name) > 1:
        number = -1
    return number, body[i:]
