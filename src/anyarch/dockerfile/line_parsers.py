"""How one logical line becomes keyword, flags and arguments (BuildKit's line parsers).

Each instruction splits its arguments its own way: FROM/EXPOSE on ASCII
whitespace, ENV/LABEL into ``key, value, separator`` triples (legacy
``ENV key value`` or ``key=value`` words), ARG into quote-aware words,
RUN/CMD/ENTRYPOINT/SHELL as a JSON array or one shell string, COPY/ADD/VOLUME
as a JSON array or words, HEALTHCHECK as a type plus a command, ONBUILD as a
nested instruction, and unknown keywords not at all.  These rules, from
``split_command.go`` and ``line_parsers.go``, decide what a build does, so they
are reproduced step for step, including BuildKit's quirks (invalid JSON falls
back to shell form; flags are split byte by byte).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from anyarch.dockerfile._gotext import (
    BYTE_SPACES,
    GO_SPACE_SET,
    GO_SPACES,
    RE_WHITESPACE,
    from_bytes_view,
    go_quote,
    to_bytes_view,
    trim_space,
)

__all__ = [
    "INSTRUCTIONS",
    "LineError",
    "ParsedLine",
    "extract_builder_flags",
    "parse_line",
    "parse_words",
    "split_command",
]

NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


class LineError(ValueError):
    """An instruction line BuildKit rejects; the parser adds file, line and column.

    ``needle`` is text of the line to point the column at, when known.
    """

    def __init__(self, message: str, *, hint: str | None = None, needle: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.needle = needle


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """A parsed instruction line, before positions and heredocs are attached."""

    raw_keyword: str
    flags: tuple[str, ...]
    args: tuple[str, ...]
    json_form: bool
    trigger: ParsedLine | None
    original: str


# --- splitting the keyword and the flags ------------------------------------


def _builder_flags(line: str, escape: str, spaces: frozenset[str]) -> tuple[str, list[str]]:
    """``extractBuilderFlags`` over a string of single-byte characters."""
    words: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    word: list[str] = []
    quote = ""
    blank_ok = False
    length = len(line)
    pos = 0
    ch = ""
    while pos <= length:
        if pos != length:
            ch = line[pos]
        if phase == in_spaces:
            if pos == length:
                break
            if ch in spaces:
                pos += 1
                continue
            if ch != "-" or pos + 1 == length or line[pos + 1] != "-":
                return line[pos:], words
            phase = in_word
        if pos == length:  # phase is in_word or in_quote here
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                words.append(text)
            break
        if phase == in_word:
            if ch in spaces:
                text = "".join(word)
                phase = in_spaces
                if text == "--":
                    return line[pos:], words
                if blank_ok or text:
                    words.append(text)
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = in_quote
                pos += 1
                continue
            if ch == escape:
                if pos + 1 == length:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        # phase == in_quote
        if ch == quote:
            phase = in_word
            pos += 1
            continue
        if ch == escape:
            if pos + 1 == length:
                phase = in_word
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(ch)
        pos += 1
    return "", words


_ASCII_WORD = re.compile(r"[^\t\n\v\f\r ]+")


def _plain_builder_flags(line: str) -> tuple[str, tuple[str, ...]]:
    """:func:`_builder_flags` for ASCII text without quotes or escapes: same result, faster."""
    words: list[str] = []
    for match in _ASCII_WORD.finditer(line):
        word = match.group()
        if not word.startswith("--"):
            return line[match.start() :], tuple(words)
        if word == "--":
            return line[match.end() :], tuple(words)
        words.append(word)
    return "", tuple(words)


def extract_builder_flags(line: str, escape: str) -> tuple[str, tuple[str, ...]]:
    """The ``--flag`` words at the start of ``line`` and the rest of the line.

    Quotes are removed and the escape character escapes the next character; a
    bare ``--`` ends the flags.  BuildKit walks the UTF-8 bytes here, so a
    non-ASCII flag value comes out as BuildKit gives it (byte per character).
    """
    first = line[:1]
    if first != "-" and first not in BYTE_SPACES:
        return line, ()
    if line.isascii():
        if escape not in line and "'" not in line and '"' not in line:
            return _plain_builder_flags(line)
        rest, words = _builder_flags(line, escape, BYTE_SPACES)
        return rest, tuple(words)
    rest, words = _builder_flags(to_bytes_view(line), escape, BYTE_SPACES)
    return from_bytes_view(rest), tuple(words)


def split_command(line: str, escape: str) -> tuple[str, tuple[str, ...], str]:
    """``splitCommand``: keyword, flags and the trimmed argument text."""
    parts = RE_WHITESPACE.split(trim_space(line), maxsplit=1)
    if len(parts) == 2:
        rest, flags = extract_builder_flags(parts[1], escape)
        return parts[0], flags, trim_space(rest)
    return parts[0], (), ""


# --- argument parsers -------------------------------------------------------


_GO_WORD = re.compile("[^" + GO_SPACES + "]+")


def parse_words(rest: str, escape: str) -> list[str]:
    """``parseWords``: whitespace-separated words, quotes and escapes kept in the text."""
    if escape not in rest and "'" not in rest and '"' not in rest:
        return _GO_WORD.findall(rest)
    words: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    quote = ""
    blank_ok = False
    word: list[str] = []
    length = len(rest)
    pos = 0
    ch = ""
    spaces = GO_SPACE_SET
    while pos <= length:
        if pos != length:
            ch = rest[pos]
        if phase == in_spaces:
            if pos == length:
                break
            if ch in spaces:
                pos += 1
                continue
            phase = in_word
        if pos == length:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == in_word:
            if ch in spaces:
                phase = in_spaces
                if blank_ok or word:
                    words.append("".join(word))
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = in_quote
            if ch == escape:
                if pos + 1 == length:
                    pos += 1
                    continue
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        # phase == in_quote
        if ch == quote:
            phase = in_word
        if ch == escape and quote != "'":
            if pos + 1 == length:
                phase = in_word
                pos += 1
                continue
            pos += 1
            word.append(ch)
            ch = rest[pos]
        word.append(ch)
        pos += 1
    return words


_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> float:
    raise ValueError(f"invalid JSON constant {name}")


def _go_number(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of float64 range")  # Go: UnmarshalTypeError
    return value


def _parse_json(rest: str) -> tuple[str, ...] | None:
    """``parseJSON``: the array's strings, None when it is not a JSON array."""
    text = rest.lstrip(GO_SPACES)
    if not text.startswith("["):
        return None
    try:
        value = json.loads(
            text, parse_constant=_reject_constant, parse_float=_go_number, parse_int=_go_number
        )
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    for item in value:
        if not isinstance(item, str):
            raise LineError(
                NOT_STRING_ARRAY,
                hint='write each element as a JSON string: ["executable", "arg1", "arg2"]',
                needle="[",
            )
    if "\\u" in text:  # Go decodes unpaired surrogate escapes to U+FFFD
        return tuple(_SURROGATE.sub("\ufffd", item) for item in value)
    return tuple(value)


