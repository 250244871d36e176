"""Just enough shell reading for the linter: words, simple commands, branches on the arch.

The rules look at RUN and ADD text the way a reviewer does, not the way a
shell executes it: which command each simple command runs (``apt-get``,
``go build``), which words are URLs, and which parts of a script already
choose by architecture (``case "$(uname -m)" in``, ``if [ "$TARGETARCH" =
arm64 ]``, ``for arch in amd64 arm64``) so that the architecture names
written there are not findings.

Everything works on offsets into the instruction's source text
(:attr:`~anyarch.dockerfile.Instruction.source`), so a finding can name the
exact line and column.  Comments (Dockerfile comment lines inside
continuations, shell ``# ...`` comments, comment lines of heredoc bodies),
the keyword and the instruction's ``--flags`` are blanked out of the text
first, keeping every offset.  Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from anyarch.dockerfile.nodes import Instruction

__all__ = [
    "ARCH_WORD",
    "Segment",
    "Source",
    "Word",
    "arch_branch_spans",
    "in_spans",
    "segments",
    "source_of",
]

#: Architecture names as they appear in URLs, package names and paths.
ARCH_WORD = re.compile(
    r"(?<![A-Za-z0-9])"
    r"(amd64|x86_64|x86-64|x64|aarch64|arm64|armhf|armel|armv7l?|armv6l?|i386|i686|"
    r"ppc64le|ppc64el|s390x|riscv64)"
    r"(?![A-Za-z0-9])"
)

#: Text that shows a script is choosing by architecture (a variable or a probe).
ARCH_PROBE = re.compile(
    r"(?i:uname\s+-[a-z]*[mp]|--print-arch|dpkg-architecture|\barch\b|\$\{?[A-Za-z_]*arch|"
    r"\$\{?[A-Za-z_]*platform|\$\{?[A-Za-z_]*machine|%\{?_arch)"
)

_KEYWORDS = frozenset(
    {
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "do",
        "done",
        "while",
        "until",
        "!",
        "{",
        "}",
        "time",
        "exec",
        "nohup",
        "command",
        "builtin",
        "case",
        "esac",
        "for",
        "in",
    }
)
_WRAPPERS = frozenset({"sudo", "env", "xargs", "nice", "chroot", "doas", "eatmydata"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_OPERATOR_CHARS = frozenset(";&|()\n")
_OPERATORS = ("&&", "||", ";;", ";&", "|&", ";", "|", "&", "(", ")", "\n")


@dataclass(frozen=True, slots=True)
class Word:
    """One shell word: offsets into :attr:`Source.text` and its text with quotes removed."""

    start: int
    end: int
    raw: str

    @property
    def value(self) -> str:
        """The word without quotes (escapes kept as they are)."""
        raw = self.raw
        if "'" not in raw and '"' not in raw:
            return raw
        return raw.replace("'", "").replace('"', "")


@dataclass(frozen=True, slots=True)
class Segment:
    """A simple command: its words and the operator that ended it (``""`` at the end)."""

    words: tuple[Word, ...]
    separator: str
    program: tuple[str, int] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        index = self.command_index()
        if index is not None:
            object.__setattr__(self, "program", (program_name(self.words[index].value), index))

    @property
    def start(self) -> int:
        return self.words[0].start

    @property
    def end(self) -> int:
        return self.words[-1].end

    def command_index(self) -> int | None:
        """Index of the word that names the program (after keywords, ``X=1``, ``sudo``...)."""
        words = self.words
        i = 0
        while i < len(words):
            value = words[i].value
            if value in _KEYWORDS or _ASSIGNMENT.match(value):
                i += 1
                continue
            if value in _WRAPPERS:
                i += 1
                while i < len(words) and (
                    words[i].value.startswith("-") or _ASSIGNMENT.match(words[i].value)
                ):
                    i += 1
                continue
            return i
        return None

    def command(self) -> tuple[str, int] | None:
        """``(program, index)``: the program's base name, lower case, ``.exe`` dropped."""
        return self.program

    def first(self) -> str:
        """The first word without quotes (``if``, ``case``, ``[``...)."""
        return self.words[0].value


def program_name(word: str) -> str:
    """``/usr/bin/apt-get`` -> ``apt-get``; ``C:\\x\\PowerShell.exe`` -> ``powershell``."""
    name = word.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return name[:-4] if name.endswith(".exe") else name


