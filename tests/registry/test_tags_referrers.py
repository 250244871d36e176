"""Tag listing (with and without pagination) and referrers (API and tag fallback)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from anyarch.errors import ImageNotFoundError
from anyarch.registry import RegistryClient, fallback_tag
from helpers.registry import OCI_INDEX, OCI_MANIFEST, FaultProxy, RegistryServer, sha256, tiny_image

MakeClient = Callable[..., RegistryClient]
ARTIFACT = "application/vnd.anyarch.test.sbom+json"
EMPTY = "application/vnd.oci.empty.v1+json"


def push_tags(client: RegistryClient, repo: str, tags: list[str]) -> None:
    img = tiny_image()
    for digest, data in img.blobs.items():
        client.put_blob(repo, digest, len(data), data)
    for tag in tags:
        client.put_manifest(repo, tag, img.manifest, img.media_type)


def test_all_tags_when_the_registry_ignores_n(
    registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    client = make_client(registry.host)
    tags = [f"t{i:02d}" for i in range(7)]
    push_tags(client, repo, tags)
    assert sorted(client.list_tags(repo, page_size=3)) == tags


def test_tag_pagination_follows_link_headers(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str
) -> None:
    client = make_client(fault_proxy.host)
    tags = [f"v{i:02d}" for i in range(7)]
    push_tags(client, repo, tags)
    fault_proxy.add("paginate", method="GET", path="/tags/list")
    assert client.list_tags(repo, page_size=3) == tags
    pages = fault_proxy.requests("GET", "/tags/list")
    assert len(pages) == 3  # 3 + 3 + 1


def test_tags_of_missing_repository(registry: RegistryServer, make_client: MakeClient) -> None:
    with pytest.raises(ImageNotFoundError) as info:
        make_client(registry.host).list_tags("no/such/repo")
    assert "no/such/repo" in str(info.value)


def push_artifact(
    client: RegistryClient, repo: str, subject: dict[str, object]
) -> dict[str, object]:
    """An SBOM-like artifact manifest whose subject is ``subject``; returns its descriptor."""
    client.put_blob(repo, sha256(b"{}"), 2, b"{}")
    payload = b'{"sbom": true}'
    client.put_blob(repo, sha256(payload), len(payload), payload)
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT,
            "config": {"mediaType": EMPTY, "digest": sha256(b"{}"), "size": 2},
            "layers": [{"mediaType": ARTIFACT, "digest": sha256(payload), "size": len(payload)}],
            "subject": subject,
        }
    ).encode()
    digest = client.put_manifest(repo, sha256(raw), raw, OCI_MANIFEST)
    return {
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT,
        "digest": str(digest),
        "size": len(raw),
    }


def test_referrers_fallback_tag_scheme(
    registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    client = make_client(registry.host)
    img = tiny_image()
    push_tags(client, repo, ["v1"])
    subject = {"mediaType": img.media_type, "digest": img.digest, "size": len(img.manifest)}
    assert client.referrers(repo, img.digest) == []  # no API, no fallback tag yet
    desc = push_artifact(client, repo, subject)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc]}).encode()
    client.put_manifest(repo, fallback_tag(img.digest), index, OCI_INDEX)
    assert [d.to_json() for d in client.referrers(repo, img.digest)] == [desc]
    (found,) = client.referrers(repo, img.digest, artifact_type=ARTIFACT)
    assert str(found.digest) == desc["digest"] and found.artifact_type == ARTIFACT
    assert client.referrers(repo, img.digest, artifact_type="application/other") == []


def test_referrers_api_is_used_when_present(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str
) -> None:
    client = make_client(fault_proxy.host)
    digest = sha256(b"subject")
    descs = [
        {"mediaType": OCI_MANIFEST, "artifactType": ARTIFACT, "digest": sha256(b"a"), "size": 1},
        {"mediaType": OCI_MANIFEST, "artifactType": "x/y", "digest": sha256(b"b"), "size": 1},
    ]
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}).encode()
    fault_proxy.add(
        "status", path="/referrers/", status=200, body=body, headers={"Content-Type": OCI_INDEX}
    )
    # The registry did not apply the filter (no OCI-Filters-Applied): we do.
    found = client.referrers(repo, digest, artifact_type=ARTIFACT)
    assert [d.to_json() for d in found] == [descs[0]]
    assert fault_proxy.requests("GET", "/manifests/") == []