Args = tuple[tuple[str, ...], bool]


def _ignore(rest: str, escape: str) -> Args:
    return ("",), False


def _maybe_json(rest: str, escape: str) -> Args:
    if not rest:
        return (), False
    parsed = _parse_json(rest)
    if parsed is not None:
        return parsed, True
    return (rest,), False


def _strings_whitespace_delimited(rest: str, escape: str) -> Args:
    if not rest:
        return (), False
    return tuple(RE_WHITESPACE.split(rest)), False


def _maybe_json_to_list(rest: str, escape: str) -> Args:
    parsed = _parse_json(rest)
    if parsed is not None:
        return parsed, True
    return _strings_whitespace_delimited(rest, escape)


def _string(rest: str, escape: str) -> Args:
    return ((rest,) if rest else ()), False


def _name_or_name_val(rest: str, escape: str) -> Args:
    return tuple(parse_words(rest, escape)), False


def _name_val(rest: str, escape: str, key: str) -> Args:
    words = parse_words(rest, escape)
    if not words:
        return (), False
    if "=" not in words[0]:
        parts = RE_WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise LineError(
                f"{key} must have two arguments",
                hint=f"write {key} name=value (or the legacy form {key} name value)",
            )
        return (parts[0], parts[1], ""), False
    args: list[str] = []
    for word in words:
        if "=" not in word:
            raise LineError(
                f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value",
                hint=f'{key} takes name=value pairs; quote values with spaces: name="a b"',
                needle=word,
            )
        name, value = word.split("=", 1)
        args += (name, value, "=")
    return tuple(args), False


def _env(rest: str, escape: str) -> Args:
    return _name_val(rest, escape, "ENV")


def _label(rest: str, escape: str) -> Args:
    return _name_val(rest, escape, "LABEL")


def _health_config(rest: str, escape: str) -> Args:
    view = rest if rest.isascii() else to_bytes_view(rest)
    sep = 0
    length = len(view)
    while sep < length and view[sep] not in BYTE_SPACES:
        sep += 1
    nxt = sep
    while nxt < length and view[nxt] in BYTE_SPACES:
        nxt += 1
    if sep == 0:
        return (), False
    kind, command = view[:sep], view[nxt:]
    if view is not rest:
        kind, command = from_bytes_view(kind), from_bytes_view(command)
    args, json_form = _maybe_json(command, escape)
    return (kind, *args), json_form


_DISPATCH: dict[str, Callable[[str, str], Args]] = {
    "add": _maybe_json_to_list,
    "arg": _name_or_name_val,
    "cmd": _maybe_json,
    "copy": _maybe_json_to_list,
    "entrypoint": _maybe_json,
    "env": _env,
    "expose": _strings_whitespace_delimited,
    "from": _strings_whitespace_delimited,
    "healthcheck": _health_config,
    "label": _label,
    "maintainer": _string,
    "onbuild": _ignore,  # handled in parse_line
    "run": _maybe_json,
    "shell": _maybe_json,
    "stopsignal": _string,
    "user": _string,
    "volume": _maybe_json_to_list,
    "workdir": _string,
}

#: Every instruction keyword BuildKit knows, lower case.
INSTRUCTIONS: frozenset[str] = frozenset(_DISPATCH)


def parse_line(line: str, escape: str) -> ParsedLine:
    """``newNodeFromLine``: one logical line (continuations joined) to a node."""
    keyword, flags, rest = split_command(line, escape)
    lowered = keyword.lower()
    trigger: ParsedLine | None = None
    if lowered == "onbuild":
        args: tuple[str, ...] = ()
        json_form = False
        if rest:
            trigger = parse_line(rest, escape)
    else:
        args, json_form = _DISPATCH.get(lowered, _ignore)(rest, escape)
    return ParsedLine(keyword, flags, args, json_form, trigger, line)
