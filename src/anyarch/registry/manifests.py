"""Manifest GET/HEAD/PUT/DELETE with content negotiation and verification.

We ask for all four manifest kinds anyarch understands (OCI manifest and
index, Docker schema 2 manifest and list) and return the registry's bytes
unchanged: the digest of a manifest is the hash of exactly those bytes, so
re-encoding would change the image's identity.  Bytes are checked against the
digest they were requested by and against ``Docker-Content-Digest``.
Manifests over 4 MiB are refused before they are read (the limit the
distribution spec lets registries enforce, and a guard against a hostile
server feeding us gigabytes as "JSON").
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from anyarch.errors import (
    DigestMismatchError,
    InvalidDocumentError,
    InvalidInputError,
    RegistryProtocolError,
    UnsupportedMediaTypeError,
)
from anyarch.oci import Digest, mediatype
from anyarch.registry import _digest
from anyarch.registry._digest import DigestLike
from anyarch.registry._http import Response
from anyarch.registry.responses import check, describe, read_limited
from anyarch.registry.scopes import delete_scope, pull_scope, push_scope
from anyarch.registry.transport import BodyTooLarge, Transport

OCI_MANIFEST = mediatype.OCI_MANIFEST
OCI_INDEX = mediatype.OCI_INDEX
DOCKER_MANIFEST = mediatype.DOCKER_MANIFEST
DOCKER_MANIFEST_LIST = mediatype.DOCKER_MANIFEST_LIST
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"

#: What ``get_manifest`` accepts by default, most preferred first.
MANIFEST_MEDIA_TYPES: tuple[str, ...] = (
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
)

#: Largest manifest we read or write.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024

_GENERIC_TYPES = frozenset({"", "application/json", "text/plain", "application/octet-stream"})


class FetchedManifest(NamedTuple):
    """A manifest as the registry holds it: unpack as ``raw, media_type, digest``."""

    raw: bytes
    media_type: str
    digest: Digest


class ManifestInfo(NamedTuple):
    """What a ``HEAD`` tells: the descriptor of the manifest behind a tag or digest."""

    media_type: str
    digest: Digest
    size: int


def manifest_what(t: Transport, repository: str, reference: str) -> str:
    sep = "@" if _digest.is_digest(reference) else ":"
    return f"{t.registry}/{repository}{sep}{reference}"


def _content_type(resp: Response) -> str:
    return str(resp.headers.get("content-type", "")).split(";", 1)[0].strip().lower()


def sniff_media_type(raw: bytes) -> str:
    """The media type of a manifest served without a useful ``Content-Type``."""
    try:
        doc: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(doc, dict):
        return ""
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return str(declared)
    if doc.get("schemaVersion") == 1:
        return DOCKER_SCHEMA1
    if "manifests" in doc:
        return OCI_INDEX
    if "config" in doc and "layers" in doc:
        return OCI_MANIFEST
    return ""


def _too_big(what: str, size: int | str) -> InvalidDocumentError:
    return InvalidDocumentError(
        f"{what}: manifest is {size} bytes, over the 4 MiB limit",
        hint="the OCI distribution spec lets registries refuse manifests over 4 MiB;"
        " split the index or check that this is really a manifest",
    )


def _announced(resp: Response, what: str) -> Digest | None:
    """The ``Docker-Content-Digest`` header, if present; junk there is a protocol error."""
    value = resp.headers.get("docker-content-digest")
    if not value:
        return None
    try:
        return Digest.parse(str(value))
    except InvalidInputError:
        raise RegistryProtocolError(
            f"{what}: the registry sent a malformed Docker-Content-Digest header",
            hint="the registry does not follow the distribution spec",
        )


def _verify(raw: bytes, reference: str, resp: Response, what: str) -> Digest:
    """The manifest's digest, after checking it against what was asked and announced."""
    expected = _digest.parse(reference) if _digest.is_digest(reference) else None
    announced = _announced(resp, what)
    for claim, source in ((expected, "requested"), (announced, "announced by the registry")):
        if claim is None:
            continue
        actual = _digest.of(raw, claim.algorithm)
        if actual != claim:
            raise DigestMismatchError(
                f"{what}: manifest bytes hash to {actual}, not the {source} {claim}",
                hint="the registry or something between us altered the manifest; nothing was stored",
            )
    return expected or _digest.of(raw)


