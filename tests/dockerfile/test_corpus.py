"""335 real Dockerfiles: our parse equals BuildKit's, one test id per file.

The reference (``shared/conformance/dockerfiles/PARSED-buildkit-v0.12.5.jsonl``)
was produced by the PyPI package ``dockerfile`` 3.4.0, which wraps BuildKit
v0.12.5's Go parser.  Its record format differs from BuildKit's tree in three
documented ways, which :func:`_as_reference` applies to our nodes (a format
adapter, not a tolerance):

- ``value`` of ENV/LABEL is ``key, value, key, value``: v0.12.5 had no
  separator nodes; current BuildKit adds ``"="``/``""`` after each pair.
- ``flags`` of an ONBUILD record are the ONBUILD node's own flags, while
  ``value``/``json`` come from the trigger instruction.
- ``original`` of an instruction with heredocs has each heredoc appended as
  ``"\\n" + content + name + "\\n"`` by the wrapper; BuildKit's ``Original``
  is only the instruction line.

anyarch follows *current* BuildKit syntax.  Where it differs from v0.12.5 on a
corpus file, the file and the reason go in ``V0125_DIFFERENCES``.  The corpus
was checked against BuildKit at the commit named in buildkit-parser/README.md:
no corpus file parses differently there, so the table is empty; the known
syntax changes since v0.12.5 are pinned by ``CURRENT_VS_V0125`` instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from anyarch.dockerfile import Instruction, ParseResult, dump, parse, unknown_instructions

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "dockerfiles"
MANIFEST = CORPUS / "MANIFEST.tsv"
REFERENCE = CORPUS / "PARSED-buildkit-v0.12.5.jsonl"

#: local_name -> reason, for files where current BuildKit and v0.12.5 disagree.
V0125_DIFFERENCES: dict[str, str] = {}


def _missing(path: Path) -> None:
    message = f"conformance data not found: {path} (shared/ must sit beside the repo)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _manifest() -> dict[str, dict[str, str]]:
    if not MANIFEST.exists():
        return {}
    lines = MANIFEST.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:] if line]
    return {row["local_name"]: row for row in rows}


def _reference() -> dict[str, list[dict[str, Any]]]:
    if not REFERENCE.exists():
        return {}
    records = (json.loads(line) for line in REFERENCE.read_text(encoding="utf-8").splitlines())
    return {record["local_name"]: record["instructions"] for record in records}


ROWS = _manifest()
EXPECTED = _reference()
NAMES = list(ROWS) or ["<missing>"]


def _read(name: str) -> str:
    if name == "<missing>" or not (CORPUS / name).exists():
        _missing(CORPUS / name)
    data = (CORPUS / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == ROWS[name]["sha256"], "corpus file changed"
    return data.decode("utf-8")


def _as_reference(instruction: Instruction) -> dict[str, Any]:
    """Our node in the reference file's record format (see the module docstring)."""
    command = instruction.command
    value = [""] if command.trigger is not None else list(command.args)
    if command.keyword in ("env", "label"):
        value = [item for index, item in enumerate(value) if index % 3 != 2]
    original = instruction.original
    if instruction.heredocs:
        original += "\n" + "".join(h.content + h.name + "\n" for h in instruction.heredocs)
    record: dict[str, Any] = {
        "cmd": instruction.raw_keyword,
        "sub_cmd": None if instruction.trigger is None else instruction.trigger.raw_keyword,
        "json": command.json_form,
        "start_line": instruction.start_line,
        "end_line": instruction.end_line,
        "flags": list(instruction.flags),
        "value": value,
        "original": original,
    }
    if instruction.heredocs:
        record["heredocs"] = [
            {"name": h.name, "file_descriptor": h.file_descriptor, "content": h.content}
            for h in instruction.heredocs
        ]
    return record


def _reference_record(record: dict[str, Any]) -> dict[str, Any]:
    expected = dict(record)
    if not expected.get("heredocs"):
        expected.pop("heredocs", None)
    return expected


