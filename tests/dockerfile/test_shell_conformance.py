"""BuildKit's own shell-expansion tables, run against anyarch's lexer.

The tables live in ``shared/conformance/buildkit-parser/shell`` (copied from
moby/buildkit, see that folder's README).  Each table row is its own test, so
a failure names the exact upstream case.  The files are read the way
BuildKit's ``lex_test.go`` reads them, including its trimming rules, because
the expected values depend on them (trailing spaces in ``wordsTest`` count).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from anyarch.dockerfile.shell import Env, ShellExpansionError, ShellLex

SHELL_DIR = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "conformance"
    / "buildkit-parser"
    / "shell"
)
# Every table in SHELL_DIR and the test below that runs it.  A new upstream
# table must be wired in here, or test_every_table_is_run fails.
KNOWN_TABLES = {"envVarTest", "wordsTest", "process-with-matches.json"}


def _missing_data() -> Any:
    """One placeholder case when the data is absent: a failure in CI, a visible skip elsewhere."""
    if os.environ.get("CI"):
        return pytest.param(None, id="missing-data")  # runs, and fails in _require
    reason = f"conformance data not found at {SHELL_DIR}"
    return pytest.param(None, id="missing-data", marks=pytest.mark.skip(reason=reason))


def _lines(path: Path) -> list[str]:
    """Lines as Go's bufio.Scanner gives them: split on LF, no empty line after the last LF."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _require(case: object) -> None:
    if case is None:
        pytest.fail(f"conformance data not found at {SHELL_DIR}")


# -- envVarTest: ProcessWord ---------------------------------------------------

ENV_VAR_TEST_ENV = ["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="]


@dataclass(frozen=True)
class EnvVarCase:
    line: int
    platform: str  # "unix" or "windows"
    source: str
    expected: str


def _env_var_cases() -> list[Any]:
    path = SHELL_DIR / "envVarTest"
    if not path.is_file():
        return [_missing_data()]
    cases: list[Any] = []
    for number, line in enumerate(_lines(path), start=1):
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        fields = line.split("|")
        assert len(fields) == 3, f"envVarTest:{number}: expected 3 fields, got {fields!r}"
        tag, source, expected = (f.strip() for f in fields)
        assert tag in {"A", "U", "W"}, f"envVarTest:{number}: bad platform tag {tag!r}"
        # Upstream runs A rows on both kinds of platform, U and W rows on one.
        platforms = {"A": ("unix", "windows"), "U": ("unix",), "W": ("windows",)}[tag]
        for platform in platforms:
            case = EnvVarCase(number, platform, source, expected)
            cases.append(pytest.param(case, id=f"L{number}-{platform}-{source}"))
    return cases


@pytest.mark.parametrize("case", _env_var_cases())
def test_env_var_table(case: EnvVarCase | None) -> None:
    _require(case)
    assert case is not None
    lex = ShellLex("\\", case_insensitive_env=case.platform == "windows")
    if case.expected == "error":
        with pytest.raises(ShellExpansionError):
            lex.process_word(case.source, ENV_VAR_TEST_ENV)
    else:
        assert lex.process_word(case.source, ENV_VAR_TEST_ENV) == case.expected


# -- wordsTest: ProcessWords ---------------------------------------------------


@dataclass(frozen=True)
class WordsCase:
    line: int
    source: str
    expected: list[str]
    env: list[str] = field(default_factory=list)


def _words_cases() -> list[Any]:
    path = SHELL_DIR / "wordsTest"
    if not path.is_file():
        return [_missing_data()]
    cases: list[Any] = []
    env: list[str] = []
    for number, line in enumerate(_lines(path), start=1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            env.append(line[3:].lstrip(" "))
            continue
        fields = line.split("|")
        assert len(fields) == 2, f"wordsTest:{number}: expected exactly one '|' in {line!r}"
        source = fields[0].strip()
        expected = fields[1].lstrip(" ").split(",")
        cases.append(
            pytest.param(WordsCase(number, source, expected, list(env)), id=f"L{number}-{source}")
        )
    return cases


@pytest.mark.parametrize("case", _words_cases())
def test_words_table(case: WordsCase | None) -> None:
    _require(case)
    assert case is not None
    lex = ShellLex("\\")
    if case.expected == ["error"]:
        with pytest.raises(ShellExpansionError):
            lex.process_words(case.source, case.env)
    else:
        assert lex.process_words(case.source, case.env) == case.expected


# -- process-with-matches.json: ProcessWordWithMatches -------------------------


def _matches_cases() -> list[Any]:
    path = SHELL_DIR / "process-with-matches.json"
    if not path.is_file():
        return [_missing_data()]
    doc = json.loads(path.read_text(encoding="utf-8"))
    groups = [key for key, value in doc.items() if key == "cases" or key.startswith("extra_cases")]
    assert "cases" in groups
    cases: list[Any] = []
    for group in groups:
        for index, case in enumerate(doc[group]):
            label = "cases" if group == "cases" else group.removeprefix("extra_cases_from_")
            cases.append(pytest.param(case, id=f"{label}[{index}]-{case['input']}"))
    return cases


@pytest.mark.parametrize("case", _matches_cases())
def test_process_with_matches_table(case: dict[str, Any] | None) -> None:
    _require(case)
    assert case is not None
    lex = ShellLex("\\")
    if case.get("error"):
        with pytest.raises(ShellExpansionError) as caught:
            lex.process_word_with_matches(case["input"], case["envs"])
        if "error_contains" in case:
            assert case["error_contains"] in str(caught.value)
        return
    result, matched, unmatched = lex.process_word_with_matches(case["input"], case["envs"])
    assert result == case["expected"]
    # The upstream platform cases do not list the sets; the main table does.
    if "matches" in case:
        assert matched == set(case["matches"])
    if "unmatched" in case:
        assert unmatched == set(case["unmatched"])
    # The same word through a K=V list and an Env object gives the same answer.
    as_list = [f"{k}={v}" for k, v in case["envs"].items()]
    assert lex.process_word_with_matches(case["input"], as_list) == (result, matched, unmatched)
    assert lex.process_word_with_matches(case["input"], Env(as_list)) == (
        result,
        matched,
        unmatched,
    )


# -- completeness ------------------------------------------------------------


def test_every_table_is_run() -> None:
    """A table added to the shared folder must not be silently ignored."""
    if not SHELL_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"conformance data not found at {SHELL_DIR}")
        pytest.skip(f"conformance data not found at {SHELL_DIR}")
    present = {p.name for p in SHELL_DIR.iterdir() if p.is_file()}
    assert present == KNOWN_TABLES, f"unrun tables: {sorted(present - KNOWN_TABLES)}"
