"""Dockerfile frontend: BuildKit's ``dockerfile:1`` parser, reproduced in pure Python.

anyarch builds the Dockerfiles people already build with Docker, so it must
read them exactly as BuildKit does: same instructions, flags, arguments,
heredocs and line numbers.  This package takes text and a file name and
returns immutable nodes; it does no I/O.

Public API (stable; later stages build on it)::

    parse(text: str, *, filename: str = "Dockerfile") -> ParseResult
        ParseResult.ast          Dockerfile: .instructions (tuple[Instruction, ...]),
                                 .filename, .start_line, .end_line; iterable
        ParseResult.directives   Directives: .escape ("\\" or "`"), .syntax, .check,
                                 .syntax_ref, .entries (tuple[Directive, ...])
        ParseResult.warnings     tuple[ParseWarning, ...] (empty continuation lines)
        ParseResult.escape_token
        raises anyarch.errors.DockerfileError (file:line:column, line text, hint)

    Instruction
        .keyword "run" (lower case)      .raw_keyword "RUN" (as written)
        .flags ("--mount=type=cache,target=/x", ...)   raw "--name=value" words
        .args  BuildKit's Next chain: ("apt-get update",) / ("a", "b", "/dst") /
               ENV+LABEL ("k", "v", "=", ...) (see .key_values()) / unknown ("",)
        .json_form   exec (JSON array) form
        .heredocs    tuple[Heredoc] (.name, .content, .body, .expand, .chomp,
                     .file_descriptor, .start_line, .end_line)
        .trigger     the nested instruction of ONBUILD (else None); .command
        .original    the logical line (continuations joined), .source the file text
        .comments    comment lines just above
        .start_line .end_line .column .end_column .filename
        .location    SourceLocation for errors;  .locate(text) points at a word

    dump(node: Dockerfile | Instruction) -> str      BuildKit's Node.Dump() text
    check_instructions(tree) -> None                 unknown keyword -> DockerfileError
                                                     with "did you mean COPY?"
    unknown_instructions(tree) -> list[DockerfileError]
    detect_syntax(text) / parse_directive(key, text) -> DirectiveMatch | None
    heredocs_from_line(line) / parse_heredoc(word) / chomp_heredoc_content(text)
    INSTRUCTIONS: frozenset of the 18 keywords BuildKit knows (lower case)

Not here: shell-word expansion (``anyarch.dockerfile.shell``), typed
instructions and stage rules (later stages), the "no FROM" check (the planner).
"""

from __future__ import annotations

from anyarch.dockerfile.directives import DirectiveMatch, detect_syntax, parse_directive
from anyarch.dockerfile.dump import dump
from anyarch.dockerfile.heredoc import HeredocStart, heredocs_from_line, parse_heredoc
from anyarch.dockerfile.line_parsers import INSTRUCTIONS
from anyarch.dockerfile.nodes import (
    Directive,
    Directives,
    Dockerfile,
    Heredoc,
    Instruction,
    ParseResult,
    ParseWarning,
    chomp_heredoc_content,
)
from anyarch.dockerfile.parser import parse
from anyarch.dockerfile.suggest import check_instructions, unknown_instructions

__all__ = [
    "INSTRUCTIONS",
    "Directive",
    "DirectiveMatch",
    "Directives",
    "Dockerfile",
    "Heredoc",
    "HeredocStart",
    "Instruction",
    "ParseResult",
    "ParseWarning",
    "check_instructions",
    "chomp_heredoc_content",
    "detect_syntax",
    "dump",
    "heredocs_from_line",
    "parse",
    "parse_directive",
    "parse_heredoc",
    "unknown_instructions",
]
