"""The referrers API, with the tag-scheme fallback for registries without it.

OCI distribution 1.1 serves ``GET /v2/R/referrers/DIGEST`` as an image index of
the manifests whose ``subject`` is DIGEST.  Older registries (Debian's
distribution 2.8 among them) answer 404; clients then keep that index
themselves under the tag ``sha256-<hex>`` of the subject, and we read it there.
"""

from __future__ import annotations

import json
from typing import Any

from anyarch.errors import ImageNotFoundError, InvalidDocumentError, RegistryProtocolError
from anyarch.oci import Descriptor
from anyarch.registry import _digest
from anyarch.registry._digest import DigestLike
from anyarch.registry.manifests import MAX_MANIFEST_SIZE, OCI_INDEX, get_manifest
from anyarch.registry.responses import check
from anyarch.registry.scopes import pull_scope
from anyarch.registry.transport import BodyTooLarge, Transport

#: Answers that mean "this registry has no referrers API".
_NO_API = frozenset({400, 404, 405, 501})


def fallback_tag(digest: DigestLike) -> str:
    """The tag the fallback scheme keeps a subject's referrers under: ``sha256-<hex>``."""
    d = _digest.parse(digest)
    return f"{d.algorithm}-{d.hex}"


def _descriptors(raw: bytes, what: str) -> list[Descriptor]:
    try:
        doc: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        doc = None
    manifests = doc.get("manifests") if isinstance(doc, dict) else None
    if manifests is None and isinstance(doc, dict):
        manifests = []
    if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
        raise RegistryProtocolError(
            f"{what}: the referrers index is malformed",
            hint="the registry (or whoever wrote the fallback tag) broke the OCI index format",
        )
    return [
        Descriptor.from_json(m, what=f"{what} referrers", path=f"manifests[{i}]")
        for i, m in enumerate(manifests)
    ]


def referrers(
    t: Transport, repository: str, digest: DigestLike, *, artifact_type: str | None = None
) -> list[Descriptor]:
    """Descriptors of the manifests whose ``subject`` is ``digest``."""
    dgst = str(_digest.parse(digest))
    what = f"{t.registry}/{repository}@{dgst}"
    params = {"artifactType": artifact_type} if artifact_type else None
    try:
        resp = t.request(
            "GET",
            f"/v2/{repository}/referrers/{dgst}",
            what=what,
            scopes=(pull_scope(repository),),
            params=params,
            headers={"Accept": OCI_INDEX},
            max_body=MAX_MANIFEST_SIZE,
        )
    except BodyTooLarge as exc:
        raise InvalidDocumentError(
            f"{what}: the referrers index is {exc.size} bytes, over the 4 MiB limit",
            hint="the registry holds too many referrers for this image to list at once",
        )
    ctype = resp.headers.get("content-type", "").split(";", 1)[0].strip()
    if resp.status_code in _NO_API or (resp.status_code == 200 and ctype != OCI_INDEX):
        try:
            found = get_manifest(t, repository, fallback_tag(dgst), accept=(OCI_INDEX,))
        except ImageNotFoundError:
            return []
        descs = _descriptors(found.raw, what)
        filtered = False
    else:
        check(resp, what, ok=(200,), kind="manifest", registry=t.registry)
        descs = _descriptors(resp.content, what)
        filtered = "artifactType" in resp.headers.get("oci-filters-applied", "")
    if artifact_type and not filtered:
        descs = [d for d in descs if d.artifact_type == artifact_type]
    return descs
