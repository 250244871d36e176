"""The parse tree: BuildKit's ``parser.Node`` as typed, immutable values.

BuildKit represents a Dockerfile as a root ``Node`` whose ``Children`` are the
instructions; each instruction node has a ``Value`` (the keyword as written), a
``Next`` chain of argument strings, ``Flags``, ``Attributes["json"]``,
``Heredocs``, ``Original`` and line numbers.  The one non-string argument is
ONBUILD's, whose ``Next`` holds a nested instruction.  This module keeps exactly
that information, so :mod:`anyarch.dockerfile.dump` can reproduce BuildKit's
``result`` format, but as frozen dataclasses with names a caller can read:
``Instruction.args`` is the ``Next`` chain, ``Instruction.trigger`` the ONBUILD
child.  Positions are 1-based and cover continuation and heredoc lines, so
errors raised by later stages (typed instructions, the planner) can point at
``file:line:column`` with the offending text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import overload

from anyarch.errors import SourceLocation

__all__ = [
    "Directive",
    "Directives",
    "Dockerfile",
    "Heredoc",
    "Instruction",
    "ParseResult",
    "ParseWarning",
    "chomp_heredoc_content",
]

_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)


def chomp_heredoc_content(content: str) -> str:
    """BuildKit's ``ChompHeredocContent``: drop leading tabs of every line (``<<-``)."""
    return _LEADING_TABS.sub("", content)


@dataclass(frozen=True, slots=True)
class Heredoc:
    """One ``<<NAME`` document attached to a RUN, COPY or ADD instruction.

    ``content`` is the raw body exactly as in the file (line endings kept,
    leading tabs kept even for ``<<-``); :attr:`body` applies the chomp.
    ``expand`` is false when any part of the name was quoted (``<<'EOF'``,
    ``<<E"O"F``): the body must then not be variable-expanded.
    ``file_descriptor`` is the ``3`` of ``3<<EOF`` (0 when none was given).
    ``start_line`` is the first body line and ``end_line`` the terminator line.
    """

    name: str
    content: str
    expand: bool = True
    chomp: bool = False
    file_descriptor: int = 0
    start_line: int = 0
    end_line: int = 0

    @property
    def body(self) -> str:
        """The content with leading tabs removed when the heredoc used ``<<-``."""
        return chomp_heredoc_content(self.content) if self.chomp else self.content


