"""What image manifests and indexes share: header checks, subject, annotations, raw bytes.

Both are "top-level" documents addressed by the digest of their exact bytes,
so both keep ``raw`` and derive ``digest``/``size`` from it; both carry
``schemaVersion: 2``, an optional ``mediaType`` that must agree with the media
type they were served as, and optional ``subject``/``artifactType``/``annotations``.
Both are also written the same way (:func:`document_json`, :func:`encode_built`)
and described the same way (:func:`descriptor_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

from anyarch.errors import InvalidDocumentError, UnsupportedMediaTypeError
from anyarch.oci import mediatype
from anyarch.oci._frozen import FrozenMap, freeze, thaw
from anyarch.oci._jsonread import Fields, fail
from anyarch.oci.descriptor import Descriptor
from anyarch.oci.digest import Digest
from anyarch.oci.platform import Platform

Family = Literal["manifest", "index"]

_DOCKER_HINT = (
    "Docker schema 1 is deprecated; re-push the image with a current Docker or anyarch "
    "to get a schema 2 or OCI manifest"
)


def as_bytes(raw: object, what: str) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    fail(what, f"expected bytes, got {type(raw).__name__}")


def media_type_of(f: Fields, declared: str | None, family: Family) -> str:
    """The document's media type, checked against its family and against ``declared``."""
    is_family = mediatype.is_manifest if family == "manifest" else mediatype.is_index
    if declared is not None:
        if mediatype.is_schema1(declared):
            raise UnsupportedMediaTypeError(
                f"Docker schema 1 manifests ({mediatype.essence(declared)}) are not supported",
                hint=_DOCKER_HINT,
            )
        if not is_family(declared):
            raise UnsupportedMediaTypeError(
                f"media type {declared!r} is not an image {family}",
                hint=f"parse it with {'Index' if family == 'manifest' else 'Manifest'}.from_bytes "
                "or parse_document, which dispatch on the media type",
            )
    if f.obj.get("schemaVersion") == 1:
        raise UnsupportedMediaTypeError(
            f"invalid {f.what}: Docker schema 1 manifests are not supported", hint=_DOCKER_HINT
        )
    inner = f.opt_str("mediaType")
    if inner is not None:
        if mediatype.is_schema1(inner):
            raise UnsupportedMediaTypeError(
                f"Docker schema 1 manifests ({inner}) are not supported", hint=_DOCKER_HINT
            )
        if not is_family(inner):
            fail(f.what, f"mediaType {inner!r} is not an image {family} media type")
        if declared is not None and mediatype.essence(declared) != inner:
            fail(
                f.what,
                f"mediaType {inner!r} contradicts the media type it was served as ({declared!r})",
                "the registry or store entry points at the wrong document",
            )
        media_type = inner
    elif declared is not None:
        media_type = mediatype.essence(declared)
    else:
        media_type = mediatype.OCI_MANIFEST if family == "manifest" else mediatype.OCI_INDEX
    version = f.obj.get("schemaVersion")
    if version is None:
        f.missing("schemaVersion")
    if f.req_int("schemaVersion") != 2:
        fail(f.what, f"schemaVersion must be 2, not {version!r}")
    return media_type


def read_subject(f: Fields) -> Descriptor | None:
    sub = f.obj.get("subject")
    if sub is None:
        return None
    if not isinstance(sub, Mapping):
        f.wrong("subject", "an object")
    return Descriptor.from_json(sub, what=f.what, path="subject")


def read_artifact_type(f: Fields) -> str | None:
    at = f.opt_str("artifactType")
    if at is not None and not mediatype.is_valid(at):
        fail(f.what, f"artifactType {at!r} is not a type/subtype media type")
    return at


def read_extra(f: Fields, known: frozenset[str]) -> FrozenMap[Any]:
    return FrozenMap((k, freeze(v)) for k, v in f.obj.items() if k not in known)


def check_build_common(
    what: str,
    media_type: str,
    annotations: Mapping[str, str] | None,
    subject: Descriptor | None,
    artifact_type: str | None,
    extra: Mapping[str, Any] | None,
    known: frozenset[str],
) -> None:
    if annotations and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        raise InvalidDocumentError(
            f"cannot build {what}: annotations must map strings to strings",
            hint="convert values with str()",
        )
    if mediatype.is_docker(media_type) and (subject is not None or artifact_type):
        raise InvalidDocumentError(
            f"cannot build {what}: subject and artifactType exist only in OCI documents",
            hint="build it with the OCI media type instead",
        )
    if artifact_type is not None and not mediatype.is_valid(artifact_type):
        raise InvalidDocumentError(
            f"cannot build {what}: artifactType {artifact_type!r} is not a type/subtype media type",
            hint="e.g. application/vnd.example.sbom.v1+json",
        )
    clash = sorted(set(extra or ()) & known)
    if clash:
        raise InvalidDocumentError(
            f"cannot build {what}: extra fields {clash} are modelled fields",
            hint="pass them as arguments instead",
        )


def build_media_type(media_type: str, family: Family) -> str:
    """The essence of ``media_type`` for a new document; raises unless it is of ``family``."""
    if family == "manifest":
        ok, article, choices = (
            mediatype.is_manifest(media_type),
            "a manifest",
            (mediatype.OCI_MANIFEST, mediatype.DOCKER_MANIFEST),
        )
    else:
        ok, article, choices = (
            mediatype.is_index(media_type),
            "an index",
            (mediatype.OCI_INDEX, mediatype.DOCKER_MANIFEST_LIST),
        )
    if not ok:
        raise UnsupportedMediaTypeError(
            f"cannot build {article} with media type {media_type!r}",
            hint=f"use {choices[0]} or {choices[1]}",
        )
    return mediatype.essence(media_type)


def document_json(
    media_type: str,
    body: Mapping[str, Any],
    *,
    annotations: Mapping[str, str] | None,
    subject: Descriptor | None,
    artifact_type: str | None,
    extra: Mapping[str, Any] | None,
    schema_version: int = 2,
) -> dict[str, Any]:
    """A document as a JSON object: ``extra`` fields first, then the header,
    ``artifactType``, the family's own ``body`` fields, ``subject`` and ``annotations``
    (the last three only when set)."""
    doc: dict[str, Any] = {k: thaw(v) for k, v in (extra or {}).items()}
    doc["schemaVersion"] = schema_version
    doc["mediaType"] = media_type
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc.update(body)
    if subject is not None:
        doc["subject"] = subject.to_json()
    if annotations:
        doc["annotations"] = dict(annotations)
    return doc


def encode_built(doc: Mapping[str, Any], media_type: str, family: Family) -> bytes:
    """``doc`` in canonical JSON, checked with image-spec's validator."""
    # imported here: only documents anyarch builds are validated, and the validator's
    # schema tables and regexes cost a command that only reads (a copy) ~3 ms
    from anyarch._util import canonjson
    from anyarch.oci import validate

    raw = canonjson.dumps(doc)
    validate.validate(raw, media_type, what=family)
    return raw


class _Addressed(Protocol):
    @property
    def media_type(self) -> str: ...
    @property
    def digest(self) -> Digest: ...
    @property
    def size(self) -> int: ...
    @property
    def artifact_type(self) -> str | None: ...


def descriptor_of(
    doc: _Addressed, platform: Platform | None, annotations: Mapping[str, str] | None
) -> Descriptor:
    """A descriptor pointing at ``doc`` (a manifest or an index)."""
    return Descriptor(
        doc.media_type,
        doc.digest,
        doc.size,
        platform=platform,
        annotations=annotations or {},
        artifact_type=doc.artifact_type,
    )