@dataclass(frozen=True, slots=True)
class Source:
    """An instruction's source text with comments, keyword and flags blanked out.

    ``text`` has exactly the length of ``node.source`` (same offsets);
    ``body`` is where the arguments start; ``heredoc_ranges`` are the offsets
    of heredoc bodies.  :meth:`position` turns an offset into a 1-based line
    and column of the file.
    """

    node: Instruction
    text: str
    body: int
    escape: str
    line_starts: tuple[int, ...]
    heredoc_ranges: tuple[tuple[int, int], ...]

    def position(self, offset: int) -> tuple[int, int]:
        """The file's ``(line, column)`` of ``offset`` (both 1-based)."""
        index = bisect_right(self.line_starts, offset) - 1
        return self.node.start_line + index, offset - self.line_starts[index] + 1

    def line_text(self, offset: int) -> str:
        """The unmasked source line holding ``offset``."""
        index = bisect_right(self.line_starts, offset) - 1
        lines = self.node.source_lines
        return lines[index] if index < len(lines) else ""

    def word_at(self, offset: int) -> tuple[int, int]:
        """Start and end of the whitespace-delimited token around ``offset``."""
        text = self.text
        start = offset
        while start > self.body and not text[start - 1].isspace():
            start -= 1
        end = offset
        while end < len(text) and not text[end].isspace():
            end += 1
        return start, end

    def in_heredoc(self, offset: int) -> bool:
        return any(a <= offset < b for a, b in self.heredoc_ranges)


_NOT_NEWLINE = re.compile(r"[^\r\n]")
_COMMENT_LINE = re.compile(r"^[ \t]*#[^\n]*", re.MULTILINE)


def _masked(raw: str, ranges: list[tuple[int, int]]) -> str:
    """``raw`` with every range turned into spaces (line breaks kept)."""
    if not ranges:
        return raw
    pieces: list[str] = []
    pos = 0
    for start, end in sorted(ranges):
        start = max(start, pos)
        if end <= start:
            continue
        pieces.append(raw[pos:start])
        pieces.append(_NOT_NEWLINE.sub(" ", raw[start:end]))
        pos = end
    pieces.append(raw[pos:])
    return "".join(pieces)


def _skip_space(text: str, i: int, escape: str) -> int:
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == escape and i + 1 < n and text[i + 1] in "\r\n":
            i += 2
        else:
            break
    return i


def _token_end(text: str, i: int, escape: str) -> int:
    """End of the word starting at ``i`` (quotes respected; unquoted blank ends it)."""
    n = len(text)
    quote = ""
    while i < n:
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == escape and quote == '"':
                i += 1
        elif c in "'\"":
            quote = c
        elif c == escape:
            if i + 1 < n and text[i + 1] in "\r\n":
                return i
            i += 1
        elif c in " \t\r\n":
            return i
        i += 1
    return n


def source_of(node: Instruction, escape: str) -> Source:
    """The masked :class:`Source` of ``node`` (see the class)."""
    raw = node.source
    starts = [0]
    found = raw.find("\n")
    while found >= 0:
        starts.append(found + 1)
        found = raw.find("\n", found + 1)
    # keyword and flags
    keyword_end = node.column - 1 + len(node.raw_keyword)
    ranges = [(0, keyword_end)]
    body = _skip_space(raw, keyword_end, escape)
    while raw.startswith("--", body):
        end = _token_end(raw, body, escape)
        ranges.append((body, end))
        body = _skip_space(raw, end, escape)
    # heredoc bodies, and their terminator lines
    heredoc_ranges: list[tuple[int, int]] = []
    for doc in node.heredocs:
        first = doc.start_line - node.start_line
        last = doc.end_line - node.start_line
        if first < 1 or last >= len(starts):
            continue
        end_offset = starts[last + 1] if last + 1 < len(starts) else len(raw)
        heredoc_ranges.append((starts[first], starts[last]))
        ranges.append((starts[last], end_offset))
    # comment lines (Dockerfile comments between continuation lines, heredoc comments)
    if len(starts) > 1:
        for match in _COMMENT_LINE.finditer(raw, starts[1]):
            ranges.append(match.span())
    text = _masked(raw, ranges)
    # shell comments: an unquoted '#' that starts a word, to the end of its line
    comments = _shell_comments(text, body, escape)
    if comments:
        text = _masked(text, comments)
    return Source(
        node=node,
        text=text,
        body=body,
        escape=escape,
        line_starts=tuple(starts),
        heredoc_ranges=tuple(heredoc_ranges),
    )


