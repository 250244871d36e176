"""The registry's own HTTP/1.1 layer against scripted servers.

The registry tests exercise it end to end against docker-registry; these pin
the edge cases a real registry rarely produces on demand: bodies cut short,
chunked framing, a keep-alive connection the server has dropped, an answer
sent before the request body was read, silence (timeouts).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

import pytest

from anyarch.registry import _http

Handler = Callable[[socket.socket, BinaryIO], None]


class Script:
    """A loopback TCP server running one handler per accepted connection, in order."""

    def __init__(self, handlers: list[Handler]) -> None:
        self.handlers = handlers
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.connections = 0
        self.errors: list[BaseException] = []
        self._srv = socket.create_server(("127.0.0.1", 0))
        self.port = self._srv.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._run, daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        for handler in self.handlers:
            try:
                conn, _ = self._srv.accept()
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(handler, conn), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, handler: Handler, conn: socket.socket) -> None:
        try:
            with conn, conn.makefile("rb") as rfile:
                handler(conn, rfile)
        except BaseException as exc:  # surfaced by close()
            self.errors.append(exc)

    def read_request(self, rfile: BinaryIO) -> tuple[str, dict[str, str], bytes]:
        line = rfile.readline().decode().rstrip("\r\n")
        headers: dict[str, str] = {}
        while h := rfile.readline().decode().rstrip("\r\n"):
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if headers.get("transfer-encoding") == "chunked":
            while size := int(rfile.readline().strip(), 16):
                body += rfile.read(size)
                assert rfile.read(2) == b"\r\n"
            assert rfile.readline() == b"\r\n"
        elif "content-length" in headers:
            body = rfile.read(int(headers["content-length"]))
        self.requests.append((line, headers, body))
        return line, headers, body

    def close(self) -> None:
        self._srv.close()
        for t in self._threads:
            t.join(10)
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def script() -> Iterator[Callable[[list[Handler]], Script]]:
    made: list[Script] = []

    def make(handlers: list[Handler]) -> Script:
        s = Script(handlers)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def client(timeout: float | None = None) -> _http.Client:
    def no_tls() -> object:
        raise AssertionError("no TLS in these tests")

    return _http.Client(ssl_context=no_tls, timeout=timeout)  # type: ignore[arg-type]


def answer(head: str, body: bytes = b"") -> bytes:
    return head.replace("\n", "\r\n").encode() + b"\r\n" + body


# --- framing ------------------------------------------------------------------------


def test_body_cut_short_yields_what_arrived_then_raises(script: Callable[..., Script]) -> None:
    def serve(conn: socket.socket, rfile: BinaryIO) -> None:
        srv.read_request(rfile)
        conn.sendall(answer("HTTP/1.1 200 OK\nContent-Length: 1000\n", b"x" * 300))

    srv = script([serve])
    with client() as http:
        resp = http.request("GET", srv.url + "/blob", stream=True)
        pieces = resp.iter_bytes()
        assert next(pieces) == b"x" * 300  # received bytes are not lost ...
        with pytest.raises(_http.RemoteProtocolError, match="700 bytes"):
            next(pieces)  # ... but a short body is an error, never an EOF


def test_chunked_answer_then_same_connection_reused(script: Callable[..., Script]) -> None:
    def serve(conn: socket.socket, rfile: BinaryIO) -> None:
        srv.read_request(rfile)
        chunked = b"6\r\nhello \r\n5;ext=1\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"
        conn.sendall(answer("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", chunked))
        srv.read_request(rfile)
        conn.sendall(answer("HTTP/1.1 200 OK\nContent-Length: 3\n", b"abc"))
        srv.read_request(rfile)
        conn.sendall(answer("HTTP/1.1 200 OK\nContent-Length: 3\n"))  # HEAD: no body

    srv = script([serve])
    with client() as http:
        assert http.request("GET", srv.url + "/a").content == b"hello world"
        assert http.request("GET", srv.url + "/b").content == b"abc"
        head = http.request("HEAD", srv.url + "/c")
        assert head.content == b"" and head.headers["content-length"] == "3"
    assert srv.connections == 1
    assert [r[0] for r in srv.requests] == [
        "GET /a HTTP/1.1",
        "GET /b HTTP/1.1",
        "HEAD /c HTTP/1.1",
    ]


def test_chunked_answer_cut_short_raises(script: Callable[..., Script]) -> None:
    def serve(conn: socket.socket, rfile: BinaryIO) -> None:
        srv.read_request(rfile)
        conn.sendall(answer("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", b"a\r\nshort"))

    srv = script([serve])
    with client() as http, pytest.raises(_http.RemoteProtocolError):
        http.request("GET", srv.url + "/")


def test_limit_on_body_size(script: Callable[..., Script]) -> None:
    def serve(conn: socket.socket, rfile: BinaryIO) -> None:
        srv.read_request(rfile)
        conn.sendall(answer("HTTP/1.1 200 OK\nContent-Length: 100\n", b"y" * 100))
        srv.read_request(rfile)
        conn.sendall(
            answer("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", b"64\r\n" + b"z" * 100)
        )

    srv = script([serve])
    with client() as http:
        resp = http.request("GET", srv.url + "/sized", stream=True)
        with pytest.raises(_http.BodyTooLarge) as sized:
            resp.read(99)
        assert sized.value.size == "100"
    # the refused body cost that connection: the next request opens a new one
    srv2 = script([serve])
    with client() as http:
        assert http.request("GET", srv2.url + "/fits", stream=True).read(100) == b"y" * 100
        resp = http.request("GET", srv2.url + "/chunked", stream=True)
        with pytest.raises(_http.BodyTooLarge, match="more than 50"):
            resp.read(50)


# --- connections ----------------------------------------------------------------------


def test_idle_connection_closed_by_the_server_is_not_reused(script: Callable[..., Script]) -> None:
    closed = threading.Event()

    def serve_once(conn: socket.socket, rfile: BinaryIO) -> None:
        srv.read_request(rfile)
        conn.sendall(answer("HTTP/1.1 200 OK\nContent-Length: 2\n", b"ok"))
        conn.shutdown(socket.SHUT_RDWR)  # keep-alive promised, then dropped
        closed.set()

    srv = script([serve_once, serve_once])
    with client() as http:
        assert http.request("GET", srv.url + "/1").content == b"ok"
        assert closed.wait(10)
        assert http.request("GET", srv.url + "/2").content == b"ok"
    assert srv.connections == 2


def test_request_on_a_dead_kept_alive_connection_is_resent(script: Callable[..., Script]) -> None:
    def serve_then_drop(conn: socket.socket, rfile: BinaryIO) -> None:
        srv.read_request(rfile)
        conn.sendall(answer("HTTP/1.1 200 OK\nContent-Length: 2\n", b"ok"))
        srv.read_request(rfile)  # the second request arrives, then the server goes away

    def serve(conn: socket.socket, rfile: BinaryIO) -> None:
        srv.read_request(rfile)
        conn.sendall(answer("HTTP/1.1 201 Created\nContent-Length: 0\n"))

    srv = script([serve_then_drop, serve])
    with client() as http:
        assert http.request("GET", srv.url + "/1").status_code == 200
        assert http.request("PUT", srv.url + "/2", body=b"doc").status_code == 201
    assert srv.connections == 2
    assert [r[2] for r in srv.requests] == [b"", b"doc", b"doc"]


def test_streamed_body_is_not_resent_on_a_dead_connection(script: Callable[..., Script]) -> None:
    def serve_then_drop(conn: socket.socket, rfile: BinaryIO) -> None:
        srv.read_request(rfile)
        conn.sendall(answer("HTTP/1.1 200 OK\nContent-Length: 2\n", b"ok"))
        srv.read_request(rfile)

    srv = script([serve_then_drop])
    with client() as http:
        http.request("GET", srv.url + "/1")
        with pytest.raises(_http.RemoteProtocolError):
            # an iterator may not be repeatable: the caller decides (upload sessions)
            http.request("PATCH", srv.url + "/2", body=iter([b"part"]))
    assert srv.connections == 1


def test_answer_before_the_body_was_read_is_returned(script: Callable[..., Script]) -> None:
    sent = threading.Event()

    def refuse(conn: socket.socket, rfile: BinaryIO) -> None:
        rfile.readline()
        conn.sendall(answer("HTTP/1.1 413 Too Large\nContent-Length: 4\n", b"nope"))
        sent.set()
        time.sleep(0.2)  # let the answer arrive before the reset of the unread upload

    srv = script([refuse])

    def body() -> Iterator[bytes]:
        for _ in range(256):  # far more than socket buffers hold: the send must fail
            yield b"b" * (1 << 20)

    with client() as http:
        resp = http.request(
            "PUT", srv.url + "/upload", headers={"Content-Length": str(256 << 20)}, body=body()
        )
    assert sent.is_set()
    assert (resp.status_code, resp.content) == (413, b"nope")


def test_silent_server_times_out(script: Callable[..., Script]) -> None:
    done = threading.Event()

    def silent(conn: socket.socket, rfile: BinaryIO) -> None:
        srv.read_request(rfile)
        done.wait(10)

    srv = script([silent])
    try:
        with client(timeout=0.3) as http, pytest.raises(_http.TransportTimeout):
            http.request("GET", srv.url + "/")
    finally:
        done.set()


def test_connection_refused_is_a_connect_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with client() as http, pytest.raises(_http.ConnectError, match="refused"):
        http.request("GET", f"http://127.0.0.1:{port}/")


# --- request and answer details -----------------------------------------------------------


def test_headers_repeat_and_ignore_case(script: Callable[..., Script]) -> None:
    def serve(conn: socket.socket, rfile: BinaryIO) -> None:
        srv.read_request(rfile)
        conn.sendall(
            answer(
                "HTTP/1.1 401 Unauthorized\n"
                'WWW-Authenticate: Basic realm="r"\n'
                'www-authenticate: Bearer realm="https://t/token",service="s"\n'
                "Content-Length: 0\n"
            )
        )

    srv = script([serve])
    with client() as http:
        resp = http.request("GET", srv.url + "/v2/", headers={"X-Probe": "1"})
    assert resp.reason_phrase == "Unauthorized"
    assert resp.headers.get_list("Www-Authenticate") == [
        'Basic realm="r"',
        'Bearer realm="https://t/token",service="s"',
    ]
    assert "WWW-AUTHENTICATE" in resp.headers and "link" not in resp.headers
    assert resp.headers.get("link") is None
    _, sent, _ = srv.requests[0]
    assert sent["host"] == f"127.0.0.1:{srv.port}" and sent["x-probe"] == "1"


def test_iterable_body_goes_chunked_unless_sized(script: Callable[..., Script]) -> None:
    def serve(conn: socket.socket, rfile: BinaryIO) -> None:
        for _ in range(2):
            srv.read_request(rfile)
            conn.sendall(answer("HTTP/1.1 202 Accepted\nContent-Length: 0\n"))

    srv = script([serve])
    with client() as http:
        http.request("PATCH", srv.url + "/a", body=iter([b"one", b"", b"two"]))
        http.request(
            "PATCH", srv.url + "/b", body=iter([b"one", b"two"]), headers={"Content-Length": "6"}
        )
    (_, chunked, body1), (_, sized, body2) = srv.requests
    assert chunked.get("transfer-encoding") == "chunked" and body1 == b"onetwo"
    assert sized.get("content-length") == "6" and "transfer-encoding" not in sized
    assert body2 == b"onetwo"


def test_fetch_follows_redirects_and_keeps_credentials_home(script: Callable[..., Script]) -> None:
    def elsewhere(conn: socket.socket, rfile: BinaryIO) -> None:
        other.read_request(rfile)
        conn.sendall(answer("HTTP/1.1 200 OK\nContent-Length: 5\n", b"token"))

    other = script([elsewhere])

    def home(conn: socket.socket, rfile: BinaryIO) -> None:
        srv.read_request(rfile)
        conn.sendall(
            answer(f"HTTP/1.1 303 See Other\nLocation: {other.url}/t?x=1\nContent-Length: 0\n")
        )

    srv = script([home])
    with client() as http:
        resp = http.fetch(
            "POST",
            srv.url + "/token",
            form={"grant_type": "refresh_token"},
            headers={"Authorization": "Basic c2VjcmV0"},
        )
    assert resp.content == b"token"
    ((line, first, body),) = srv.requests
    assert line == "POST /token HTTP/1.1" and first["authorization"] == "Basic c2VjcmV0"
    assert body == b"grant_type=refresh_token"
    ((line2, second, _),) = other.requests
    assert line2 == "GET /t?x=1 HTTP/1.1"
    assert "authorization" not in second and "content-type" not in second


def test_merge_params_keeps_opaque_upload_state() -> None:
    loc = "http://r:5000/v2/a/blobs/uploads/u1?_state=ab%2Bc%3D%3D&digest=old&x"
    merged = _http.merge_params(loc, {"digest": "sha256:12"})
    assert merged == "http://r:5000/v2/a/blobs/uploads/u1?_state=ab%2Bc%3D%3D&x&digest=sha256%3A12"
    scopes = [("service", "reg"), ("scope", "repository:a:pull"), ("scope", "repository:b:pull")]
    assert _http.merge_params("https://auth/token", scopes) == (
        "https://auth/token?service=reg&scope=repository%3Aa%3Apull&scope=repository%3Ab%3Apull"
    )
    assert _http.merge_params("http://h/p", {}) == "http://h/p"


def test_header_injection_is_refused(script: Callable[..., Script]) -> None:
    with client() as http, pytest.raises(ValueError, match="invalid HTTP header"):
        http.request("GET", "http://127.0.0.1:1/", headers={"X-Evil": "a\r\nInjected: 1"})
