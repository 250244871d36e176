"""Blob upload/download, mounts and parallel transfers against the real registry."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import pytest

from anyarch.errors import BlobNotFoundError, DigestMismatchError
from anyarch.registry import RegistryClient
from helpers.registry import (
    FaultProxy,
    RegistryServer,
    sha256,
    skopeo,
    skopeo_args,
    tiny_image,
)

MakeClient = Callable[..., RegistryClient]


def opener(path: Path) -> Callable[[], IO[bytes]]:
    """A re-openable upload source, as the store hands them out."""
    return lambda: path.open("rb")


def blob(size: int, seed: int = 0) -> bytes:
    return (os.urandom(16) + seed.to_bytes(4, "big")) * (size // 20) + b"x" * (size % 20)


def test_monolithic_round_trip(
    registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    client = make_client(registry.host)
    data = blob(300_000)
    digest = sha256(data)
    assert client.blob_exists(repo, digest) is None
    client.put_blob(repo, digest, len(data), data)
    assert client.blob_exists(repo, digest) == len(data)
    sink = io.BytesIO()
    assert client.get_blob(repo, digest, sink, size=len(data)) == len(data)
    assert sink.getvalue() == data
    # The registry's own file holds exactly these bytes.
    hexpart = digest.split(":")[1]
    stored = registry.storage / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"
    assert stored.read_bytes() == data


def test_chunked_upload_sends_patches(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str
) -> None:
    client = make_client(fault_proxy.host)
    data = blob(300_000, 1)
    digest = sha256(data)
    client.put_blob(repo, digest, len(data), data, chunk_size=64 * 1024)
    assert len(fault_proxy.requests("PATCH")) == 5
    assert len(fault_proxy.requests("POST")) == 1
    assert client.open_blob(repo, digest).read() == data


def test_upload_from_reopenable_file(
    registry: RegistryServer, make_client: MakeClient, repo: str, tmp_path: Path
) -> None:
    client = make_client(registry.host)
    path = tmp_path / "layer.bin"
    data = blob(200_000, 2)
    path.write_bytes(data)
    digest = sha256(data)
    client.put_blob(repo, digest, len(data), opener(path), chunk_size=50_000)
    chunks = list(client.open_blob(repo, digest, size=len(data)))
    assert b"".join(chunks) == data


def test_source_shorter_than_declared_size(
    registry: RegistryServer, make_client: MakeClient, repo: str, tmp_path: Path
) -> None:
    client = make_client(registry.host)
    data = blob(20_000, 6)
    path = tmp_path / "short.bin"
    path.write_bytes(data[:15_000])
    with pytest.raises(DigestMismatchError) as info:
        client.put_blob(repo, sha256(data), len(data), opener(path))
    assert "short" in str(info.value)
    assert client.blob_exists(repo, sha256(data)) is None


def test_empty_blob(registry: RegistryServer, make_client: MakeClient, repo: str) -> None:
    client = make_client(registry.host)
    digest = sha256(b"")
    client.put_blob(repo, digest, 0, b"")
    assert client.blob_exists(repo, digest) == 0
    assert client.open_blob(repo, digest).read() == b""


def test_missing_blob_is_not_found(
    registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    client = make_client(registry.host)
    with pytest.raises(BlobNotFoundError) as info:
        client.get_blob(repo, sha256(b"never pushed"), io.BytesIO())
    assert repo in str(info.value) and info.value.hint


def test_registry_refuses_bytes_that_do_not_match_the_digest(
    registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    client = make_client(registry.host)
    data = blob(10_000, 3)
    wrong = sha256(data + b"!")
    with pytest.raises(DigestMismatchError):
        client.put_blob(repo, wrong, len(data), data)
    assert client.blob_exists(repo, wrong) is None


def test_cross_repo_mount_and_fallback(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str
) -> None:
    client = make_client(fault_proxy.host)
    data = blob(50_000, 4)
    digest = sha256(data)
    client.put_blob(repo + "/a", digest, len(data), data)
    assert client.mount_blob(repo + "/b", digest, repo + "/a") is True
    assert client.blob_exists(repo + "/b", digest) == len(data)
    # The source lacks this blob: the registry answers 202 and we must upload.
    other = blob(50_000, 5)
    assert client.mount_blob(repo + "/b", sha256(other), repo + "/a") is False
    assert client.blob_exists(repo + "/b", sha256(other)) is None
    fault_proxy.log.clear()
    client.put_blob(repo + "/b", sha256(other), len(other), other, mount_from=repo + "/a")
    assert client.blob_exists(repo + "/b", sha256(other)) == len(other)
    # The 202 session from the mount attempt was used for the upload: one POST.
    assert len(fault_proxy.requests("POST")) == 1


def test_four_parallel_transfers_through_one_client(
    registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    client = make_client(registry.host)
    blobs = [blob(150_000 + i * 1000, 10 + i) for i in range(8)]

    def push(data: bytes) -> str:
        client.put_blob(repo, sha256(data), len(data), data)
        return sha256(data)

    def pull(data: bytes) -> bytes:
        sink = io.BytesIO()
        client.get_blob(repo, sha256(data), sink, size=len(data))
        return sink.getvalue()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(push, blobs)) == [sha256(b) for b in blobs]
        assert list(pool.map(pull, blobs)) == blobs


def test_skopeo_reads_what_we_push(
    registry: RegistryServer, make_client: MakeClient, repo: str, tmp_path: Path
) -> None:
    client = make_client(registry.host)
    img = tiny_image("arm64", variant="v8")
    for digest, data in img.blobs.items():
        client.put_blob(repo, digest, len(data), data)
    client.put_manifest(repo, "v1", img.manifest, img.media_type)
    ref = f"docker://{registry.host}/{repo}:v1"
    assert skopeo("inspect", "--raw", *skopeo_args(registry), ref).stdout == img.manifest
    # skopeo copy verifies every blob digest on the way.
    skopeo("copy", "-q", *skopeo_args(registry), ref, f"oci:{tmp_path / 'out'}:v1")
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == img.digest


def test_we_read_what_skopeo_pushes(
    registry: RegistryServer, make_client: MakeClient, repo: str, tmp_path: Path
) -> None:
    img = tiny_image("s390x", docker=False, payload=os.urandom(5000))
    layout = tmp_path / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    for digest, data in [*img.blobs.items(), (img.digest, img.manifest)]:
        (layout / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    desc = {**img.descriptor(), "annotations": {"org.opencontainers.image.ref.name": "v1"}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    skopeo(
        "copy", "-q", *skopeo_args(registry), f"oci:{layout}:v1",
        f"docker://{registry.host}/{repo}:v1",
    )  # fmt: skip
    client = make_client(registry.host)
    got = client.get_manifest(repo, "v1")
    assert got.raw == img.manifest and str(got.digest) == img.digest
    for digest, data in img.blobs.items():
        sink = io.BytesIO()
        client.get_blob(repo, digest, sink, size=len(data))
        assert sink.getvalue() == data
