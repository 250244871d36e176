"""Dockerfile text to a tree of instructions, line for line as BuildKit's ``parser.Parse``.

The loop reads physical lines and builds logical ones the way BuildKit does:
parser directives only in the leading comment block; comment lines dropped
(also inside a continued instruction); an escape character (``\\`` or the
backtick of ``# escape=```) at the end of a line joins the next line, whose
leading whitespace is kept; empty lines inside a continuation are skipped with
a warning; after a RUN/COPY/ADD line that names heredocs, their bodies are
read verbatim up to each terminator.  Line numbers count every physical line,
so an instruction's range covers its continuation, comment and heredoc lines.
Every error is a :class:`~anyarch.errors.DockerfileError` naming
``file:line:column`` with the line's text and a hint.

Pure: takes text, returns values.  Unknown instruction keywords are accepted,
as BuildKit's parser does; see :func:`anyarch.dockerfile.suggest.check_instructions`.
"""

from __future__ import annotations

from anyarch.dockerfile._gotext import GO_SPACES, RE_WHITESPACE
from anyarch.dockerfile.directives import (
    DirectiveError,
    DirectiveParser,
    detect_syntax,
    parse_directive,
)
from anyarch.dockerfile.heredoc import HeredocError, HeredocStart, heredocs_from_line
from anyarch.dockerfile.line_parsers import LineError, ParsedLine, parse_line
from anyarch.dockerfile.nodes import (
    Directive,
    Directives,
    Dockerfile,
    Heredoc,
    Instruction,
    ParseResult,
    ParseWarning,
)
from anyarch.errors import DockerfileError, SourceLocation

__all__ = ["MAX_LINE_BYTES", "parse"]

#: Longest physical line BuildKit's scanner accepts (``bufio.MaxScanTokenSize - 1``).
MAX_LINE_BYTES = 65535

_HEREDOC_INSTRUCTIONS = frozenset({"add", "copy", "run"})
_EMPTY_CONTINUATION_URL = "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/"


def _split_lines(text: str) -> list[str]:
    """Physical lines with their ``\\n`` kept (only ``\\n`` ends a line, as in Go)."""
    lines = text.split("\n")
    last = lines.pop()
    lines = [line + "\n" for line in lines]
    if last:
        lines.append(last)
    return lines


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """BuildKit's ``lineContinuationRegex``: (line without the escape, ends the instruction?).

    An escape character followed only by spaces/tabs continues the line unless
    it is itself escaped (preceded by another escape character).
    """
    stripped = line.rstrip(" \t")
    if stripped.endswith(escape):
        body = stripped[:-1]
        if not body:
            return "", False
        if body[-1] != escape:
            return body, False
    return line, True


def _find_word(text: str, needle: str, begin: int) -> int:
    """Index of ``needle`` standing alone between whitespace, else anywhere, else -1."""
    found = text.find(needle, begin)
    first = found
    while found >= 0:
        end = found + len(needle)
        if (found == 0 or text[found - 1] in GO_SPACES) and (
            end == len(text) or text[end] in GO_SPACES
        ):
            return found
        found = text.find(needle, found + 1)
    return first


def _heredoc_marker(text: str, name: str) -> int:
    """Index of the ``<<`` that opens heredoc ``name`` on this line (-1 if not found)."""
    first = found = text.find("<<")
    while found >= 0:
        tail = text[found + 2 :].lstrip("-").lstrip(" \t").lstrip("'\"")
        if tail.startswith(name[:1]):
            return found
        found = text.find("<<", found + 2)
    return first


def _bytes_len(line: str) -> int:
    return len(line.encode("utf-8", "surrogateescape"))