@pytest.mark.parametrize("name", NAMES)
def test_corpus_file_parses_like_buildkit(name: str) -> None:
    text = _read(name)
    result = parse(text, filename=name)
    got = [_as_reference(instruction) for instruction in result.ast]
    expected = [_reference_record(record) for record in EXPECTED[name]]
    if name in V0125_DIFFERENCES:
        assert got != expected, f"listed as a difference but now equal: {V0125_DIFFERENCES[name]}"
        return
    assert got == expected
    # Every node keeps its exact source text and a usable position.
    lines = text.split("\n")
    for instruction in result.ast:
        first = lines[instruction.start_line - 1].rstrip("\r")
        assert instruction.first_line == first
        assert first[instruction.column - 1 :].startswith(instruction.raw_keyword)
        assert instruction.source.count("\n") >= instruction.end_line - instruction.start_line
    dump(result.ast)  # every corpus tree can be dumped


def test_corpus_is_complete() -> None:
    if not ROWS:
        _missing(MANIFEST)
    assert len(ROWS) == 335
    assert set(EXPECTED) == set(ROWS)
    assert set(V0125_DIFFERENCES) <= set(ROWS)


def test_corpus_unknown_instruction_is_only_the_bogus_fixture() -> None:
    """buildah's ``unrecognized`` fixture is meant to fail at build time, not parse time."""
    if not ROWS:
        _missing(MANIFEST)
    flagged = {
        name: [e.reason for e in unknown_instructions(parse(_read(name), filename=name))]
        for name in ROWS
    }
    flagged = {name: reasons for name, reasons in flagged.items() if reasons}
    assert flagged == {
        "containers/buildah/tests/bud/unrecognized/Dockerfile": ["unknown instruction: BOGUS"]
    }


@pytest.mark.timing
def test_parsing_the_whole_corpus_is_fast() -> None:
    """A warm process parses all 335 files in well under half a second."""
    texts = [_read(name) for name in ROWS] if ROWS else []
    if not texts:
        _missing(MANIFEST)
    results: list[ParseResult] = [parse(text) for text in texts]  # warm up
    best = min(_timed(texts) for _ in range(3))
    assert len(results) == 335
    assert best < 0.5, f"parsing the corpus took {best:.3f} s"


def _timed(texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        parse(text)
    return time.perf_counter() - start


# --- syntax that changed since v0.12.5: we follow current BuildKit ----------

#: (Dockerfile, what v0.12.5 gives, what current BuildKit gives, why)
CURRENT_VS_V0125 = [
    (
        "FROM x\nRUN <<  EOF\nhi\nEOF\n",
        "RUN '<<  EOF' is a plain shell command; 'hi' and 'EOF' become unknown instructions",
        "RUN with heredoc EOF (content 'hi\\n'), lines 2-4",
        "spaces after << allowed since dockerfile 1.16 (BuildKit v0.22, commit 0b77373a)",
    ),
    (
        "# check=skip=all\n# escape=`\nFROM x\nRUN a `\n b\n",
        "'check' is not a directive, so the block ends and escape stays \\",
        "escape is ` and RUN continues onto line 5",
        "the check directive exists since dockerfile 1.8 (BuildKit v0.14, commit e3c0a07b)",
    ),
    (
        "# escape=`\nFROM x\nCOPY --chown=a\\b c d\n",
        "flags always used \\ as escape: --chown=ab",
        "flags use the file's escape character: --chown=a\\b",
        "flags honour the escape directive since dockerfile 1.15 (BuildKit v0.21, commit 877d8a77)",
    ),
]


def test_spaces_after_heredoc_operator() -> None:
    run = parse(CURRENT_VS_V0125[0][0]).ast[1]
    assert (run.start_line, run.end_line) == (2, 4)
    assert [(h.name, h.content) for h in run.heredocs] == [("EOF", "hi\n")]


def test_check_directive_keeps_the_directive_block_open() -> None:
    result = parse(CURRENT_VS_V0125[1][0])
    assert result.escape_token == "`"
    assert result.directives.check == "skip=all"
    run = result.ast[1]
    assert (run.args, run.end_line) == (("a  b",), 5)


def test_flags_use_the_directive_escape() -> None:
    copy = parse(CURRENT_VS_V0125[2][0]).ast[1]
    assert copy.flags == ("--chown=a\\b",)
    assert copy.args == ("c", "d")
