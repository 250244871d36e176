"""What a user sees when a Dockerfile is wrong, and the positions later stages rely on.

Errors must name ``file:line:column``, carry the offending line's text and a
hint.  The inputs here are small hand-written Dockerfiles; where a case comes
from an upstream BuildKit test it says so.
"""

from __future__ import annotations

import pytest

from anyarch.dockerfile import (
    check_instructions,
    dump,
    parse,
    unknown_instructions,
)
from anyarch.dockerfile.suggest import levenshtein, suggest
from anyarch.errors import DockerfileError, InvalidInputError

# --- unknown instructions ---------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "hint"),
    [
        ("COPPY", "did you mean COPY?"),
        ("coppy", "did you mean copy?"),
        ("Coppy", "did you mean copy?"),
        ("ENTRYPONT", "did you mean ENTRYPOINT?"),
        ("WORKDIRR", "did you mean WORKDIR?"),
        ("FORM", "did you mean FROM?"),
    ],
)
def test_unknown_instruction_suggests_the_nearest(keyword: str, hint: str) -> None:
    text = f"FROM alpine\n\n  {keyword} . /app\n"
    result = parse(text, filename="app/Dockerfile")
    # BuildKit's parser accepts the keyword (its dump shows it); the check rejects it.
    assert dump(result.ast).splitlines()[1] == f'({keyword.lower()} "")'
    with pytest.raises(DockerfileError) as info:
        check_instructions(result)
    error = info.value
    assert error.reason == f"unknown instruction: {keyword}"
    assert error.hint == hint
    assert str(error).startswith("app/Dockerfile:3:3: ")
    assert error.location is not None and error.location.text == f"  {keyword} . /app"
    assert isinstance(error, InvalidInputError) and error.exit_code == 4


def test_unknown_instruction_without_a_close_match_lists_valid_ones() -> None:
    with pytest.raises(DockerfileError) as info:
        check_instructions(parse("FROM x\nBOGUS foo\n").ast)
    assert info.value.hint is not None
    assert "did you mean" not in info.value.hint
    assert "COPY" in info.value.hint and "HEALTHCHECK" in info.value.hint


def test_unknown_onbuild_trigger_points_at_the_trigger() -> None:
    errors = unknown_instructions(parse("FROM x\nONBUILD RUNN make\n"))
    assert [(e.reason, e.hint, str(e.location)) for e in errors] == [
        ("unknown instruction: RUNN", "did you mean RUN?", "Dockerfile:2:9")
    ]


def test_known_instructions_pass_the_check_in_any_case() -> None:
    text = "from x\nRun a\ncOpY a b\nONBUILD add x y\nhealthcheck NONE\n"
    check_instructions(parse(text))
    assert unknown_instructions(parse(text)) == []


def test_suggestion_rules_follow_buildkit() -> None:
    assert levenshtein("coppy", "copy") == 1
    assert levenshtein("", "abc") == 3
    assert levenshtein("kitten", "sitting") == 3
    assert suggest("COPY", ["COPY", "ADD"]) is None  # exact: nothing to suggest
    assert suggest("ABCDEF", ["COPY", "ADD"]) is None  # too far (distance must be < 3)
    assert suggest("AD", ["COPY", "ADD"]) == "ADD"


# --- parse errors -----------------------------------------------------------


def test_unterminated_heredoc() -> None:
    text = "FROM x\nRUN --mount=type=cache,target=/c <<EOF\necho hi\n"
    with pytest.raises(DockerfileError) as info:
        parse(text, filename="Dockerfile.heredoc")
    error = info.value
    assert "unterminated heredoc" in error.reason and "EOF" in error.reason
    assert str(error.location) == "Dockerfile.heredoc:2:34"
    assert error.location is not None and error.location.text.startswith("RUN --mount")
    assert error.hint is not None and "EOF" in error.hint


def test_unterminated_second_heredoc_points_at_its_marker() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("FROM x\nCOPY <<A <<-'B' /d\na\nA\nb\n")
    assert "'B'" in info.value.reason
    assert str(info.value.location) == "Dockerfile:2:10"


def test_heredoc_terminator_must_match_exactly() -> None:
    # "EOF " (trailing space) is body text, so the heredoc never ends.
    with pytest.raises(DockerfileError, match="unterminated heredoc"):
        parse("FROM x\nRUN <<EOF\necho\nEOF \n")
    # With <<- leading tabs (not spaces) may precede the terminator.
    with pytest.raises(DockerfileError, match="unterminated heredoc"):
        parse("FROM x\nRUN <<-EOF\necho\n  EOF\n")
    run = parse("FROM x\nRUN <<-EOF\n\techo\n\t\tEOF\n").ast[1]
    assert run.heredocs[0].body == "echo\n"


def test_nested_json_is_rejected_at_the_bracket() -> None:
    with pytest.raises(DockerfileError) as info:
        parse('FROM x\nCMD [ "echo", [ "nested json" ] ]\n')
    assert "arrays must be comprised of strings only" in info.value.reason
    assert str(info.value.location) == "Dockerfile:2:5"


