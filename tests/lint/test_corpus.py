"""``anyarch check --offline`` over the 335 real Dockerfiles of the shared corpus.

Every file must be checked without a crash: either a report, or a located
:class:`~anyarch.errors.DockerfileError` (the files the planner refuses, as
BuildKit does).  What the rules find is summarised per file (finding counts
per rule) and compared with ``golden/corpus-findings.txt``, so any change in
what the rules report shows up in review.  Regenerate the golden file with
``ANYARCH_UPDATE_GOLDEN=1 pytest tests/lint/test_corpus.py``.

Also timed: checking all of them in one process must take under 2 CPU seconds.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import pytest

from anyarch.api.check import check_dockerfile
from anyarch.errors import DockerfileError
from anyarch.lint import LintOptions
from anyarch.oci.platform import parse as parse_platform

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "dockerfiles"
GOLDEN = Path(__file__).resolve().parent / "golden" / "corpus-findings.txt"
OPTIONS = LintOptions(
    platforms=(parse_platform("linux/amd64"), parse_platform("linux/arm64")),
    build_platform=parse_platform("linux/amd64"),
)
HEADER = (
    "# anyarch check --offline --platform linux/amd64,linux/arm64 (build platform linux/amd64)\n"
    "# over ../shared/conformance/dockerfiles, empty store: per file, findings per rule\n"
    "# ('-': none; 'DockerfileError LINE:COLUMN': the file does not plan).\n"
    "# Regenerate: ANYARCH_UPDATE_GOLDEN=1 pytest tests/lint/test_corpus.py\n"
)


def corpus_files() -> list[str]:
    with (CORPUS / "MANIFEST.tsv").open(newline="") as f:
        return [row["local_name"] for row in csv.DictReader(f, delimiter="\t")]


def summarise(name: str, store: Path) -> str:
    path = CORPUS / name
    try:
        report = check_dockerfile(
            path.parent, dockerfile=path, options=OPTIONS, store_root=store, offline=True
        )
    except DockerfileError as err:
        where = f"{err.location.line}:{err.location.column}" if err.location else "?"
        return f"{name}\tDockerfileError {where}"
    counts = report.by_rule()
    return f"{name}\t" + (" ".join(f"{rule}={n}" for rule, n in counts.items()) or "-")


def test_corpus_manifest_lists_335_files() -> None:
    assert len(corpus_files()) == 335


def test_corpus_findings_match_golden(tmp_path: Path) -> None:
    lines = [summarise(name, tmp_path / "store") for name in corpus_files()]
    text = HEADER + "\n".join(lines) + "\n"
    if os.environ.get("ANYARCH_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert GOLDEN.read_text() == text, "findings changed; review and set ANYARCH_UPDATE_GOLDEN=1"


def test_corpus_golden_is_not_trivial() -> None:
    lines = [ln for ln in GOLDEN.read_text().splitlines() if not ln.startswith("#")]
    assert len(lines) == 335
    rules = {
        part.split("=")[0] for ln in lines for part in ln.split("\t")[1].split() if "=" in part
    }
    assert {"MA003", "MA005", "MA006", "MA008"} <= rules
    errors = [ln for ln in lines if "\tDockerfileError " in ln]
    assert 0 < len(errors) < 20


@pytest.mark.timing
def test_corpus_checks_in_under_two_cpu_seconds(tmp_path: Path) -> None:
    names = corpus_files()

    def run() -> float:
        start = time.process_time()
        for name in names:
            summarise(name, tmp_path / "store")
        return time.process_time() - start

    elapsed = min(run() for _ in range(3))  # best of 3: the code's cost, not a neighbour's burst
    print(f"anyarch check --offline of {len(names)} Dockerfiles: {elapsed:.3f} s CPU (best of 3)")
    assert elapsed < 2.0, f"{len(names)} Dockerfiles took {elapsed:.3f} s CPU"