@dataclass(frozen=True, slots=True)
class Instruction:
    """One Dockerfile instruction (a child of BuildKit's root node).

    - ``keyword``: the instruction name lower-cased (``"run"``); ``raw_keyword``
      is as written (``"RUN"``, ``"Run"``).  Unknown names are kept: BuildKit's
      parser accepts them and :func:`anyarch.dockerfile.check_instructions`
      reports them.
    - ``flags``: the ``--name=value`` words before the arguments, quotes and
      escapes already removed, in order (BuildKit's ``Flags``).
    - ``args``: BuildKit's ``Next`` chain.  ENV and LABEL give
      ``key, value, separator`` triples (separator ``"="`` or ``""`` for the
      legacy ``ENV key value`` form, see :meth:`key_values`); an unknown
      instruction gives ``("",)``; ONBUILD gives ``()`` and puts its
      instruction in ``trigger``.
    - ``json_form``: the arguments were a JSON array (exec form).
    - ``heredocs``: documents read after this instruction, in order.  For
      ``ONBUILD RUN <<EOF`` they sit on the ONBUILD instruction, as in BuildKit.
    - ``original``: the logical line after joining continuation lines (BuildKit's
      ``Original``); ``source`` is the exact file text of lines
      ``start_line..end_line``, heredoc bodies included.
    - ``comments``: the comment lines directly above (BuildKit's ``PrevComment``).
    - ``column``/``end_column``: 1-based column of the keyword on ``start_line``
      and the column just past the last character of ``end_line``.
    """

    keyword: str
    raw_keyword: str
    flags: tuple[str, ...]
    args: tuple[str, ...]
    json_form: bool
    heredocs: tuple[Heredoc, ...]
    trigger: Instruction | None
    original: str
    source: str
    comments: tuple[str, ...]
    filename: str
    start_line: int
    end_line: int
    column: int
    end_column: int

    @property
    def location(self) -> SourceLocation:
        """Where the instruction starts, with its first line, for error messages."""
        return SourceLocation(self.filename, self.start_line, self.column, self.first_line)

    @property
    def first_line(self) -> str:
        """The text of ``start_line`` without its line ending."""
        return self.source.split("\n", 1)[0].rstrip("\r")

    @property
    def source_lines(self) -> tuple[str, ...]:
        """The lines ``start_line..end_line`` of the file, without line endings."""
        text = self.source[:-1] if self.source.endswith("\n") else self.source
        return tuple(line.rstrip("\r") for line in text.split("\n"))

    def locate(self, needle: str) -> SourceLocation:
        """The first place ``needle`` occurs in this instruction's source text.

        Later stages use it to point at a flag or argument, even when the
        instruction spans continuation lines.  Falls back to :attr:`location`.
        """
        lines = self.source_lines
        for offset, text in enumerate(lines):
            start = self.column - 1 + len(self.raw_keyword) if offset == 0 else 0
            found = text.find(needle, max(start, 0)) if needle else -1
            if found >= 0:
                return SourceLocation(self.filename, self.start_line + offset, found + 1, text)
        return self.location

    def key_values(self) -> tuple[tuple[str, str], ...]:
        """ENV/LABEL pairs from the ``key, value, separator`` triples of :attr:`args`."""
        args = self.args
        return tuple((args[i], args[i + 1]) for i in range(0, len(args) - 1, 3))

    @property
    def command(self) -> Instruction:
        """The instruction that runs: the ONBUILD trigger, or this one."""
        return self.trigger if self.trigger is not None else self


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """The root node: every instruction in file order (BuildKit's ``AST``)."""

    instructions: tuple[Instruction, ...]
    filename: str
    start_line: int
    end_line: int

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self.instructions)

    def __len__(self) -> int:
        return len(self.instructions)

    @overload
    def __getitem__(self, index: int) -> Instruction: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Instruction, ...]: ...

    def __getitem__(self, index: int | slice) -> Instruction | tuple[Instruction, ...]:
        return self.instructions[index]


@dataclass(frozen=True, slots=True)
class Directive:
    """A parser directive (``# name=value``) at the top of the file."""

    name: str
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class Directives:
    """The parser directives that apply to a file.

    ``escape`` is the escape/continuation character the parse used (``\\`` or
    a backtick).  ``syntax`` and ``check`` are the full directive values as
    BuildKit's frontend finds them (``DetectSyntax``, which also accepts a
    shebang line, ``//syntax=`` and a JSON first line, and
    ``ParseDirective("check")``); ``None`` when absent.  ``entries`` lists the
    directives of the leading comment block as the parse loop read them.
    """

    escape: str = "\\"
    syntax: str | None = None
    check: str | None = None
    entries: tuple[Directive, ...] = ()

    @property
    def syntax_ref(self) -> str | None:
        """The frontend image reference: the syntax value up to its first space."""
        return None if self.syntax is None else self.syntax.split(" ", 1)[0]


@dataclass(frozen=True, slots=True)
class ParseWarning:
    """Something BuildKit's parser accepts but warns about (empty continuation lines)."""

    message: str
    detail: str
    url: str
    location: SourceLocation


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What :func:`anyarch.dockerfile.parse` returns."""

    ast: Dockerfile
    directives: Directives
    warnings: tuple[ParseWarning, ...]

    @property
    def escape_token(self) -> str:
        """The escape character in force (BuildKit's ``Result.EscapeToken``)."""
        return self.directives.escape
