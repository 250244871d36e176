"""Real registries for tests, and a proxy that breaks them on purpose.

Reusable from any test folder (``tests/`` is on ``sys.path`` via the root
conftest)::

    from helpers.registry import registry, basic_registry, token_registry  # noqa: F401

Fixtures (session-scoped unless noted):

``registry``
    Debian's CNCF ``docker-registry`` on a free 127.0.0.1 port, no auth.
``basic_registry``
    The same with htpasswd Basic auth (``.username``/``.password``; also the
    pull-only user ``.reader``/``.reader_password``).
``token_registry``
    Bearer-token auth: the registry trusts a small RS256 JWT issuer run here
    (``.issuer`` records every token request).  Users as for ``basic_registry``;
    anonymous users may pull repositories under ``public/``.
``fault_proxy`` (function-scoped)
    An HTTP proxy in front of ``registry``; add faults with
    ``fault_proxy.add(kind, ...)``.
``repo`` (function-scoped)
    A fresh repository name, so tests sharing a registry never collide.

Every server object has ``.host`` (``127.0.0.1:PORT``, what a reference or
``RegistryClient`` takes) and ``.url``.  ``skopeo_args(server)`` gives the
flags skopeo needs (``--tls-verify=false`` and ``--creds``).

A missing ``docker-registry``/``skopeo``/``htpasswd``/``openssl`` fails the
test when ``ANYARCH_REQUIRE_REAL=1`` (or ``CI``) is set and skips it with the
reason otherwise.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SERVICE = "anyarch-test-registry"
ISSUER = "anyarch-test-issuer"
USERNAME = "alice"
PASSWORD = "alice-s3cret-PW-7c1f"
READER = "reader"
READER_PASSWORD = "reader-s3cret-PW-42aa"


# --- prerequisites --------------------------------------------------------------


def need_tool(name: str) -> str:
    """Path of a real tool; fail under ANYARCH_REQUIRE_REAL=1/CI, else skip visibly."""
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
    )
    if path:
        return path
    msg = f"{name} is not installed (Debian: docker-registry, skopeo, apache2-utils, openssl)"
    if os.environ.get("ANYARCH_REQUIRE_REAL") == "1" or os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(
    url: str, *, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``url`` until any HTTP answer (401 included) comes back."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


# --- the real registry ----------------------------------------------------------


@dataclass
class RegistryServer:
    """A running ``docker-registry serve`` with its own storage directory."""

    root: Path
    auth: dict[str, Any] | None = None
    username: str = ""
    password: str = ""
    reader: str = ""
    reader_password: str = ""
    issuer: TokenIssuer | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def log_path(self) -> Path:
        return self.root / "registry.log"

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage)},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "secret": "anyarch-test-secret"},
        }
        if self.auth:
            cfg["auth"] = self.auth
        return cfg

    def start(self) -> RegistryServer:
        binary = need_tool("docker-registry")
        self.storage.mkdir(parents=True, exist_ok=True)
        last: Exception | None = None
        for _ in range(5):
            self.port = free_port()
            cfg_path = self.root / "config.yml"
            cfg_path.write_text(json.dumps(self.config(), indent=1))  # JSON is YAML
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [binary, "serve", str(cfg_path)], stdout=log, stderr=subprocess.STDOUT
                )
            try:
                wait_http(f"{self.url}/v2/", proc=self.proc)
                return self
            except RuntimeError as exc:  # port raced away, or a bad config
                last = exc
                self.stop()
        raise RuntimeError(
            f"docker-registry did not start: {last}\n{self.log_path.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def skopeo_creds(self) -> list[str]:
        return [f"--creds={self.username}:{self.password}"] if self.username else []


def skopeo_args(server: RegistryServer | FaultProxy) -> list[str]:
    """Flags for ``skopeo inspect``/``copy`` against ``server`` (no TLS, creds if any)."""
    target = server.upstream if isinstance(server, FaultProxy) else server
    return ["--tls-verify=false", *target.skopeo_creds()]


def skopeo(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """Run skopeo; raise with its stderr on failure."""
    exe = need_tool("skopeo")
    proc = subprocess.run([exe, *args], capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"skopeo {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}"
        )
    return proc


def tls_certificate(root: Path, ips: list[str]) -> tuple[Path, Path]:
    """A self-signed server certificate for ``ips`` (it is its own CA): ``(cert, key)``."""
    openssl = need_tool("openssl")
    cert, key = root / "server.crt", root / "server.key"
    san = ",".join(f"IP:{ip}" for ip in ips)
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=anyarch test registry",
         "-addext", f"subjectAltName={san}", "-addext", "basicConstraints=critical,CA:TRUE"],
        capture_output=True, check=True,
    )  # fmt: skip
    return cert, key


def non_loopback_ip() -> str:
    """An address of this machine that is not loopback; skip the test if there is none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
            ip = str(s.getsockname()[0])
        except OSError:
            ip = ""
    if not ip or ip.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to test remote-host rules")
    return ip