def _shell_comments(text: str, start: int, escape: str) -> list[tuple[int, int]]:
    if "#" not in text[start:]:
        return []
    out: list[tuple[int, int]] = []
    n = len(text)
    i = start
    quote = ""
    while i < n:
        c = text[i]
        if c == "\n":
            if i == 0 or text[i - 1] != escape:
                quote = ""
        elif quote:
            if c == quote:
                quote = ""
            elif c == escape and quote == '"':
                i += 1
        elif c in "'\"":
            quote = c
        elif c == escape:
            i += 1
        elif c == "#" and (i == start or text[i - 1] in " \t;&|("):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append((i, end))
            i = end
            continue
        i += 1
    return out


def _skip_substitution(text: str, i: int, escape: str) -> int:
    """``i`` at the ``(`` of ``$(``: the offset after the matching ``)``."""
    n = len(text)
    depth = 0
    quote = ""
    while i < n:
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == escape and quote == '"':
                i += 1
        elif c in "'\"":
            quote = c
        elif c == escape:
            i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


_PLAIN = {
    "\\": re.compile(r"[^\s;&|()<>'\"`$\\]+"),
    "`": re.compile(r"[^\s;&|()<>'\"`$]+"),
}
_IN_DOUBLE = {
    "\\": re.compile(r'[^"$\\]+'),
    "`": re.compile(r'[^"$`]+'),
}


def _read_word(text: str, i: int, escape: str, subs: list[tuple[int, int]]) -> int:
    """End of the word at ``i``; the insides of ``$(...)`` and backticks go to ``subs``."""
    n = len(text)
    plain = _PLAIN.get(escape) or _PLAIN["\\"]
    in_double = _IN_DOUBLE.get(escape) or _IN_DOUBLE["\\"]
    quote = ""
    while i < n:
        if quote == "'":
            close = text.find("'", i)
            if close < 0:
                return n
            i = close + 1
            quote = ""
            continue
        if quote:
            run = in_double.match(text, i)
            if run is not None:
                i = run.end()
                if i >= n:
                    return n
            c = text[i]
            if c == '"':
                quote = ""
            elif c == escape:
                i += 1
            elif c == "$" and i + 1 < n and text[i + 1] == "(":
                end = _skip_substitution(text, i + 1, escape)
                subs.append((i + 2, end - 1))
                i = end
                continue
            i += 1
            continue
        run = plain.match(text, i)
        if run is not None:
            i = run.end()
            if i >= n:
                return n
        c = text[i]
        if c in "'\"":
            quote = c
        elif c == "`" and escape != "`":
            close = text.find("`", i + 1)
            end = n if close < 0 else close
            subs.append((i + 1, end))
            i = end + 1
            continue
        elif c == "$" and i + 1 < n and text[i + 1] == "(":
            end = _skip_substitution(text, i + 1, escape)
            subs.append((i + 2, end - 1))
            i = end
            continue
        elif c == escape:
            if i + 1 < n and text[i + 1] in "\r\n":
                return i
            i += 1
        elif c in " \t\r\n;&|()<>":
            return i
        i += 1
    return n


def segments(source: Source, start: int | None = None, end: int | None = None) -> list[Segment]:
    """The simple commands of ``source.text[start:end]`` (default: the arguments)."""
    text = source.text
    escape = source.escape
    i = source.body if start is None else start
    n = len(text) if end is None else end
    out: list[Segment] = []
    words: list[Word] = []
    subs: list[tuple[int, int]] = []

    def close(separator: str) -> None:
        if words:
            out.append(Segment(tuple(words), separator))
            words.clear()

    while i < n:
        c = text[i]
        if c in " \t\r":
            i += 1
            continue
        if c == escape and i + 1 < n and text[i + 1] in "\r\n":
            i += 2
            continue
        if c in _OPERATOR_CHARS:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    close(op)
                    i += len(op)
                    break
        else:
            if c in "<>":
                # redirections: the operator and its target stay in the command
                j = i + 1
                while j < n and text[j] in "<>&-|0123456789":
                    j += 1
                i = j
                continue
            j = min(_read_word(text, i, escape, subs), n)
            if j == i:
                j = i + 1
            words.append(Word(i, j, text[i:j]))
            i = j
    close("")
    for sub_start, sub_end in subs:
        if sub_start < sub_end:
            out.extend(segments(source, sub_start, min(sub_end, n)))
    return out


def exec_form_segment(source: Source) -> Segment | None:
    """The argv of a JSON-form instruction as one segment (offsets of each string)."""
    node = source.node
    if not node.json_form or not node.args:
        return None
    words: list[Word] = []
    pos = source.body
    for arg in node.args:
        encoded = json.dumps(arg)
        found = source.text.find(encoded, pos)
        if found < 0:
            found = source.text.find(arg, pos)
            if found < 0:
                break
            words.append(Word(found, found + len(arg), arg))
            pos = found + len(arg)
        else:
            words.append(Word(found + 1, found + len(encoded) - 1, arg))
            pos = found + len(encoded)
    return Segment(tuple(words), "") if words else None


