"""image-spec's own validator cases and spec examples: one test per document.

Each row of ``cases.tsv`` (upstream's validator tests) and ``spec-examples.tsv``
(the examples in the spec prose) must get upstream's verdict from
:func:`anyarch.oci.validate.problems`.  The ``compat-*`` rows are real Docker
Hub documents: upstream checks their sha256 and validates them after swapping
Docker media types for OCI ones; anyarch must also read them as they are and
report the same digest.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from anyarch.oci import ImageConfig, Index, Manifest, Platform, mediatype, parse_document, validate

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "oci-schemas"

# The README's list of the cases a plain JSON-schema check gets wrong.
NOT_CAUGHT_BY_SCHEMA = {
    "descriptor-16-invalid.json",  # upper-case sha256 hex (go-digest)
    "descriptor-18-invalid.json",  # relative URL (format: uri)
    "descriptor-29-invalid.json",  # unpadded base64 (Go []byte decoding)
    "config-10-invalid.json",  # Env entry without '=' (validator.go)
}
DOCKER_TO_OCI = {
    "application/vnd.docker.distribution.manifest.list.v2+json": mediatype.OCI_INDEX,
    "application/vnd.docker.distribution.manifest.v2+json": mediatype.OCI_MANIFEST,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": mediatype.OCI_LAYER_GZIP,
    "application/vnd.docker.container.image.v1+json": mediatype.OCI_CONFIG,
}


def _rows(tsv: str) -> list[dict[str, str]]:
    # Read at collection time: a missing file must error, not collect zero tests.
    with (DATA / tsv).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


CASES = _rows("cases.tsv")
EXAMPLES = _rows("spec-examples.tsv")


def _document(folder: str, row: dict[str, str]) -> bytes:
    raw = (DATA / folder / row["file"]).read_bytes()
    if row["file"].startswith("compat-"):
        text = raw.decode("utf-8")
        for docker, oci in DOCKER_TO_OCI.items():
            text = text.replace(docker, oci)
        raw = text.encode("utf-8")
    return raw


def test_every_documented_case_is_present() -> None:
    assert len(CASES) == 69
    assert len(EXAMPLES) == 13
    kinds = [r["file"].split("-")[0] for r in CASES]
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "descriptor": 30,
        "manifest": 11,
        "index": 12,
        "config": 10,
        "layout": 2,
        "compat": 4,
    }


@pytest.mark.parametrize("row", CASES, ids=[r["file"] for r in CASES])
def test_validator_case(row: dict[str, str]) -> None:
    found = validate.problems(_document("cases", row), row["validator_media_type"])
    if row["expect"] == "valid":
        assert found == [], f"{row['upstream_comment']}: wrongly rejected: {found}"
    else:
        assert row["expect"] == "invalid"
        assert found, f"{row['upstream_comment']}: wrongly accepted"


@pytest.mark.parametrize("row", EXAMPLES, ids=[r["file"] for r in EXAMPLES])
def test_spec_example(row: dict[str, str]) -> None:
    assert row["expect"] == "valid"
    raw = (DATA / "spec-examples" / row["file"]).read_bytes()
    assert validate.problems(raw, row["validator_media_type"]) == []


@pytest.mark.parametrize(
    "row", CASES + EXAMPLES, ids=[f"schema-{r['file']}" for r in CASES + EXAMPLES]
)
def test_plain_schema_check_agrees_except_for_the_readme_list(
    row: dict[str, str], schema_check: Callable[..., list[str]]
) -> None:
    """jsonschema on the upstream files gives upstream's verdict for all but the 4 listed cases.

    This pins the data (and the fixture) down: if anyarch's validator and
    jsonschema both drifted, the tests above alone could not tell.
    """
    folder = "cases" if row in CASES else "spec-examples"
    raw = _document(folder, row)
    try:
        doc = json.loads(raw)
    except ValueError:
        schema_verdict = "invalid"
    else:
        errors = schema_check(doc, row["validator_media_type"], formats=False)
        schema_verdict = "invalid" if errors else "valid"
    if row["file"] in NOT_CAUGHT_BY_SCHEMA:
        assert (row["expect"], schema_verdict) == ("invalid", "valid")
    else:
        assert schema_verdict == row["expect"]


COMPAT = [r for r in CASES if r["file"].startswith("compat-")]


@pytest.mark.parametrize("row", COMPAT, ids=[f"read-{r['file']}" for r in COMPAT])
def test_docker_hub_documents_read_with_their_upstream_digest(row: dict[str, str]) -> None:
    raw = (DATA / "cases" / row["file"]).read_bytes()
    expected = row["sha256_of_file_bytes"]
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == expected
    doc: Manifest | Index | ImageConfig
    if "config" in row["file"]:
        doc = ImageConfig.from_bytes(raw)
        assert doc.platform == Platform("linux", "amd64")
        # Nothing is lost: every Docker-only member survives a re-encode.
        assert doc.to_json() == json.loads(raw)
        assert {"container", "container_config", "docker_version"} <= set(doc.extra)
    else:
        doc = parse_document(raw)
        assert mediatype.is_docker(doc.media_type)
    assert str(doc.digest) == expected
    assert doc.raw is raw
    # Docker documents validate as they are, with the rules of their OCI twin.
    media_type = row["validator_media_type"]
    docker_type = {v: k for k, v in DOCKER_TO_OCI.items()}[media_type]
    assert validate.problems(raw, docker_type) == []


def test_compat_index_platforms() -> None:
    raw = (DATA / "cases" / "compat-index-01-valid.json").read_bytes()
    index = Index.from_bytes(raw, mediatype.DOCKER_MANIFEST_LIST)
    assert [str(p) for p in index.platforms] == [
        "linux/ppc64le",
        "linux/amd64",
        "linux/s390x",
        "linux/arm/v7",
        "linux/arm64/v8",
    ]
    arm64 = index.find(Platform("linux", "arm64"))
    assert arm64 is not None
    assert str(arm64.digest).startswith("sha256:fb2fc0707b86")