class _Parser:
    """State of one parse; see the module docstring for the rules."""

    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.text = text
        self.lines = _split_lines(text)
        if self.lines and self.lines[0].startswith("\ufeff"):
            self.lines[0] = self.lines[0][1:]
        self.escape = "\\"
        self.directive_parser = DirectiveParser()
        self.directives: list[Directive] = []
        self.warnings: list[ParseWarning] = []
        self.index = 0  # lines consumed so far == current 1-based line number

    # --- helpers ---------------------------------------------------------

    def _text_of(self, line_number: int) -> str:
        if 1 <= line_number <= len(self.lines):
            return self.lines[line_number - 1].rstrip("\r\n")
        return ""

    def _error(
        self, message: str, line: int, *, column: int = 0, hint: str | None = None
    ) -> DockerfileError:
        text = self._text_of(line)
        if column <= 0:
            column = len(text) - len(text.lstrip(GO_SPACES)) + 1
        return DockerfileError(
            message, location=SourceLocation(self.filename, line, column, text), hint=hint
        )

    def _next_line(self) -> str:
        raw = self.lines[self.index]
        self.index += 1
        if len(raw) > MAX_LINE_BYTES // 4 and _bytes_len(raw.rstrip("\n")) > MAX_LINE_BYTES:
            raise self._error(
                f"dockerfile line greater than max allowed size of {MAX_LINE_BYTES}",
                self.index,
                column=1,
                hint="split the line with line continuations, or move the data into a file",
            )
        return raw

    def _directive(self, token: str) -> bool:
        """Feed a processed line to the directive parser; True if it was a directive."""
        parser = self.directive_parser
        if parser.done:
            return False
        line = self.index
        try:
            directive = parser.parse_line(token)
        except DirectiveError as err:
            raise self._error(
                str(err), line, column=1, hint="remove the repeated directive"
            ) from None
        if directive is None:
            return False
        self.directives.append(Directive(directive.name, directive.value, line))
        if directive.name == "escape":
            if directive.value not in ("\\", "`"):
                raise self._error(
                    f"invalid escape token '{directive.value}' does not match ` or \\",
                    line,
                    column=1,
                    hint="use # escape=\\ (the default) or # escape=` (common on Windows)",
                )
            self.escape = directive.value
        return True

    # --- the loop --------------------------------------------------------

    def parse(self) -> ParseResult:
        lines = self.lines
        total = len(lines)
        children: list[Instruction] = []
        comments: list[str] = []
        escape = self.escape
        directives_open = True
        continuation_ends = (escape, " ", "\t")
        while self.index < total:
            raw = self._next_line()
            stripped = raw.lstrip(GO_SPACES)
            if stripped.startswith("#"):
                comment = raw[1:].strip(GO_SPACES)
                if comment:
                    comments.append(comment)
                else:
                    comments = []
                if directives_open:
                    if self._directive(stripped.rstrip("\r\n")):
                        comments.pop()
                        escape = self.escape
                        continuation_ends = (escape, " ", "\t")
                    directives_open = not self.directive_parser.done
                continue  # a comment line is empty once comments are trimmed
            token = stripped.rstrip("\r\n")
            if directives_open:
                self._directive(token)
                directives_open = not self.directive_parser.done
            if not token:
                continue
            start_line = self.index
            if token.endswith(continuation_ends):
                line, done = _trim_continuation(token, escape)
            else:
                line, done = token, True
            parts = [line]
            empty_continuation = False
            while not done and self.index < total:
                raw = self._next_line()
                token = raw.rstrip("\r\n")
                if directives_open:
                    self._directive(token)
                    directives_open = not self.directive_parser.done
                stripped = token.lstrip(GO_SPACES)
                if stripped.startswith("#"):
                    continue
                if not stripped:
                    empty_continuation = True
                    continue
                if token.endswith(continuation_ends):
                    token, done = _trim_continuation(token, escape)
                else:
                    done = True
                parts.append(token)
            logical = "".join(parts)
            if empty_continuation:
                self.warnings.append(
                    ParseWarning(
                        "Empty continuation line found in: " + logical,
                        "Empty continuation lines will become errors in a future release",
                        _EMPTY_CONTINUATION_URL,
                        SourceLocation(self.filename, self.index, 1, self._text_of(self.index)),
                    )
                )
            try:
                parsed = parse_line(logical, escape)
            except LineError as err:
                raise self._line_error(err, start_line) from None
            heredocs: tuple[Heredoc, ...] = ()
            if "<<" in logical and _can_contain_heredoc(parsed):
                heredocs = self._read_heredocs(logical, start_line)
            children.append(self._instruction(parsed, heredocs, tuple(comments), start_line))
            comments = []
        if not children:
            raise self._error(
                "file with no instructions",
                max(self.index, 1),
                column=1,
                hint="a Dockerfile needs at least one instruction, starting with FROM",
            )
        root = Dockerfile(
            tuple(children), self.filename, children[0].start_line, children[-1].end_line
        )
        return ParseResult(root, self._directives(), tuple(self.warnings))

    def _line_error(self, err: LineError, start_line: int) -> DockerfileError:
        if err.needle:
            for offset in range(0, self.index - start_line + 1):
                text = self._text_of(start_line + offset)
                begin = 0
                if offset == 0:  # look after the keyword, not in it
                    keyword_end = RE_WHITESPACE.search(
                        text, len(text) - len(text.lstrip(GO_SPACES))
                    )
                    begin = keyword_end.start() if keyword_end else len(text)
                found = _find_word(text, err.needle, begin)
                if found >= 0:
                    return self._error(
                        err.message, start_line + offset, column=found + 1, hint=err.hint
                    )
        return self._error(err.message, start_line, hint=err.hint)

    def _read_heredocs(self, logical: str, start_line: int) -> tuple[Heredoc, ...]:
        try:
            starts = heredocs_from_line(logical)
        except HeredocError as err:
            raise self._error(
                str(err), start_line, hint="quote the heredoc name completely: <<'EOF'"
            ) from None
        return tuple(self._read_heredoc(start, start_line) for start in starts)

    def _read_heredoc(self, start: HeredocStart, start_line: int) -> Heredoc:
        body: list[str] = []
        first = self.index + 1
        total = len(self.lines)
        while self.index < total:
            raw = self._next_line()
            candidate = raw.rstrip("\r\n")
            if start.chomp:
                candidate = candidate.lstrip("\t")
            if candidate == start.name:
                return Heredoc(
                    start.name,
                    "".join(body),
                    start.expand,
                    start.chomp,
                    start.file_descriptor,
                    first,
                    self.index,
                )
            body.append(raw)
        text = self._text_of(start_line)
        marker = _heredoc_marker(text, start.name)
        raise self._error(
            f"unterminated heredoc {start.name!r}: the file ends before a line "
            f"containing only {start.name}",
            start_line,
            column=marker + 1 if marker >= 0 else 0,
            hint=f"end the heredoc with a line that is exactly {start.name}",
        )

    def _instruction(
        self,
        parsed: ParsedLine,
        heredocs: tuple[Heredoc, ...],
        comments: tuple[str, ...],
        start_line: int,
    ) -> Instruction:
        end_line = self.index
        source = "".join(self.lines[start_line - 1 : end_line])
        first = self._text_of(start_line)
        column = len(first) - len(first.lstrip(GO_SPACES)) + 1
        end_column = len(self._text_of(end_line)) + 1
        return _build(
            parsed,
            heredocs,
            comments,
            self.filename,
            source,
            first,
            start_line,
            end_line,
            column,
            end_column,
        )

    def _directives(self) -> Directives:
        text = self.text
        syntax = detect_syntax(text)
        check = parse_directive("check", text)
        return Directives(
            escape=self.escape,
            syntax=None if syntax is None else syntax.cmdline,
            check=None if check is None else check.cmdline,
            entries=tuple(self.directives),
        )


