"""Fixtures for the OCI model tests: the shared image-spec data and an independent schema checker.

The independent checker is the ``jsonschema`` library run on image-spec's own
schema files (resolved locally, never over the network), so that what
anyarch's hand-written validator says can be compared with the upstream
schemas themselves.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed; tests only
import pytest
import referencing
import referencing.jsonschema

OCI_SCHEMAS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "oci-schemas"

_BASE = "https://opencontainers.org/schema/"
# Upstream schema/schema.go: every file is also known under these URLs.
_ALIASES = {
    "config-schema.json": ["image/config"],
    "content-descriptor.json": ["descriptor", "image/content-descriptor.json"],
    "defs-descriptor.json": [
        "image/descriptor/mediaType",
        "defs-descriptor.json",
        "image/defs-descriptor.json",
    ],
    "defs.json": ["defs.json", "image/defs.json", "image/descriptor/defs.json"],
    "image-index-schema.json": ["image/index"],
    "image-layout-schema.json": ["image/layout"],
    "image-manifest-schema.json": ["image/manifest"],
}
SCHEMA_FOR = {
    "application/vnd.oci.descriptor.v1+json": "content-descriptor.json",
    "application/vnd.oci.layout.header.v1+json": "image-layout-schema.json",
    "application/vnd.oci.image.manifest.v1+json": "image-manifest-schema.json",
    "application/vnd.oci.image.index.v1+json": "image-index-schema.json",
    "application/vnd.oci.image.config.v1+json": "config-schema.json",
    # Docker documents are checked as their OCI twins (upstream's compat test does the same).
    "application/vnd.docker.distribution.manifest.v2+json": "image-manifest-schema.json",
    "application/vnd.docker.distribution.manifest.list.v2+json": "image-index-schema.json",
    "application/vnd.docker.container.image.v1+json": "config-schema.json",
}


def _registry() -> referencing.Registry[Any]:
    registry: referencing.Registry[Any] = referencing.Registry()
    for name, aliases in _ALIASES.items():
        contents = json.loads((OCI_SCHEMAS / "schema" / name).read_text(encoding="utf-8"))
        resource = referencing.jsonschema.DRAFT4.create_resource(contents)
        registry = registry.with_resource(name, resource)
        for alias in aliases:
            registry = registry.with_resource(_BASE + alias, resource)
    return registry.crawl()


def _loose_formats() -> jsonschema.FormatChecker:
    """Independent (and looser than Go's) checks for the two formats the schemas use."""
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("uri", raises=ValueError)  # type: ignore[untyped-decorator]
    def _uri(value: object) -> bool:
        return not isinstance(value, str) or bool(urllib.parse.urlsplit(value).scheme)

    @checker.checks("date-time", raises=ValueError)  # type: ignore[untyped-decorator]
    def _date_time(value: object) -> bool:
        if isinstance(value, str):
            dt.datetime.fromisoformat(value)
        return True

    return checker


@pytest.fixture(scope="session")
def oci_schemas() -> Path:
    """The shared image-spec data; its absence is a failure, never an empty test run."""
    if not (OCI_SCHEMAS / "cases.tsv").is_file():
        pytest.fail(f"conformance data missing: {OCI_SCHEMAS} (shared/ must sit beside the repo)")
    return OCI_SCHEMAS


@pytest.fixture(scope="session")
def schema_check(oci_schemas: Path) -> Callable[..., list[str]]:
    """``check(json_value, media_type, formats=True) -> [error messages]``, by jsonschema on upstream's files.

    ``formats=False`` is the plain check the data's README describes (no
    format assertions), ``True`` adds loose ``uri``/``date-time`` checks.
    """
    registry = _registry()
    validators: dict[tuple[str, bool], jsonschema.Draft4Validator] = {}

    def check(doc: Any, media_type: str, formats: bool = True) -> list[str]:
        name = SCHEMA_FOR[media_type]
        if (name, formats) not in validators:
            validators[name, formats] = jsonschema.Draft4Validator(
                registry.contents(name),
                registry=registry,
                format_checker=_loose_formats() if formats else None,
            )
        return [e.message for e in validators[name, formats].iter_errors(doc)]

    return check
