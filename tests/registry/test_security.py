"""Secrets stay secret: not in logs, output, errors or reprs; not sent to other hosts."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from anyarch.errors import AnyarchError
from anyarch.registry import RegistryClient, static_credentials
from helpers.registry import (
    RegistryServer,
    _QuietHandler,
    _ThreadedServer,
    sha256,
    tiny_image,
)

MakeClient = Callable[..., RegistryClient]


def _flows(server: RegistryServer, make_client: MakeClient, repo: str) -> list[str]:
    """Push/pull with good credentials and fail with bad ones; return every text produced."""
    texts: list[str] = []
    good = make_client(
        server.host, credentials=static_credentials(server.username, server.password)
    )
    img = tiny_image()
    for digest, data in img.blobs.items():
        good.put_blob(repo, digest, len(data), data)
    good.put_manifest(repo, "v1", img.manifest, img.media_type)
    good.get_manifest(repo, "v1")
    texts.append(repr(good))
    failing = [
        make_client(
            server.host, credentials=static_credentials(server.username, "bad-" + server.password)
        ),
        make_client(server.host),
    ]
    errors: list[AnyarchError] = []
    for client in failing:
        for call in (client.ping, lambda c=client: c.get_manifest(repo, "v1")):
            try:
                call()
            except AnyarchError as exc:
                errors.append(exc)
    # Anonymous ping may succeed on a token registry; everything else must fail.
    assert len(errors) >= 3
    for err in errors:
        texts += [str(err), repr(err), err.hint or ""]
        texts.append("".join(traceback.format_exception(err)))
    return texts


def test_credentials_never_appear_in_logs_output_or_errors(
    basic_registry: RegistryServer,
    token_registry: RegistryServer,
    make_client: MakeClient,
    repo: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # anyarch and its HTTP layer at their chattiest
    texts = _flows(basic_registry, make_client, repo) + _flows(token_registry, make_client, repo)
    out, err = capfd.readouterr()
    haystack = "\n".join([*texts, caplog.text, out, err])
    assert "401" in haystack or "credentials" in haystack  # the flows did produce text
    issuer = token_registry.issuer
    assert issuer is not None and issuer.issued
    secrets = [basic_registry.password, token_registry.password, *issuer.issued]
    for server in (basic_registry, token_registry):
        pair = f"{server.username}:{server.password}".encode()
        secrets.append(base64.b64encode(pair).decode())
    for secret in secrets:
        assert secret not in haystack
        assert secret[:16] not in haystack


# --- redirects to another host ----------------------------------------------------

TOKEN = "fake-registry-token-0123456789"
USER, PASSWORD = "bob", "bob-password-9f8e"
BLOB = b"blob bytes served by the storage backend\n" * 100
DIGEST = sha256(BLOB)


class Storage:
    """A 'storage backend' that records the headers it was sent."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        storage = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:
                storage.seen.append(dict(self.headers.items()))
                self.send_response(200)
                self.send_header("Content-Length", str(len(BLOB)))
                self.end_headers()
                self.wfile.write(BLOB)

        self.server = _ThreadedServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()


class FakeRegistry:
    """Just enough registry to authenticate a blob GET and redirect it elsewhere."""

    def __init__(self, scheme: str, storage_url: str) -> None:
        self.scheme = scheme
        self.blob_auth: list[str] = []
        reg = self

        class Handler(_QuietHandler):
            def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorized(self) -> bool:
                got = self.headers.get("Authorization", "")
                if reg.scheme == "bearer":
                    return got == f"Bearer {TOKEN}"
                return got == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

            def _challenge(self) -> None:
                if reg.scheme == "bearer":
                    value = f'Bearer realm="http://127.0.0.1:{reg.port}/token",service="fake"'
                else:
                    value = 'Basic realm="fake"'
                self._send(401, {"WWW-Authenticate": value})

            def do_GET(self) -> None:
                if self.path.startswith("/token"):
                    self._send(200, {}, json.dumps({"token": TOKEN}).encode())
                    return
                if not self._authorized():
                    self._challenge()
                    return
                if self.path.startswith("/v2/r/blobs/"):
                    reg.blob_auth.append(self.headers.get("Authorization", ""))
                    # Same-origin hop first, then off to the storage host.
                    self._send(307, {"Location": f"/v2/r/inner/{DIGEST}"})
                elif self.path.startswith("/v2/r/inner/"):
                    reg.blob_auth.append(self.headers.get("Authorization", ""))
                    self._send(307, {"Location": f"{storage_url}/data/{DIGEST}?sig=abc"})
                else:
                    self._send(200, {}, b"{}")

        self.server = _ThreadedServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()


@pytest.fixture
def storage() -> Iterator[Storage]:
    s = Storage()
    yield s
    s.server.shutdown()
    s.server.server_close()


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
@pytest.mark.parametrize("storage_host", ["127.0.0.1", "localhost"])
def test_authorization_is_not_forwarded_to_another_host(
    storage: Storage, make_client: MakeClient, scheme: str, storage_host: str
) -> None:
    registry = FakeRegistry(scheme, f"http://{storage_host}:{storage.port}")
    try:
        client = make_client(
            f"127.0.0.1:{registry.port}", credentials=static_credentials(USER, PASSWORD)
        )
        sink = io.BytesIO()
        assert client.get_blob("r", DIGEST, sink) == len(BLOB)
        assert sink.getvalue() == BLOB
    finally:
        registry.server.shutdown()
        registry.server.server_close()
    # Both hops on the registry's own origin carried credentials...
    assert len(registry.blob_auth) == 2 and all(registry.blob_auth)
    # ...the storage host (another port, maybe another name) got none.
    assert len(storage.seen) == 1
    headers: dict[str, Any] = {k.lower(): v for k, v in storage.seen[0].items()}
    assert "authorization" not in headers
    assert TOKEN not in json.dumps(headers) and PASSWORD not in json.dumps(headers)
