"""Arbitrary shell text in RUN never crashes the rules: a report, or a located DockerfileError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyarch.errors import DockerfileError
from anyarch.lint import LintOptions, check_text
from anyarch.oci.platform import parse as parse_platform

PIECES = [
    " ",
    "\\\n",
    "\n",
    "'",
    '"',
    "`",
    "$(",
    ")",
    "(",
    "${",
    "}",
    "$TARGETARCH",
    "#",
    "# anyarch:ignore",
    ";",
    ";;",
    "&&",
    "||",
    "|",
    "<<EOF",
    "EOF",
    "case ",
    " in ",
    "esac",
    "if ",
    "then",
    "fi",
    "[",
    "]",
    "for a in ",
    "do",
    "done",
    "amd64",
    "x86_64",
    "curl ",
    "https://e.com/releases/download/x",
    "go build",
    "powershell",
    "cmd /S /C",
    "apt-get",
    "--platform=",
    "\\",
    "=",
    "-",
    "a",
    "%TARGETOS%",
]
OPTIONS = LintOptions(
    platforms=(parse_platform("linux/amd64"), parse_platform("windows/amd64")),
    build_platform=parse_platform("linux/amd64"),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=40), st.sampled_from(["RUN ", "ADD ", "CMD "]))
def test_arbitrary_run_text(pieces: list[str], keyword: str) -> None:
    body = "".join(pieces).rstrip("\\")
    text = f"FROM alpine:3.19\n{keyword}{body}\n"
    try:
        report = check_text(text, options=OPTIONS)
    except DockerfileError as err:
        assert err.location is not None
        return
    lines = text.split("\n")
    for finding in report.findings:
        assert 1 <= finding.line <= len(lines)
        assert finding.text == lines[finding.line - 1]
        assert 1 <= finding.column <= len(finding.text) + 1
        assert finding.message and finding.hint