def _matching(segs: Sequence[Segment], index: int, opener: str, closer: str) -> int | None:
    """Index of the segment closing the construct opened at ``segs[index]``."""
    depth = 0
    for k in range(index, len(segs)):
        for word in segs[k].words:
            value = word.value
            if value == opener:
                depth += 1
            elif value == closer:
                depth -= 1
                if depth == 0:
                    return k
    return None


_MAPPERS = frozenset({"sed", "tr", "awk", "gawk", "perl"})
_BRANCHES = frozenset({"case", "if", "elif", "for", "while", "until"})


def _leading_keyword(seg: Segment) -> tuple[str, int] | None:
    """The branching keyword among the segment's leading keywords, and its index."""
    for index, word in enumerate(seg.words):
        value = word.value
        if value in _BRANCHES:
            return value, index
        if value not in _KEYWORDS:
            return None
    return None


_ARM = re.compile(r"(?:^|[\s(|;])['\"]?[*]?(?:" + ARCH_WORD.pattern + r")[*]?['\"]?\s*[|)]")


def arch_branch_spans(source: Source, segs: Sequence[Segment]) -> list[tuple[int, int]]:
    """Offsets of script parts that already choose by architecture.

    ``case`` statements on a probe or with architecture patterns, ``if``
    statements whose condition names an architecture or a probe, test
    commands (``[ "$arch" = amd64 ] && ...``) with what they guard,
    ``for arch in amd64 arm64`` word lists, pipelines and ``sed``/``tr`` calls
    that map a probed architecture to other names
    (``echo $TARGETARCH | sed s/amd64/x86_64/``), and ``--platform`` flags.
    """
    text = source.text
    spans: list[tuple[int, int]] = []
    for k, seg in enumerate(segs):
        lead = _leading_keyword(seg)
        if lead is not None:
            keyword, at = lead
            begin = seg.words[at].start
            if keyword == "case":
                close = _matching(segs, k, "case", "esac")
                stop = segs[close].end if close is not None else len(text)
                subject = text[begin : seg.end]
                if (
                    ARCH_PROBE.search(subject)
                    or ARCH_WORD.search(subject)
                    or _ARM.search(text, begin, stop)
                ):
                    spans.append((begin, stop))
            elif keyword == "for":
                if any(ARCH_WORD.search(w.raw) for w in seg.words[at + 1 :]):
                    spans.append((begin, seg.end))
            else:
                close = _matching(segs, k, "if", "fi") if keyword == "if" else None
                condition_end = seg.end
                for later in segs[k:]:
                    if any(w.value in ("then", "do") for w in later.words):
                        break
                    condition_end = later.end
                stop = segs[close].end if close is not None else condition_end
                condition = text[begin:condition_end]
                if ARCH_PROBE.search(condition) or ARCH_WORD.search(condition):
                    spans.append((begin, max(stop, condition_end)))
        command = seg.command()
        if (
            command is not None
            and command[0] in ("[", "[[", "test")
            and (
                ARCH_WORD.search(text, seg.start, seg.end)
                or ARCH_PROBE.search(text, seg.start, seg.end)
            )
        ):
            stop = seg.end
            j = k
            while j < len(segs) and segs[j].separator in ("&&", "||", "|"):
                j += 1
                if j < len(segs):
                    stop = segs[j].end
            spans.append((seg.start, stop))
        if k == 0 or segs[k - 1].separator not in ("|", "|&"):
            last = k
            while last < len(segs) - 1 and segs[last].separator in ("|", "|&"):
                last += 1
            mapping = command is not None and command[0] in _MAPPERS
            if (last > k or mapping) and ARCH_PROBE.search(text, seg.start, segs[last].end):
                spans.append((seg.start, segs[last].end))
        words = seg.words
        for i, word in enumerate(words):
            value = word.value
            if value.startswith(("--platform=", "--arch=", "--architecture=")):
                spans.append((word.start, word.end))
            elif value in ("--platform", "--arch") and i + 1 < len(words):
                spans.append((word.start, words[i + 1].end))
    return spans


def in_spans(offset: int, spans: Sequence[tuple[int, int]]) -> bool:
    """True when ``offset`` lies inside one of ``spans``."""
    return any(a <= offset < b for a, b in spans)


def iter_arch_words(source: Source, start: int, end: int) -> Iterator[re.Match[str]]:
    """Every architecture name in ``source.text[start:end]``."""
    return ARCH_WORD.finditer(source.text, start, end)