def htpasswd_file(path: Path, users: dict[str, str]) -> Path:
    exe = need_tool("htpasswd")
    lines = []
    for user, pw in users.items():
        out = subprocess.run([exe, "-Bbn", "-C", "4", user, pw], capture_output=True, check=True)
        lines.append(out.stdout.decode().strip())
    path.write_text("\n".join(lines) + "\n")
    return path


# --- a token issuer the registry trusts -----------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenIssuer:
    """The distribution token flow's auth server, small enough to read in one go.

    ``GET /token?service=&scope=`` with optional Basic auth (docker's flow) and
    ``POST /token`` with OAuth2 ``password``/``refresh_token`` grants.  Tokens
    are RS256 JWTs signed with a key whose self-signed certificate is the
    registry's ``rootcertbundle``; the certificate rides in the ``x5c`` header.
    """

    def __init__(
        self, root: Path, users: dict[str, str], *, readers: frozenset[str] = frozenset()
    ) -> None:
        self.root = root
        self.users = users
        self.readers = readers
        self.requests: list[dict[str, Any]] = []
        self.refresh_tokens: dict[str, str] = {}
        self.issued: list[str] = []
        self.lifetime = 300
        self._lock = threading.Lock()
        openssl = need_tool("openssl")
        self.key = root / "issuer.key"
        self.cert = root / "issuer.crt"
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(self.key),
                "-out",
                str(self.cert),
                "-days",
                "2",
                "-subj",
                "/CN=anyarch test token issuer",
            ],
            capture_output=True,
            check=True,
        )
        pem = self.cert.read_text()
        body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        self._x5c = "".join(body.split())
        self._server = _ThreadedServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> TokenIssuer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(),
            capture_output=True,
            check=True,
        ).stdout
        return f"{signing_input}.{_b64url(sig)}"

    def grant(self, user: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        """Access entries for ``user``: all actions for users, pull for readers, public pull for anyone."""
        access = []
        for scope in scopes:
            head, _, actions = scope.rpartition(":")
            rtype, _, name = head.partition(":")
            if rtype != "repository":
                continue
            wanted = [a for a in actions.split(",") if a]
            if user is not None and user not in self.readers:
                allowed = wanted
            elif user is not None or name.startswith("public/"):
                allowed = [a for a in wanted if a == "pull"]
            else:
                allowed = []
            access.append({"type": "repository", "name": name, "actions": allowed})
        return access

    def token_for(self, user: str | None, scopes: list[str]) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": SERVICE,
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": self.grant(user, scopes),
        }
        token = self.sign(claims)
        with self._lock:
            self.issued.append(token)
        return token

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        issuer = self

        class Handler(_QuietHandler):
            def _reply(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _basic_user(self) -> tuple[str | None, bool]:
                """(user, rejected): user is None for anonymous requests."""
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return None, False
                user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
                if issuer.users.get(user) != pw:
                    return None, True
                return user, False

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(url.query)
                user, rejected = self._basic_user()
                scopes = [s for v in q.get("scope", []) for s in v.split(" ") if s]
                with issuer._lock:
                    issuer.requests.append(
                        {
                            "method": "GET",
                            "scopes": scopes,
                            "user": user,
                            "rejected": rejected,
                            "service": q.get("service", [""])[0],
                        }
                    )
                if rejected:
                    self._reply(401, {"details": "invalid username or password"})
                    return
                self._reply(
                    200, {"token": issuer.token_for(user, scopes), "expires_in": issuer.lifetime}
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                grant = form.get("grant_type", [""])[0]
                scopes = [s for v in form.get("scope", []) for s in v.split(" ") if s]
                user: str | None = None
                if grant == "password":
                    u, pw = form.get("username", [""])[0], form.get("password", [""])[0]
                    user = u if issuer.users.get(u) == pw else None
                elif grant == "refresh_token":
                    user = issuer.refresh_tokens.get(form.get("refresh_token", [""])[0])
                with issuer._lock:
                    issuer.requests.append(
                        {
                            "method": "POST",
                            "grant": grant,
                            "scopes": scopes,
                            "user": user,
                            "rejected": user is None,
                        }
                    )
                if user is None:
                    self._reply(401, {"error": "invalid_grant"})
                    return
                doc: dict[str, Any] = {
                    "access_token": issuer.token_for(user, scopes),
                    "expires_in": issuer.lifetime,
                }
                if grant == "password":
                    refresh = secrets.token_hex(16)
                    issuer.refresh_tokens[refresh] = user
                    doc["refresh_token"] = refresh
                self._reply(200, doc)

        return Handler

    def new_refresh_token(self, user: str) -> str:
        """An identity token as ``docker login`` would store it."""
        tok = secrets.token_hex(16)
        self.refresh_tokens[tok] = user
        return tok


class _ThreadedServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-answer is what fault tests do on purpose.
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass


# --- the fault-injecting proxy --------------------------------------------------

_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}


@dataclass
class Fault:
    """One planned misbehaviour, applied to the next ``times`` matching requests.

    kinds:
      ``status``   answer ``status`` with ``headers``/``body`` instead of forwarding
                   (500s; 429 with ``{"Retry-After": "1"}``; an oversized manifest)
      ``drop``     close the connection after ``after`` bytes of the response body
                   (or, for requests with a body, after ``after`` bytes of that body)
      ``slow``     forward, but send the response body at ``rate`` bytes/second
      ``corrupt``  forward, with one byte of the response body flipped
      ``paginate`` serve ``tags/list`` pages of ``?n=`` with ``Link`` headers
    """

    kind: str
    method: str | None = None
    path: str | None = None
    times: int = 1
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunked: bool = False
    after: int = 0
    rate: int = 256 * 1024
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times == 0:
            return False
        if self.method and self.method != method:
            return False
        return not (self.path and not re.search(self.path, path))


class FaultProxy:
    """An HTTP proxy in front of a registry, injecting the faults it is told to.

    ``bind`` puts it on another address (e.g. a non-loopback one, where
    clients must not fall back to plain HTTP by themselves); ``tls=(cert,
    key)`` makes it an HTTPS front end (it tells the registry so with
    ``X-Forwarded-Proto`` so upload locations say ``https``).
    """

    def __init__(
        self,
        upstream: RegistryServer,
        *,
        bind: str = "127.0.0.1",
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.upstream = upstream
        self.bind = bind
        self.tls = tls
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._server = _ThreadedServer((bind, 0), self._handler())
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def host(self) -> str:
        return f"{self.bind}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, kind: str, **kw: Any) -> Fault:
        fault = Fault(kind, **kw)
        with self._lock:
            self.faults.append(fault)
        return fault

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.log.clear()

    def requests(
        self, method: str | None = None, path: str | None = None
    ) -> list[tuple[str, str, int]]:
        with self._lock:
            return [
                r
                for r in self.log
                if (method is None or r[0] == method) and (path is None or re.search(path, r[1]))
            ]

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.kind != "paginate":
                        fault.times -= 1
                    fault.hits += 1
                    return fault
        return None

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((method, path, status))

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(_QuietHandler):
            def _read_body(self, limit: int | None = None) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(parts)
                length = int(self.headers.get("Content-Length", "0") or 0)
                return self.rfile.read(length if limit is None else min(limit, length))

            def _handle(self) -> None:
                method, path = self.command, self.path
                fault = proxy._take(method, path)
                has_body = "Content-Length" in self.headers or "Transfer-Encoding" in self.headers
                if fault is not None and fault.kind == "status":
                    self._read_body()
                    proxy._record(method, path, fault.status)
                    self._send_static(fault)
                    return
                if (
                    fault is not None
                    and fault.kind == "drop"
                    and has_body
                    and method in ("PUT", "PATCH", "POST")
                ):
                    proxy._record(method, path, 0)
                    self._drop_upload(fault)
                    return
                if fault is not None and fault.kind == "paginate":
                    self._read_body()
                    self._paginate()
                    return
                body = self._read_body()
                self._forward(body, fault)

            def _upstream_headers(self, body_len: int | None) -> dict[str, str]:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                if proxy.tls is not None:
                    headers["X-Forwarded-Proto"] = "https"
                if body_len is not None:
                    headers["Content-Length"] = str(body_len)
                return headers

            def _send_static(self, fault: Fault) -> None:
                self.send_response(fault.status)
                for k, v in fault.headers.items():
                    self.send_header(k, v)
                if fault.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if self.command != "HEAD":
                        for i in range(0, len(fault.body), 65536):
                            piece = fault.body[i : i + 65536]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.write(b"0\r\n\r\n")
                    return
                if not any(k.lower() == "content-length" for k in fault.headers):
                    self.send_header("Content-Length", str(len(fault.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(fault.body)

            def _drop_upload(self, fault: Fault) -> None:
                """Pass ``after`` bytes of the request body upstream, then cut both connections."""
                partial = self._read_body(fault.after)
                conn = http.client.HTTPConnection(proxy.upstream.host, timeout=30)
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in self._upstream_headers(None).items():
                    conn.putheader(k, v)
                conn.endheaders()
                conn.send(partial)
                time.sleep(0.05)
                conn.close()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _forward(self, body: bytes, fault: Fault | None) -> int:
                conn = http.client.HTTPConnection(proxy.upstream.host, timeout=60)
                conn.request(
                    self.command,
                    self.path,
                    body=body if body or self.command in ("PUT", "PATCH", "POST") else None,
                    headers=self._upstream_headers(
                        len(body) if body or self.command in ("PUT", "PATCH", "POST") else None
                    ),
                )
                resp = conn.getresponse()
                # Logged before answering: a test may look as soon as its call returns.
                proxy._record(self.command, self.path, resp.status)
                payload_len = resp.getheader("Content-Length")
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in _HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                if self.command == "HEAD" or resp.status in (204, 304):
                    if payload_len is not None:
                        self.send_header("Content-Length", payload_len)
                    self.end_headers()
                    resp.read()
                    conn.close()
                    return resp.status
                data = b"" if payload_len is not None else resp.read()
                total = int(payload_len) if payload_len is not None else len(data)
                self.send_header("Content-Length", str(total))
                self.end_headers()
                sent = 0
                flipped = False
                piece = 16384 if fault is not None and fault.kind == "slow" else 65536
                while sent < total:
                    chunk = (
                        resp.read(min(piece, total - sent))
                        if payload_len is not None
                        else data[sent : sent + piece]
                    )
                    if not chunk:
                        break
                    if fault is not None and fault.kind == "corrupt" and not flipped:
                        chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                        flipped = True
                    if (
                        fault is not None
                        and fault.kind == "drop"
                        and sent + len(chunk) > fault.after
                    ):
                        self.wfile.write(chunk[: max(0, fault.after - sent)])
                        self.wfile.flush()
                        self.close_connection = True
                        with contextlib.suppress(OSError):
                            self.connection.shutdown(socket.SHUT_RDWR)
                        conn.close()
                        return resp.status
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    if fault is not None and fault.kind == "slow":
                        self.wfile.flush()
                        time.sleep(len(chunk) / fault.rate)
                conn.close()
                return resp.status

            def _paginate(self) -> int:
                """tags/list with ``n``/``last`` and ``Link``, as distribution v3 serves it."""
                url = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(url.query)
                conn = http.client.HTTPConnection(proxy.upstream.host, timeout=30)
                conn.request("GET", url.path, headers=self._upstream_headers(None))
                resp = conn.getresponse()
                raw = resp.read()
                conn.close()
                proxy._record(self.command, self.path, resp.status)
                if resp.status != 200:
                    fault = Fault(
                        "status",
                        status=resp.status,
                        body=raw,
                        headers={"Content-Type": resp.getheader("Content-Type", "")},
                    )
                    self._send_static(fault)
                    return resp.status
                doc = json.loads(raw)
                tags = sorted(doc.get("tags") or [])
                last = q.get("last", [""])[0]
                if last:
                    tags = [t for t in tags if t > last]
                n = int(q.get("n", ["0"])[0] or 0)
                headers = {"Content-Type": "application/json"}
                if n and len(tags) > n:
                    tags = tags[:n]
                    nxt = f"{url.path}?n={n}&last={urllib.parse.quote(tags[-1])}"
                    headers["Link"] = f'<{nxt}>; rel="next"'
                body = json.dumps({"name": doc.get("name"), "tags": tags}).encode()
                self._send_static(Fault("status", status=200, headers=headers, body=body))
                return 200

            do_GET = do_HEAD = do_PUT = do_PATCH = do_POST = do_DELETE = _handle

        return Handler


class SleepRecorder:
    """A ``RetryPolicy(sleep=...)`` that records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# --- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A real registry without auth."""
    server = RegistryServer(tmp_path_factory.mktemp("registry")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A real registry with htpasswd Basic auth (``.username``/``.password``)."""
    root = tmp_path_factory.mktemp("basic-registry")
    htpasswd = htpasswd_file(root / "htpasswd", {USERNAME: PASSWORD})
    server = RegistryServer(
        root,
        auth={"htpasswd": {"realm": "anyarch-test", "path": str(htpasswd)}},
        username=USERNAME,
        password=PASSWORD,
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A real registry with bearer-token auth from :class:`TokenIssuer` (``.issuer``)."""
    root = tmp_path_factory.mktemp("token-registry")
    issuer = TokenIssuer(
        root, {USERNAME: PASSWORD, READER: READER_PASSWORD}, readers=frozenset({READER})
    ).start()
    server = RegistryServer(
        root,
        auth={
            "token": {
                "realm": issuer.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(issuer.cert),
            }
        },
        username=USERNAME,
        password=PASSWORD,
        reader=READER,
        reader_password=READER_PASSWORD,
        issuer=issuer,
    ).start()
    yield server
    server.stop()
    issuer.stop()


@pytest.fixture(scope="session")
def _fault_proxy_session(registry: RegistryServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(registry).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def fault_proxy(_fault_proxy_session: FaultProxy) -> Iterator[FaultProxy]:
    """The proxy in front of ``registry``, with no faults planned and an empty log."""
    _fault_proxy_session.reset()
    yield _fault_proxy_session
    _fault_proxy_session.reset()


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name no other test uses."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40] or "t"
    return f"test/{base}-{secrets.token_hex(3)}"


# --- tiny images to push --------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def sha256(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class TinyImage:
    """A one-layer image as bytes: push ``blobs`` then ``manifest``."""

    manifest: bytes
    media_type: str
    blobs: dict[str, bytes]
    platform: dict[str, str]

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    def descriptor(self) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.manifest),
            "platform": self.platform,
        }


def tiny_image(
    arch: str = "amd64", *, docker: bool = False, payload: bytes | None = None, variant: str = ""
) -> TinyImage:
    """A valid single-layer image for ``linux/arch`` (OCI, or Docker schema 2)."""
    import gzip
    import io
    import tarfile

    data = payload if payload is not None else f"hello from {arch}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    diff = buf.getvalue()
    layer = gzip.compress(diff, mtime=0)
    platform = {"architecture": arch, "os": "linux"}
    if variant:
        platform["variant"] = variant
    config = json.dumps(
        {**platform, "rootfs": {"type": "layers", "diff_ids": [sha256(diff)]}, "config": {}},
        sort_keys=True,
    ).encode()
    if docker:
        media_type = DOCKER_MANIFEST
        config_type = "application/vnd.docker.container.image.v1+json"
        layer_type = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    else:
        media_type = OCI_MANIFEST
        config_type = "application/vnd.oci.image.config.v1+json"
        layer_type = "application/vnd.oci.image.layer.v1.tar+gzip"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config_type, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": layer_type, "digest": sha256(layer), "size": len(layer)}],
        },
        indent=2,
    ).encode()
    return TinyImage(manifest, media_type, {sha256(config): config, sha256(layer): layer}, platform)


def index_of(images: list[TinyImage], *, docker: bool = False) -> tuple[bytes, str]:
    """``(raw, media_type)`` of an OCI index (or Docker manifest list) over ``images``."""
    media_type = DOCKER_MANIFEST_LIST if docker else OCI_INDEX
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [i.descriptor() for i in images],
    }
    return json.dumps(doc, indent=3).encode(), media_type
