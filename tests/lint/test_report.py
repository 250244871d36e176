"""Suppression (``# check=``, ``# anyarch:ignore``), strictness and the three output formats."""

from __future__ import annotations

import json

from anyarch.lint import RULES, Severity, parse_check_directive, render_text, to_json, to_sarif
from lint.helpers_lint import found, run

HARDCODED = """
    {directive}
    FROM alpine:3.19
    RUN wget https://example.com/tool-linux-amd64.tar.gz
    RUN echo $TARGETARCH
    """


def test_check_directive_parsing() -> None:
    d = parse_check_directive("skip=MA003,Download-Without-Arch,JSONArgsRecommended;error=true")
    assert d.skip == frozenset({"MA003", "MA004"})
    assert d.error and not d.skip_all
    assert parse_check_directive("skip=all").skip_all
    assert parse_check_directive(None) == parse_check_directive("")


def test_check_skip_directive_by_id_and_by_name() -> None:
    assert found(run(HARDCODED.format(directive="# no directive here"))) == [
        ("MA003", 3, 41),
        ("MA008", 4, 10),
    ]
    for directive in ("# check=skip=MA003", "# check=skip=hardcoded-arch", "#check = skip=ma003"):
        report = run(HARDCODED.format(directive=directive))
        assert found(report) == [("MA008", 4, 10)], directive
        assert report.suppressed == 1
    report = run(HARDCODED.format(directive="# check=skip=all"))
    assert found(report) == [] and report.exit_code == 0


def test_check_error_directive_makes_warnings_errors() -> None:
    text = "# check=error=true\nFROM alpine:3.19\nRUN wget https://example.com/tool-linux-amd64\n"
    report = run(text)
    assert found(report) == [("MA003", 3, 41)]
    assert report.findings[0].severity is Severity.ERROR
    assert report.strict and report.exit_code == 1


def test_strict_option_makes_warnings_errors_but_not_infos() -> None:
    text = """
        FROM alpine:3.19
        RUN wget https://example.com/tool-linux-amd64
        RUN curl -o /t https://example.com/releases/download/v1/tool
        """
    assert run(text).exit_code == 0
    report = run(text, strict=True)
    assert [f.severity for f in report.findings] == [Severity.ERROR, Severity.INFO]
    assert report.exit_code == 1


def test_inline_ignore_on_the_line_before_and_inside_the_instruction() -> None:
    report = run(
        """
        FROM alpine:3.19
        # anyarch:ignore MA003
        RUN wget https://example.com/tool-linux-amd64
        RUN wget https://example.com/tool-linux-arm64 # anyarch:ignore hardcoded-arch
        RUN wget https://example.com/a-amd64 && \\
        # anyarch:ignore MA003, MA008
            echo $TARGETARCH
        RUN wget https://example.com/b-amd64 && echo $TARGETARCH  # anyarch:ignore
        RUN wget https://example.com/c-amd64  # anyarch:ignore MA004
        """
    )
    assert found(report) == [("MA003", 9, 32)]
    assert report.suppressed == 6


def test_text_output_has_location_line_caret_hint_and_summary() -> None:
    report = run(
        "FROM alpine:3.19\nRUN\twget https://example.com/tool-linux-amd64\n",
        images={"docker.io/library/alpine:3.19": ("linux/amd64",)},
    )
    text = render_text(report)
    lines = text.splitlines()
    assert lines[0].startswith(
        "Dockerfile:1:6: error MA001 (from-missing-platform): FROM image alpine:3.19 is not "
        "published for linux/arm64; it has linux/amd64"
    )
    assert lines[1] == "  1 | FROM alpine:3.19"
    assert lines[2] == "    |      ^"
    assert lines[3].startswith("  hint: pick a tag or image published for linux/arm64")
    assert lines[5].startswith("Dockerfile:2:41: warning MA003 (hardcoded-arch)")
    # the caret keeps the tab so it lines up under the word
    assert lines[7] == "    |    \t" + " " * 36 + "^"
    assert (
        lines[-1] == "Dockerfile: checked for linux/amd64, linux/arm64: 1 error, 1 warning, 0 infos"
    )


def test_text_output_lists_unresolved_images() -> None:
    report = run("FROM alpine:3.19\n")
    assert render_text(report).splitlines()[-1] == (
        "platforms unknown, MA001/MA002 not checked for: docker.io/library/alpine:3.19 (not looked up)"
    )


def test_json_output_shape() -> None:
    report = run(
        HARDCODED.format(directive="# check=skip=MA004"),
        images={"docker.io/library/alpine:3.19": ("linux/amd64", "linux/arm64")},
    )
    doc = json.loads(json.dumps(to_json(report)))
    assert [
        (f["rule"], f["name"], f["severity"], f["line"], f["column"]) for f in doc["findings"]
    ] == [
        ("MA003", "hardcoded-arch", "warning", 3, 41),
        ("MA008", "undeclared-platform-arg", "error", 4, 10),
    ]
    first = doc["findings"][0]
    assert set(first) == {
        "rule",
        "name",
        "severity",
        "file",
        "line",
        "column",
        "text",
        "message",
        "hint",
    }
    assert first["file"] == "Dockerfile"
    assert first["text"] == "RUN wget https://example.com/tool-linux-amd64.tar.gz"
    summary = doc["summary"]
    assert summary["errors"] == 1 and summary["warnings"] == 1 and summary["infos"] == 0
    assert summary["rules"] == {"MA003": 1, "MA008": 1}
    assert summary["platforms"] == ["linux/amd64", "linux/arm64"]
    assert summary["images"] == {"docker.io/library/alpine:3.19": ["linux/amd64", "linux/arm64"]}
    assert summary["unresolved"] == {}
    assert summary["exit_code"] == 1 and summary["strict"] is False


def test_sarif_output_is_a_minimal_valid_2_1_0_log() -> None:
    report = run(HARDCODED.format(directive="# no directive here"), strict=False)
    doc = json.loads(json.dumps(to_sarif(report)))
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].startswith("https://")
    (run_,) = doc["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "anyarch" and driver["version"]
    assert [r["id"] for r in driver["rules"]] == [r.id for r in RULES]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    results = run_["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("MA003", "warning"),
        ("MA008", "error"),
    ]
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "Dockerfile"
        region = physical["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 3
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startColumn"] == 41


def test_sarif_levels_and_uris() -> None:
    report = run("FROM alpine:3.19\nRUN curl -o /t https://example.com/releases/download/v1/tool\n")
    doc = to_sarif(report)
    assert doc["runs"][0]["results"][0]["level"] == "note"
    report = run("FROM alpine:3.19\n")
    assert to_sarif(report)["runs"][0]["results"] == []
