"""Manifests of all four media types, by tag and digest, plus the 4 MiB limit."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from anyarch.errors import (
    DigestMismatchError,
    ImageNotFoundError,
    InvalidDocumentError,
    UnsupportedMediaTypeError,
)
from anyarch.oci import Digest
from anyarch.registry import MAX_MANIFEST_SIZE, RegistryClient
from helpers.registry import (
    OCI_INDEX,
    FaultProxy,
    RegistryServer,
    TinyImage,
    index_of,
    sha256,
    skopeo,
    skopeo_args,
    tiny_image,
)

MakeClient = Callable[..., RegistryClient]


def push(client: RegistryClient, repo: str, img: TinyImage, tag: str) -> Digest:
    for digest, data in img.blobs.items():
        client.put_blob(repo, digest, len(data), data)
    return client.put_manifest(repo, tag, img.manifest, img.media_type)


def test_all_four_media_types_round_trip(
    registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    client = make_client(registry.host)
    oci = tiny_image("amd64")
    docker = tiny_image("arm64", docker=True)
    arm = tiny_image("arm", variant="v7")
    push(client, repo, oci, "oci")
    push(client, repo, docker, "docker")
    push(client, repo, arm, "arm")
    index_raw, index_type = index_of([oci, arm])
    list_raw, list_type = index_of([docker], docker=True)
    # Docker lists may only reference Docker manifests; OCI indexes anything.
    assert str(client.put_manifest(repo, "index", index_raw, index_type)) == sha256(index_raw)
    assert str(client.put_manifest(repo, "list", list_raw, list_type)) == sha256(list_raw)
    expected = {
        "oci": (oci.manifest, oci.media_type),
        "docker": (docker.manifest, docker.media_type),
        "index": (index_raw, index_type),
        "list": (list_raw, list_type),
    }
    for tag, (raw, media_type) in expected.items():
        got = client.get_manifest(repo, tag)
        assert (got.raw, got.media_type, str(got.digest)) == (raw, media_type, sha256(raw)), tag
        assert client.get_manifest(repo, got.digest) == got
        assert client.get_manifest(repo, sha256(raw)) == got
        head = client.head_manifest(repo, tag)
        assert head is not None and head == (media_type, got.digest, len(raw))
        oracle = skopeo(
            "inspect", "--raw", *skopeo_args(registry), f"docker://{registry.host}/{repo}:{tag}"
        )
        assert oracle.stdout == raw, tag


def test_push_by_digest_and_delete(
    registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    client = make_client(registry.host)
    img = tiny_image("ppc64le")
    for digest, data in img.blobs.items():
        client.put_blob(repo, digest, len(data), data)
    assert str(client.put_manifest(repo, img.digest, img.manifest, img.media_type)) == img.digest
    assert client.head_manifest(repo, img.digest) is not None
    client.delete_manifest(repo, img.digest)
    assert client.head_manifest(repo, img.digest) is None
    with pytest.raises(ImageNotFoundError):
        client.get_manifest(repo, img.digest)


def test_push_by_wrong_digest_is_refused_locally(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str
) -> None:
    client = make_client(fault_proxy.host)
    img = tiny_image()
    with pytest.raises(DigestMismatchError):
        client.put_manifest(repo, sha256(b"other"), img.manifest, img.media_type)
    assert fault_proxy.requests("PUT") == []


def test_manifest_referencing_missing_blobs_is_refused(
    registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    client = make_client(registry.host)
    img = tiny_image("riscv64")
    with pytest.raises(InvalidDocumentError) as info:
        client.put_manifest(repo, "v1", img.manifest, img.media_type)
    assert repo in str(info.value) and info.value.hint


def test_missing_tag_and_repository(
    registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    client = make_client(registry.host)
    push(client, repo, tiny_image(), "v1")
    with pytest.raises(ImageNotFoundError) as info:
        client.get_manifest(repo, "nope")
    assert f"{registry.host}/{repo}:nope" in str(info.value)
    assert info.value.hint and "\n" not in str(info.value)
    assert info.value.exit_code == 3
    assert client.head_manifest(repo, "nope") is None
    with pytest.raises(ImageNotFoundError):
        client.get_manifest(repo + "-absent", "v1")


def test_manifest_over_4mib_is_not_pushed(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str
) -> None:
    client = make_client(fault_proxy.host)
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": [], "annotations": {"pad": "x" * MAX_MANIFEST_SIZE}}  # fmt: skip
    raw = json.dumps(doc).encode()
    with pytest.raises(InvalidDocumentError) as info:
        client.put_manifest(repo, "big", raw, OCI_INDEX)
    assert "4 MiB" in str(info.value)
    assert fault_proxy.requests("PUT") == []


@pytest.mark.parametrize("chunked", [False, True])
def test_manifest_over_4mib_is_not_read(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str, chunked: bool
) -> None:
    client = make_client(fault_proxy.host)
    body = b'{"schemaVersion":2,"manifests":[' + b" " * (MAX_MANIFEST_SIZE + 10) + b"]}"
    fault_proxy.add(
        "status", path="/manifests/", status=200, body=body, chunked=chunked,
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
    )  # fmt: skip
    with pytest.raises(InvalidDocumentError) as info:
        client.get_manifest(repo, "big")
    assert "4 MiB" in str(info.value) and info.value.hint


def test_corrupted_manifest_is_detected(
    registry: RegistryServer, fault_proxy: FaultProxy, make_client: MakeClient, repo: str
) -> None:
    img = tiny_image()
    push(make_client(registry.host), repo, img, "v1")
    client = make_client(fault_proxy.host)
    fault_proxy.add("corrupt", path="/manifests/", times=2)
    with pytest.raises(DigestMismatchError) as info:
        client.get_manifest(repo, img.digest)  # checked against the requested digest
    assert info.value.exit_code == 6
    with pytest.raises(DigestMismatchError):
        client.get_manifest(repo, "v1")  # checked against Docker-Content-Digest
    assert client.get_manifest(repo, "v1").raw == img.manifest


def test_unsupported_media_type(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str
) -> None:
    client = make_client(fault_proxy.host)
    fault_proxy.add(
        "status", path="/manifests/", status=200, body=b'{"schemaVersion":1}',
        headers={"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"},
    )  # fmt: skip
    with pytest.raises(UnsupportedMediaTypeError) as info:
        client.get_manifest(repo, "old")
    assert "schema 1" in (info.value.hint or "")
