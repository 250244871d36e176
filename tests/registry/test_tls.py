"""Scheme rules for non-loopback registries: HTTPS by default, --cacert, --insecure.

Loopback registries are plain HTTP automatically (every other test relies on
it).  These tests put a proxy in front of the real registry on this machine's
non-loopback address, where anyarch must insist on verified TLS.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest

from anyarch.errors import RegistryUnreachableError
from anyarch.registry import RegistryClient
from helpers.registry import (
    FaultProxy,
    RegistryServer,
    non_loopback_ip,
    tiny_image,
    tls_certificate,
)

MakeClient = Callable[..., RegistryClient]


@pytest.fixture(scope="module")
def remote_ip() -> str:
    return non_loopback_ip()


@pytest.fixture(scope="module")
def plain_remote(registry: RegistryServer, remote_ip: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(registry, bind=remote_ip).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def tls_remote(
    registry: RegistryServer, remote_ip: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FaultProxy]:
    cert, key = tls_certificate(tmp_path_factory.mktemp("tls"), [remote_ip])
    proxy = FaultProxy(registry, bind=remote_ip, tls=(cert, key)).start()
    yield proxy
    proxy.stop()


def round_trip(client: RegistryClient, repo: str) -> None:
    img = tiny_image("mips64le")
    for digest, data in img.blobs.items():
        client.put_blob(repo, digest, len(data), data, chunk_size=100)  # PATCH Locations too
    client.put_manifest(repo, "v1", img.manifest, img.media_type)
    assert client.get_manifest(repo, "v1").raw == img.manifest
    for digest, data in img.blobs.items():
        sink = io.BytesIO()
        client.get_blob(repo, digest, sink)
        assert sink.getvalue() == data


def test_remote_plain_http_registry_needs_insecure(
    plain_remote: FaultProxy, make_client: MakeClient, repo: str
) -> None:
    client = make_client(plain_remote.host)
    assert client.base_url == f"https://{plain_remote.host}"
    with pytest.raises(RegistryUnreachableError) as info:
        client.ping()
    assert plain_remote.host in str(info.value)
    assert info.value.hint and "--insecure" in info.value.hint
    assert plain_remote.requests() == []  # not one plain-HTTP request was made
    insecure = make_client(plain_remote.host, insecure=True)
    round_trip(insecure, repo)
    assert insecure.base_url == f"http://{plain_remote.host}"


def test_https_registry_with_cacert(
    tls_remote: FaultProxy, make_client: MakeClient, repo: str
) -> None:
    assert tls_remote.tls is not None
    cert = tls_remote.tls[0]
    untrusting = make_client(tls_remote.host)
    with pytest.raises(RegistryUnreachableError) as info:
        untrusting.ping()
    assert "TLS" in str(info.value)
    assert info.value.hint and "--cacert" in info.value.hint
    trusting = make_client(tls_remote.host, cacert=cert)
    assert trusting.ping().url == f"https://{tls_remote.host}"
    round_trip(trusting, repo)


def test_insecure_still_prefers_tls(tls_remote: FaultProxy, make_client: MakeClient) -> None:
    client = make_client(tls_remote.host, insecure=True)
    assert client.ping().url == f"https://{tls_remote.host}"