def _can_contain_heredoc(parsed: ParsedLine) -> bool:
    if parsed.raw_keyword.lower() == "onbuild" and parsed.trigger is not None:
        parsed = parsed.trigger
    return parsed.raw_keyword.lower() in _HEREDOC_INSTRUCTIONS and not parsed.json_form


def _build(
    parsed: ParsedLine,
    heredocs: tuple[Heredoc, ...],
    comments: tuple[str, ...],
    filename: str,
    source: str,
    first: str,
    start_line: int,
    end_line: int,
    column: int,
    end_column: int,
) -> Instruction:
    trigger = None
    if parsed.trigger is not None:
        found = first.find(parsed.trigger.raw_keyword, column - 1 + len(parsed.raw_keyword))
        trigger = _build(
            parsed.trigger,
            (),
            (),
            filename,
            source,
            first,
            start_line,
            end_line,
            found + 1 if found >= 0 else column,
            end_column,
        )
    return Instruction(
        keyword=parsed.raw_keyword.lower(),
        raw_keyword=parsed.raw_keyword,
        flags=parsed.flags,
        args=parsed.args,
        json_form=parsed.json_form,
        heredocs=heredocs,
        trigger=trigger,
        original=parsed.original,
        source=source,
        comments=comments,
        filename=filename,
        start_line=start_line,
        end_line=end_line,
        column=column,
        end_column=end_column,
    )


def parse(text: str, *, filename: str = "Dockerfile") -> ParseResult:
    """Parse Dockerfile ``text`` as BuildKit's ``dockerfile:1`` parser does.

    ``filename`` only appears in positions and error messages.  Raises
    :class:`~anyarch.errors.DockerfileError` for what BuildKit's parser rejects:
    no instructions, ``ENV``/``LABEL`` without a value, a JSON array with a
    non-string element, an unterminated heredoc, a repeated or invalid parser
    directive, a line longer than 65535 bytes.
    """
    return _Parser(text, filename).parse()
