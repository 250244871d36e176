"""Faults between us and the registry: every transfer completes or fails cleanly.

"Nothing corrupt kept" is checked the way the store uses the client: bytes go
to a temporary file that is renamed into place only if the call returns.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from anyarch.errors import (
    AuthenticationError,
    DigestMismatchError,
    ImageNotFoundError,
    RegistryError,
    RegistryUnreachableError,
)
from anyarch.registry import RegistryClient, RetryPolicy
from helpers.registry import (
    FaultProxy,
    RegistryServer,
    SleepRecorder,
    free_port,
    sha256,
    tiny_image,
)

MakeClient = Callable[..., RegistryClient]
MiB = 1024 * 1024


def download(client: RegistryClient, repo: str, digest: str, dest: Path, size: int) -> None:
    """Commit-on-success download, as a store would do it."""
    tmp = dest.with_suffix(".part")
    try:
        with open(tmp, "wb") as fh:
            client.get_blob(repo, digest, fh, size=size)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


@pytest.fixture
def stored_blob(registry: RegistryServer, repo: str) -> tuple[str, bytes]:
    """A 1 MiB blob already in ``repo`` of the upstream registry."""
    data = os.urandom(MiB)
    with RegistryClient(registry.host) as client:
        client.put_blob(repo, sha256(data), len(data), data)
    return sha256(data), data


def test_pull_resumes_after_dropped_connections(
    fault_proxy: FaultProxy,
    make_client: MakeClient,
    repo: str,
    stored_blob: tuple[str, bytes],
    tmp_path: Path,
) -> None:
    digest, data = stored_blob
    fault_proxy.add("drop", method="GET", path="/blobs/sha256:", after=300_000)
    fault_proxy.add("drop", method="GET", path="/blobs/sha256:", after=200_000)
    dest = tmp_path / "blob"
    download(make_client(fault_proxy.host), repo, digest, dest, len(data))
    assert dest.read_bytes() == data
    statuses = [s for _, _, s in fault_proxy.requests("GET", "/blobs/sha256:")]
    assert statuses == [200, 206, 206]  # resumed with Range, not restarted


def test_pull_survives_500s_and_honours_retry_after(
    fault_proxy: FaultProxy,
    make_client: MakeClient,
    repo: str,
    stored_blob: tuple[str, bytes],
    sleeps: SleepRecorder,
) -> None:
    digest, data = stored_blob
    fault_proxy.add("status", method="GET", path="/blobs/", status=500, times=2)
    fault_proxy.add(
        "status", method="GET", path="/blobs/", status=429, headers={"Retry-After": "2"}
    )
    sink = io.BytesIO()
    make_client(fault_proxy.host).get_blob(repo, digest, sink, size=len(data))
    assert sink.getvalue() == data
    assert len(fault_proxy.requests("GET", "/blobs/")) == 4
    assert sleeps.waits[-1] == 2.0


def test_retry_after_is_capped(
    fault_proxy: FaultProxy, repo: str, stored_blob: tuple[str, bytes], sleeps: SleepRecorder
) -> None:
    digest, _ = stored_blob
    fault_proxy.add("status", path="/blobs/", status=503, headers={"Retry-After": "86400"})
    policy = RetryPolicy(max_retry_after=5.0, sleep=sleeps)
    with RegistryClient(fault_proxy.host, retry=policy) as client:
        assert client.blob_exists(repo, digest) == MiB
    assert sleeps.waits == [5.0]


def test_retries_are_bounded(fault_proxy: FaultProxy, make_client: MakeClient, repo: str) -> None:
    fault_proxy.add("status", path="/manifests/", status=502, times=100)
    with pytest.raises(RegistryError) as info:
        make_client(fault_proxy.host).get_manifest(repo, "v1")
    assert len(fault_proxy.requests(path="/manifests/")) == 5
    assert info.value.hint and "HTTP 502" in str(info.value)


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (403, AuthenticationError), (404, ImageNotFoundError)],
)
def test_auth_and_not_found_are_never_retried(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str, status: int, error: type[Exception]
) -> None:
    fault_proxy.add("status", path="/manifests/", status=status, times=10)
    with pytest.raises(error):
        make_client(fault_proxy.host).get_manifest(repo, "v1")
    assert len(fault_proxy.requests(path="/manifests/")) == 1


def test_corrupt_bytes_raise_and_nothing_is_kept(
    fault_proxy: FaultProxy,
    make_client: MakeClient,
    repo: str,
    stored_blob: tuple[str, bytes],
    tmp_path: Path,
) -> None:
    digest, data = stored_blob
    fault_proxy.add("corrupt", method="GET", path="/blobs/")
    dest = tmp_path / "blob"
    with pytest.raises(DigestMismatchError) as info:
        download(make_client(fault_proxy.host), repo, digest, dest, len(data))
    assert digest in str(info.value) and info.value.hint
    assert info.value.exit_code == 6
    assert list(tmp_path.iterdir()) == []
    # The streaming reader hands out every byte but refuses to end cleanly.
    fault_proxy.add("corrupt", method="GET", path="/blobs/")
    reader = make_client(fault_proxy.host).open_blob(repo, digest)
    with pytest.raises(DigestMismatchError):
        for _ in reader:
            pass


def test_slow_link_completes(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str, stored_blob: tuple[str, bytes]
) -> None:
    digest, data = stored_blob
    fault_proxy.add("slow", method="GET", path="/blobs/", rate=2 * MiB)
    start = time.monotonic()
    assert make_client(fault_proxy.host).open_blob(repo, digest).read() == data
    assert time.monotonic() - start >= 0.4  # the link really was slow


@pytest.mark.parametrize("chunk_size", [None, 256 * 1024])
def test_push_survives_dropped_uploads_and_500s(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str, chunk_size: int | None
) -> None:
    data = os.urandom(MiB)
    digest = sha256(data)
    method = "PUT" if chunk_size is None else "PATCH"
    fault_proxy.add("drop", method=method, path="/blobs/uploads/", after=100_000)
    fault_proxy.add("status", method=method, path="/blobs/uploads/", status=500)
    fault_proxy.add("status", method="POST", path="/blobs/uploads/", status=503)
    client = make_client(fault_proxy.host)
    client.put_blob(repo, digest, len(data), data, chunk_size=chunk_size)
    fault_proxy.faults.clear()
    assert client.open_blob(repo, digest, size=len(data)).read() == data


def test_chunked_push_resumes_from_the_registry_offset(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str
) -> None:
    data = os.urandom(MiB)
    digest = sha256(data)
    # The registry never saw the failed chunk: the session is intact and resumable.
    fault_proxy.add("status", method="PATCH", path="/blobs/uploads/", status=503, times=2)
    client = make_client(fault_proxy.host)
    client.put_blob(repo, digest, len(data), data, chunk_size=256 * 1024)
    assert len(fault_proxy.requests("POST")) == 1  # same session, no restart
    assert len(fault_proxy.requests("GET", "/blobs/uploads/")) == 2  # asked for its offset
    assert len(fault_proxy.requests("PATCH")) == 6
    assert client.open_blob(repo, digest).read() == data


def test_manifest_push_and_pull_survive_faults(
    fault_proxy: FaultProxy, make_client: MakeClient, repo: str
) -> None:
    client = make_client(fault_proxy.host)
    img = tiny_image()
    for digest, blob in img.blobs.items():
        client.put_blob(repo, digest, len(blob), blob)
    fault_proxy.add("drop", method="PUT", path="/manifests/", after=10)
    fault_proxy.add("status", method="PUT", path="/manifests/", status=500)
    assert str(client.put_manifest(repo, "v1", img.manifest, img.media_type)) == img.digest
    fault_proxy.add("drop", method="GET", path="/manifests/", after=50)
    fault_proxy.add("status", method="GET", path="/manifests/", status=429)
    assert client.get_manifest(repo, "v1").raw == img.manifest


def test_unreachable_registry(make_client: MakeClient, sleeps: SleepRecorder) -> None:
    host = f"127.0.0.1:{free_port()}"
    client = make_client(host)
    with pytest.raises(RegistryUnreachableError) as info:
        client.ping()
    assert host in str(info.value) and "connection refused" in str(info.value)
    assert info.value.hint and "running" in info.value.hint
    assert info.value.exit_code == 5
    assert len(sleeps.waits) == 4  # 5 attempts


def test_unreachable_https_registry_names_tls_or_dns(sleeps: SleepRecorder) -> None:
    policy = RetryPolicy(attempts=1, sleep=sleeps)
    with (
        RegistryClient("registry.invalid", retry=policy, timeout=5) as client,
        pytest.raises(RegistryUnreachableError) as info,
    ):
        client.ping()
    assert "registry.invalid" in str(info.value) and info.value.hint
    assert client.base_url == "https://registry.invalid"  # never plain HTTP for remote hosts