def test_json_with_a_number_is_rejected() -> None:
    with pytest.raises(DockerfileError, match="strings only"):
        parse('FROM x\nENTRYPOINT ["sleep", 10]\n')


@pytest.mark.parametrize(
    ("line", "args"),
    [
        ("CMD [\"echo\", 'single']", ("[\"echo\", 'single']",)),  # single quotes
        ('CMD ["echo", "unterminated]', ('["echo", "unterminated]',)),
        ('RUN ["a",]', ('["a",]',)),
        ('RUN ["a"] && b', ('["a"] && b',)),
        ("RUN [NaN]", ("[NaN]",)),
    ],
)
def test_invalid_json_falls_back_to_shell_form(line: str, args: tuple[str, ...]) -> None:
    node = parse(f"FROM x\n{line}\n").ast[1]
    assert node.args == args
    assert not node.json_form


def test_invalid_json_in_copy_falls_back_to_words() -> None:
    node = parse('FROM x\nCOPY ["a" "b"] /dst\n').ast[1]
    assert node.args == ('["a"', '"b"]', "/dst")
    assert not node.json_form


@pytest.mark.parametrize(
    ("line", "message", "column"),
    [
        ("ENV PATH", "ENV must have two arguments", 1),
        ("LABEL version", "LABEL must have two arguments", 1),
        ("ENV a=1 b", 'can\'t find = in "b"', 9),
        ("ENV E=1 E", 'can\'t find = in "E"', 9),
    ],
)
def test_env_and_label_errors(line: str, message: str, column: int) -> None:
    with pytest.raises(DockerfileError) as info:
        parse(f"FROM x\n{line}\n")
    assert message in info.value.reason
    assert info.value.location is not None
    assert (info.value.location.line, info.value.location.column) == (2, column)
    assert info.value.hint


def test_error_on_a_continuation_line_points_there() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("FROM x\nENV a=1 \\\n    oops\n")
    assert str(info.value.location) == "Dockerfile:3:5"


def test_repeated_directive() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("# syntax=docker/dockerfile:1\n# SYNTAX=other\nFROM x\n")
    assert info.value.reason == "only one syntax parser directive can be used"
    assert str(info.value.location) == "Dockerfile:2:1"


def test_invalid_escape_directive() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("# escape=x\nFROM x\n")
    assert "invalid escape token 'x'" in info.value.reason
    assert str(info.value.location) == "Dockerfile:1:1"
    assert info.value.hint is not None and "`" in info.value.hint


def test_line_longer_than_buildkit_allows() -> None:
    # Upstream TestParseReturnsScannerErrors: a LABEL of bufio.MaxScanTokenSize bytes.
    text = "\n\t\tFROM image\n\t\tLABEL test=" + "a" * 65536 + "\n"
    with pytest.raises(DockerfileError) as info:
        parse(text)
    assert info.value.reason == "dockerfile line greater than max allowed size of 65535"
    assert info.value.location is not None and info.value.location.line == 3


def test_line_of_exactly_the_limit_is_accepted() -> None:
    text = "FROM x\nLABEL a=" + "b" * (65535 - len("LABEL a=")) + "\n"
    assert parse(text).ast[1].args[1] == "b" * (65535 - 8)


def test_no_instructions() -> None:
    for text in ("", "\n\n", "# just a comment\n", "# escape=`\n"):
        with pytest.raises(DockerfileError, match="file with no instructions"):
            parse(text)


# --- warnings ---------------------------------------------------------------


def test_empty_continuation_lines_warn() -> None:
    # Upstream TestParseWarnsOnEmptyContinutationLine.
    text = (
        "\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n"
        "    following \\\n\n    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n"
        "# this is a comment\n   after-comment\n\nRUN indented \\\n"
        "    # this is an indented comment\n    comment\n\t"
    )
    result = parse(text)
    assert [w.message for w in result.warnings] == [
        "Empty continuation line found in: RUN something     following     more",
        "Empty continuation line found in: RUN another     thing",
    ]
    assert "will become errors in a future release" in result.warnings[0].detail
    assert result.warnings[0].location.line == 11
    assert [i.args for i in result.ast][-2:] == [
        ("non-indented    after-comment",),
        ("indented     comment",),
    ]


# --- positions, text and forms the next stages use --------------------------


def test_positions_of_continued_and_indented_instructions() -> None:
    text = "# base image\nFROM alpine AS build\n\n    RUN apk add \\\n      curl \\\n      git\n"
    ast = parse(text, filename="ctx/Dockerfile").ast
    from_, run = ast
    assert (from_.start_line, from_.end_line, from_.column) == (2, 2, 1)
    assert from_.comments == ("base image",)
    assert (run.start_line, run.end_line, run.column, run.end_column) == (4, 6, 5, 10)
    assert run.original == "RUN apk add       curl       git"
    assert run.source == "    RUN apk add \\\n      curl \\\n      git\n"
    assert str(run.location) == "ctx/Dockerfile:4:5"
    located = run.locate("git")
    assert (located.line, located.column, located.text) == (6, 7, "      git")
    assert (ast.start_line, ast.end_line) == (2, 6)