def get_manifest(
    t: Transport,
    repository: str,
    reference: str,
    *,
    accept: tuple[str, ...] = MANIFEST_MEDIA_TYPES,
) -> FetchedManifest:
    """Fetch a manifest by tag or digest; raw bytes, media type and verified digest."""
    what = manifest_what(t, repository, reference)
    if _digest.is_digest(reference):
        _digest.parse(reference)
    try:
        resp = t.request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            what=what,
            scopes=(pull_scope(repository),),
            headers={"Accept": ", ".join(accept)},
            max_body=MAX_MANIFEST_SIZE,
        )
    except BodyTooLarge as exc:
        raise _too_big(what, exc.size)
    check(resp, what, ok=(200,), kind="manifest", registry=t.registry)
    raw = resp.content
    media_type = _content_type(resp)
    if media_type in _GENERIC_TYPES:
        media_type = sniff_media_type(raw) or media_type
    digest = _verify(raw, reference, resp, what)
    if media_type not in accept:
        hint = "anyarch reads OCI and Docker schema 2 manifests"
        if mediatype.is_schema1(media_type):
            hint = "Docker schema 1 manifests are obsolete; re-push the image with a current tool"
        raise UnsupportedMediaTypeError(
            f"{what}: the registry served an unsupported manifest type {media_type or 'unknown'!r}",
            hint=hint,
        )
    return FetchedManifest(raw, media_type, digest)


def head_manifest(
    t: Transport,
    repository: str,
    reference: str,
    *,
    accept: tuple[str, ...] = MANIFEST_MEDIA_TYPES,
) -> ManifestInfo | None:
    """Descriptor of a manifest without its body; ``None`` if it does not exist."""
    what = manifest_what(t, repository, reference)
    resp = t.request(
        "HEAD",
        f"/v2/{repository}/manifests/{reference}",
        what=what,
        scopes=(pull_scope(repository),),
        headers={"Accept": ", ".join(accept)},
    )
    if resp.status_code == 404:
        return None
    check(resp, what, ok=(200,), kind="manifest", registry=t.registry)
    digest = _announced(resp, what)
    length = str(resp.headers.get("content-length", ""))
    media_type = _content_type(resp)
    if _digest.is_digest(reference) and digest is None:
        digest = _digest.parse(reference)
    if digest is None or not length.isdigit() or media_type in _GENERIC_TYPES:
        # Not every registry answers HEAD fully; the body tells us for sure.
        got = get_manifest(t, repository, reference, accept=accept)
        return ManifestInfo(got.media_type, got.digest, len(got.raw))
    if _digest.is_digest(reference) and digest != _digest.parse(reference):
        raise DigestMismatchError(
            f"{what}: the registry announces digest {digest}",
            hint="the registry answered for different content than was asked for",
        )
    return ManifestInfo(media_type, digest, int(length))


def put_manifest(
    t: Transport, repository: str, reference: str, raw: bytes, media_type: str
) -> Digest:
    """Store a manifest under a tag or its digest; return its digest."""
    what = manifest_what(t, repository, reference)
    if len(raw) > MAX_MANIFEST_SIZE:
        raise _too_big(what, len(raw))
    if _digest.is_digest(reference):
        wanted = _digest.parse(reference)
        digest = _digest.of(raw, wanted.algorithm)
        if digest != wanted:
            raise DigestMismatchError(
                f"{what}: the manifest bytes hash to {digest}",
                hint="push a manifest by the digest of exactly its bytes",
            )
    else:
        digest = _digest.of(raw)
    resp = t.request(
        "PUT",
        f"/v2/{repository}/manifests/{reference}",
        what=what,
        scopes=(push_scope(repository),),
        headers={"Content-Type": media_type},
        content=raw,
    )
    if resp.status_code == 400:
        raise InvalidDocumentError(
            f"{what}: the registry refused the manifest: {describe(resp, read_limited(resp))}",
            hint="blobs it references may be missing, or the registry does not accept"
            f" {media_type}; for the latter try --format docker",
        )
    check(resp, what, ok=(200, 201, 202), kind="manifest", registry=t.registry)
    announced = _announced(resp, what)
    if announced is not None and _digest.of(raw, announced.algorithm) != announced:
        raise DigestMismatchError(
            f"{what}: the registry stored the manifest as {announced}, expected {digest}",
            hint="the registry altered the manifest bytes",
        )
    return digest


def delete_manifest(t: Transport, repository: str, digest: DigestLike) -> None:
    """Delete a manifest by digest (registries refuse deletion by tag)."""
    digest = _digest.parse(digest)
    what = manifest_what(t, repository, str(digest))
    resp = t.request(
        "DELETE",
        f"/v2/{repository}/manifests/{digest}",
        what=what,
        scopes=(delete_scope(repository),),
    )
    check(resp, what, ok=(200, 202, 204), kind="manifest", registry=t.registry)
