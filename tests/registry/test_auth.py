"""Ping and the three auth modes against the real registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from anyarch.errors import AuthenticationError, RegistryProtocolError
from anyarch.oci import Digest
from anyarch.registry import Credential, DockerConfig, RegistryClient, static_credentials
from helpers.registry import FaultProxy, RegistryServer, sha256, skopeo, skopeo_args, tiny_image

MakeClient = Callable[..., RegistryClient]


def push_image(client: RegistryClient, repo: str, tag: str = "v1") -> Digest:
    img = tiny_image()
    for digest, data in img.blobs.items():
        client.put_blob(repo, digest, len(data), data)
    return client.put_manifest(repo, tag, img.manifest, img.media_type)


def test_ping_without_auth(registry: RegistryServer, make_client: MakeClient) -> None:
    result = make_client(registry.host).ping()
    assert result.auth == "none"
    assert result.url == registry.url  # loopback: plain HTTP chosen automatically
    assert result.api_version == "registry/2.0"


def test_ping_of_something_that_is_not_a_registry(
    fault_proxy: FaultProxy, make_client: MakeClient
) -> None:
    fault_proxy.add("status", path="^/v2/$", status=404, body=b"404 page not found")
    with pytest.raises(RegistryProtocolError) as info:
        make_client(fault_proxy.host).ping()
    assert fault_proxy.host in str(info.value) and info.value.hint


@pytest.mark.parametrize("server_name", ["basic_registry", "token_registry"])
def test_logged_in_push_is_readable_by_skopeo(
    request: pytest.FixtureRequest,
    server_name: str,
    make_client: MakeClient,
    repo: str,
    tmp_path: Path,
) -> None:
    server: RegistryServer = request.getfixturevalue(server_name)
    # Credentials as `anyarch login` stores them: docker's config.json.
    config = DockerConfig(tmp_path / "config.json")
    config.login(server.host, Credential(server.username, server.password))
    client = make_client(server.host, credentials=config)
    assert client.ping().auth == ("basic" if server_name == "basic_registry" else "bearer")
    digest = push_image(client, repo)
    assert client.get_manifest(repo, "v1").digest == digest
    ref = f"docker://{server.host}/{repo}:v1"
    raw = skopeo("inspect", "--raw", *skopeo_args(server), ref).stdout
    assert sha256(raw) == str(digest)


@pytest.mark.parametrize("password", [None, "wrong-password"])
def test_basic_auth_refuses_missing_or_wrong_credentials(
    basic_registry: RegistryServer, make_client: MakeClient, repo: str, password: str | None
) -> None:
    creds = static_credentials(basic_registry.username, password) if password else None
    client = make_client(basic_registry.host, credentials=creds)
    with pytest.raises(AuthenticationError) as info:
        client.ping()
    assert basic_registry.host in str(info.value)
    assert info.value.hint and "anyarch login" in info.value.hint
    with pytest.raises(AuthenticationError):
        client.get_manifest(repo, "latest")


def test_bearer_token_push_pull_and_token_reuse(
    token_registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    client = make_client(
        token_registry.host,
        credentials=static_credentials(token_registry.username, token_registry.password),
    )
    assert client.ping().auth == "bearer"
    before = len(issuer.requests)
    digest = push_image(client, repo)
    # Pulls after the push reuse the pull,push token: no new token request.
    got = client.get_manifest(repo, "v1")
    assert got.digest == digest
    for d, size in ((sha256(b), len(b)) for b in tiny_image().blobs.values()):
        assert client.blob_exists(repo, d) == size
    new = issuer.requests[before:]
    assert [r["scopes"] for r in new] == [[f"repository:{repo}:pull,push"]]
    assert new[0]["user"] == token_registry.username


def test_prepare_push_fetches_one_token_for_the_whole_push(
    token_registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    client = make_client(
        token_registry.host,
        credentials=static_credentials(token_registry.username, token_registry.password),
    )
    data = b"base layer" * 100
    client.put_blob(repo + "-base", sha256(data), len(data), data)
    before = len(issuer.requests)
    client.prepare_push(repo, mount_from=[repo + "-base"])
    img = tiny_image("loong64")
    for digest, blob in img.blobs.items():
        assert client.blob_exists(repo, digest) is None  # a pull-only request...
        client.put_blob(repo, digest, len(blob), blob)
    assert client.mount_blob(repo, sha256(data), repo + "-base")
    client.put_manifest(repo, "v1", img.manifest, img.media_type)
    # ...yet one token served the checks, uploads, the mount and the manifest.
    assert [sorted(r["scopes"]) for r in issuer.requests[before:]] == [
        [f"repository:{repo}-base:pull", f"repository:{repo}:pull,push"]
    ]


def test_bearer_wrong_password(token_registry: RegistryServer, make_client: MakeClient) -> None:
    client = make_client(
        token_registry.host, credentials=static_credentials(token_registry.username, "nope")
    )
    with pytest.raises(AuthenticationError) as info:
        client.ping()
    assert "rejected" in str(info.value)
    assert info.value.hint and f"anyarch login {token_registry.host}" in info.value.hint


def test_identity_token_uses_oauth2_refresh_grant(
    token_registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    refresh = issuer.new_refresh_token(token_registry.username)
    client = make_client(
        token_registry.host, credentials=static_credentials(identity_token=refresh)
    )
    before = len(issuer.requests)
    push_image(client, repo)
    grants = {r.get("grant") for r in issuer.requests[before:]}
    assert grants == {"refresh_token"}


def test_anonymous_pull_allowed_push_refused(
    token_registry: RegistryServer, make_client: MakeClient
) -> None:
    owner = make_client(
        token_registry.host,
        credentials=static_credentials(token_registry.username, token_registry.password),
    )
    digest = push_image(owner, "public/hello")
    anon = make_client(token_registry.host)
    assert anon.get_manifest("public/hello", "v1").digest == digest
    with pytest.raises(AuthenticationError) as info:
        push_image(anon, "public/hello", "v2")
    assert "public/hello" in str(info.value)
    with pytest.raises(AuthenticationError):
        anon.get_manifest("private/thing", "v1")


def test_pull_only_user_cannot_push(
    token_registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    reader = make_client(
        token_registry.host,
        credentials=static_credentials(token_registry.reader, token_registry.reader_password),
    )
    reader.ping()
    with pytest.raises(AuthenticationError) as info:
        push_image(reader, repo)
    assert repo in str(info.value)


def test_cross_repo_mount_asks_for_source_pull_scope(
    token_registry: RegistryServer, make_client: MakeClient, repo: str
) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    client = make_client(
        token_registry.host,
        credentials=static_credentials(token_registry.username, token_registry.password),
    )
    data = b"mount me" * 1000
    digest = sha256(data)
    client.put_blob(repo + "-src", digest, len(data), data)
    before = len(issuer.requests)
    assert client.mount_blob(repo + "-dst", digest, repo + "-src") is True
    assert client.blob_exists(repo + "-dst", digest) == len(data)
    scopes = issuer.requests[before]["scopes"]
    assert sorted(scopes) == sorted(
        [f"repository:{repo}-dst:pull,push", f"repository:{repo}-src:pull"]
    )