def test_heredoc_positions_and_raw_content() -> None:
    text = "FROM x\nCOPY <<one.txt <<'two.txt' /dst/\n1 $A\none.txt\n2 $B\ntwo.txt\nRUN true\n"
    copy, run = parse(text).ast[1:]
    assert copy.args == ("<<one.txt", "<<'two.txt'", "/dst/")
    assert [(h.name, h.content, h.expand, h.start_line, h.end_line) for h in copy.heredocs] == [
        ("one.txt", "1 $A\n", True, 3, 4),
        ("two.txt", "2 $B\n", False, 5, 6),
    ]
    assert (copy.start_line, copy.end_line) == (2, 6)
    assert run.start_line == 7


def test_heredocs_only_for_run_copy_add() -> None:
    ast = parse("FROM x\nUSER <<EOF\nEOF\nWORKDIR <<EOF\n").ast
    assert [(i.keyword, i.heredocs) for i in ast] == [
        ("from", ()),
        ("user", ()),
        ("eof", ()),
        ("workdir", ()),
    ]


def test_onbuild_heredoc_attaches_to_onbuild() -> None:
    onbuild = parse("FROM x\nONBUILD RUN <<EOF\nmake\nEOF\n").ast[1]
    assert onbuild.keyword == "onbuild" and onbuild.args == ()
    assert onbuild.trigger is not None and onbuild.trigger.args == ("<<EOF",)
    assert onbuild.command is onbuild.trigger
    assert [h.content for h in onbuild.heredocs] == ["make\n"]
    assert dump(onbuild) == 'onbuild (run "<<EOF")'


def test_crlf_line_endings() -> None:
    text = "FROM x\r\nRUN a \\\r\n  b\r\nRUN <<EOF\r\nline\r\nEOF\r\n"
    ast = parse(text).ast
    assert ast[1].args == ("a   b",)
    assert ast[1].first_line == "RUN a \\"
    assert ast[2].heredocs[0].content == "line\r\n"


def test_byte_order_mark_and_backtick_escape() -> None:
    text = "\ufeff# escape=`\nFROM mcr.microsoft.com/windows/nanoserver\nRUN dir C:\\ `\n    && echo hi\nENV GOPATH \\go\n"
    result = parse(text)
    assert result.escape_token == "`"
    assert [d.name for d in result.directives.entries] == ["escape"]
    assert [i.args for i in result.ast][1:] == [
        ("dir C:\\     && echo hi",),
        ("GOPATH", "\\go", ""),
    ]


def test_flags_quotes_and_double_dash() -> None:
    node = parse('FROM x\nCOPY --chown="app user" --chmod=0755 -- --weird /dst\n').ast[1]
    assert node.flags == ("--chown=app user", "--chmod=0755")
    assert node.args == ("--weird", "/dst")


def test_all_flag_kinds_are_kept_raw_in_order() -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM golang AS b\n"
        "ADD --checksum=sha256:abc --keep-git-dir=true --link https://x/y.git /src\n"
        "COPY --from=b --parents --exclude=*.md --link ./a ./b\n"
        "RUN --mount=type=secret,id=t --network=none --security=insecure make\n"
        "HEALTHCHECK --interval=5s --timeout=3s --start-period=1s --start-interval=1s "
        "--retries=3 CMD curl -f http://localhost/\n"
    )
    ast = parse(text).ast
    assert [i.flags for i in ast] == [
        ("--platform=$BUILDPLATFORM",),
        ("--checksum=sha256:abc", "--keep-git-dir=true", "--link"),
        ("--from=b", "--parents", "--exclude=*.md", "--link"),
        ("--mount=type=secret,id=t", "--network=none", "--security=insecure"),
        (
            "--interval=5s",
            "--timeout=3s",
            "--start-period=1s",
            "--start-interval=1s",
            "--retries=3",
        ),
    ]
    assert ast[0].args == ("golang", "AS", "b")
    assert ast[4].args == ("CMD", "curl -f http://localhost/")


def test_env_forms_and_key_values() -> None:
    ast = parse('FROM x\nENV A=1 B="two words"\nENV LEGACY value with spaces\n').ast
    assert ast[1].args == ("A", "1", "=", "B", '"two words"', "=")
    assert ast[1].key_values() == (("A", "1"), ("B", '"two words"'))
    assert ast[2].key_values() == (("LEGACY", "value with spaces"),)


def test_exec_and_shell_forms() -> None:
    ast = parse('FROM x\nSHELL ["pwsh", "-c"]\nCMD []\nENTRYPOINT exec app\nHEALTHCHECK NONE\n').ast
    assert [(i.keyword, i.args, i.json_form) for i in ast][1:] == [
        ("shell", ("pwsh", "-c"), True),
        ("cmd", (), True),
        ("entrypoint", ("exec app",), False),
        ("healthcheck", ("NONE",), False),
    ]
