"""A small HTTP/1.1 client on the standard library's sockets, for the registry only.

Why not httpx (or http.client): ``anyarch copy`` within one registry is a
dozen small requests, and its budget is a fraction of a second.  Importing
httpx and httpcore cost more CPU than skopeo's whole copy, and http.client
drags in the ``email`` package to parse headers.  What the registry client
needs is narrow — keep-alive connections shared by a few threads, streamed
bodies read in 1 MiB pieces, chunked or sized request bodies, timeouts, TLS —
and fits in this module.  Policy (scheme choice, auth, retries, which
redirects to follow and where credentials may go) stays in ``transport.py``.

Error contract: every network or protocol failure raises a
:class:`TransportError` subclass, chained to the original ``OSError`` or
``ssl.SSLError``; a body that ends before its ``Content-Length`` or final
chunk raises :class:`RemoteProtocolError` (never a silent short read), so a
blob download can resume from what it received.  ``ssl`` is imported only
when a TLS connection is made: a loopback registry never pays for it.
"""

from __future__ import annotations

import select
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote, unquote_plus, urlencode, urljoin, urlsplit

if TYPE_CHECKING:
    import ssl

#: Bytes handed out per piece of a streamed body, and the largest socket read.
READ_SIZE = 1 << 20
#: Cap on a response's status line plus headers.
MAX_HEAD = 64 * 1024
#: Request bodies up to this size go out in the same ``sendall`` as the headers.
_SMALL_BODY = 64 * 1024
#: Socket read size while looking for the end of a line (status, headers, chunk sizes).
_HEAD_READ = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

#: A request body: bytes, or pieces of bytes (sent chunked unless the caller
#: sets ``Content-Length``).
RequestBody = bytes | Iterable[bytes] | None


class TransportError(Exception):
    """The request did not get a complete answer (network, TLS or protocol failure)."""


class ConnectError(TransportError):
    """No connection could be made (refused, unknown host, TLS handshake EOF)."""


class TLSError(ConnectError):
    """The TLS handshake failed for a reason retrying will not fix (certificate, protocol)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class TransportTimeout(TransportError):
    """Connecting or waiting for data took longer than the timeout."""


class RemoteProtocolError(TransportError):
    """The server closed the connection early or sent something that is not HTTP/1.1."""


class BodyTooLarge(Exception):
    """A response body exceeded the caller's limit; ``size`` says what we know of its size."""

    def __init__(self, size: str) -> None:
        super().__init__(size)
        self.size = size


class Timeout(NamedTuple):
    """Seconds to wait for a connection (TCP and TLS handshake) and for each read or write.

    A NamedTuple (immutable, comparable): a frozen dataclass costs ~1 ms at import.
    """

    connect: float = 10.0
    read: float = 60.0

    @classmethod
    def of(cls, value: Timeout | float | None) -> Timeout:
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        return cls(float(value), float(value))


def _map_os_error(exc: BaseException, doing: str) -> TransportError:
    """Our exception for a socket-level failure, chained by the caller."""
    if isinstance(exc, TimeoutError):
        return TransportTimeout(f"timed out {doing}")
    ssl_mod = sys.modules.get("ssl")
    if ssl_mod is not None and isinstance(exc, ssl_mod.SSLError):
        return RemoteProtocolError(f"TLS failure {doing}: {getattr(exc, 'reason', None) or exc}")
    return RemoteProtocolError(f"connection broke {doing}: {exc}")


# --- headers ------------------------------------------------------------------


class Headers(Mapping[str, str]):
    """Response headers: case-insensitive, in arrival order, repeated names kept.

    ``headers[name]`` and ``get`` join repeated values with ``", "`` (as HTTP
    allows for list-valued headers); ``get_list`` returns them one by one,
    which ``WWW-Authenticate`` needs.
    """

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = list(items)
        self._index: dict[str, list[str]] = {}
        for name, value in self._items:
            self._index.setdefault(name.lower(), []).append(value)

    def __getitem__(self, name: str) -> str:
        return ", ".join(self._index[name.lower()])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def get_list(self, name: str) -> list[str]:
        return list(self._index.get(name.lower(), ()))

    def raw_items(self) -> list[tuple[str, str]]:
        """Every ``(name, value)`` as received, repeated names included."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({len(self._items)} fields)"


# --- URLs -----------------------------------------------------------------------


def merge_params(url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """``url`` with ``params`` set in its query string.

    Keys in ``params`` replace the URL's own values for those keys; every
    other part of the existing query is kept byte for byte (an upload
    location's opaque state must reach the registry exactly as it sent it).
    """
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    if not pairs:
        return url
    replaced = {k for k, _ in pairs}
    base, _, fragment = url.partition("#")
    path, _, query = base.partition("?")
    kept = [p for p in query.split("&") if p and unquote_plus(p.split("=", 1)[0]) not in replaced]
    kept.append(urlencode(pairs, quote_via=quote))
    return f"{path}?{'&'.join(kept)}" + (f"#{fragment}" if fragment else "")


def _origin_key(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, request-target)`` of an absolute http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConnectError(f"not an http(s) URL: {scheme or '?'}://…")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise ConnectError("invalid port in URL") from exc
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return scheme, parts.hostname, port, target


def _check_header(name: str, value: str) -> None:
    if any(c in name for c in "\r\n:") or "\r" in value or "\n" in value:
        raise ValueError(f"invalid HTTP header {name!r}")


# --- connections ------------------------------------------------------------------


class _Connection:
    """One socket to one origin, used by one request at a time."""

    __slots__ = ("_buf", "_pos", "host", "key", "port", "sock")

    def __init__(self, key: tuple[str, str, int], sock: socket.socket) -> None:
        self.key = key
        self.host = key[1]
        self.port = key[2]
        self.sock = sock
        self._buf = b""  # received, not yet consumed
        self._pos = 0

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def stale(self) -> bool:
        """An idle connection the server closed (or wrote to out of turn)."""
        if self._pos < len(self._buf):
            return True
        try:
            if hasattr(select, "poll"):  # no FD_SETSIZE limit
                poller = select.poll()
                poller.register(self.sock, select.POLLIN)
                return bool(poller.poll(0))
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    # reading: a small buffer for the head, direct reads for big bodies

    def _fill(self) -> bool:
        """Read more into the buffer; ``False`` at EOF."""
        data = self.sock.recv(_HEAD_READ)
        if not data:
            return False
        self._buf = self._buf[self._pos :] + data if self._pos < len(self._buf) else data
        self._pos = 0
        return True

    def read_line(self, limit: int) -> bytes:
        """One CRLF-terminated line (without CRLF); EOF before it raises."""
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                line = self._buf[self._pos : end]
                self._pos = end + 1
                return line[:-1] if line.endswith(b"\r") else line
            if len(self._buf) - self._pos > limit:
                raise RemoteProtocolError("response header line too long")
            if not self._fill():
                raise RemoteProtocolError("connection closed by the server")

    def readinto(self, view: memoryview) -> int:
        """Up to ``len(view)`` bytes: what is buffered, else one socket read."""
        if self._pos < len(self._buf):
            n = min(len(view), len(self._buf) - self._pos)
            view[:n] = memoryview(self._buf)[self._pos : self._pos + n]
            self._pos += n
            return n
        return self.sock.recv_into(view)

    def pending(self) -> bool:
        return self._pos < len(self._buf)


class Client:
    """Keep-alive HTTP/1.1 connections per origin, safe to share between threads.

    ``ssl_context`` is called (once, under a lock) the first time a TLS
    connection is needed, so a plain-HTTP client never imports ``ssl``.
    """

    def __init__(
        self,
        *,
        ssl_context: Callable[[], ssl.SSLContext],
        timeout: Timeout | float | None = None,
        headers: Mapping[str, str] | None = None,
        max_idle: int = 16,
    ) -> None:
        self.timeout = Timeout.of(timeout)
        self._ssl_factory = ssl_context
        self._ssl: ssl.SSLContext | None = None
        self._headers = dict(headers or {})
        self._max_idle = max_idle
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._closed = False

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
            self._closed = True
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- pool ----------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl is None:
                self._ssl = self._ssl_factory()
            return self._ssl

    def _checkout(self, key: tuple[str, str, int]) -> _Connection | None:
        while True:
            with self._lock:
                conns = self._idle.get(key)
                conn = conns.pop() if conns else None
            if conn is None:
                return None
            if not conn.stale():
                return conn
            conn.close()

    def _release(self, conn: _Connection) -> None:
        with self._lock:
            conns = self._idle.setdefault(conn.key, [])
            if not self._closed and len(conns) < self._max_idle and not conn.pending():
                conns.append(conn)
                return
        conn.close()

    def _connect(self, key: tuple[str, str, int]) -> _Connection:
        scheme, host, port = key
        where = f"{host}:{port}"
        # An ASCII name goes to getaddrinfo as bytes: a str is run through the
        # idna codec, whose import (stringprep, unicodedata) costs start-up time.
        addr: str | bytes = host.encode("ascii") if host.isascii() else host
        try:
            sock = socket.create_connection((addr, port), timeout=self.timeout.connect)  # type: ignore[arg-type]
        except TimeoutError as exc:
            raise TransportTimeout(f"timed out connecting to {where}") from exc
        except socket.gaierror as exc:
            raise ConnectError(f"cannot resolve {host}: {exc.strerror or exc}") from exc
        except OSError as exc:
            raise ConnectError(f"cannot connect to {where}: {exc.strerror or exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._handshake(sock, host, where)
            sock.settimeout(self.timeout.read)
        except BaseException:
            sock.close()
            raise
        return _Connection(key, sock)

    def _handshake(self, sock: socket.socket, host: str, where: str) -> socket.socket:
        import ssl  # only TLS connections pay for it

        ctx = self._context()
        try:
            return ctx.wrap_socket(sock, server_hostname=host)
        except ssl.SSLEOFError as exc:
            raise ConnectError(f"TLS handshake with {where} cut off") from exc
        except ssl.SSLError as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
                reason = exc.verify_message
            raise TLSError(f"TLS handshake with {where} failed ({reason})", str(reason)) from exc
        except TimeoutError as exc:
            raise TransportTimeout(f"timed out in the TLS handshake with {where}") from exc
        except OSError as exc:
            raise ConnectError(f"TLS handshake with {where} failed: {exc}") from exc

    # --- requests --------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: RequestBody = None,
        stream: bool = False,
    ) -> Response:
        """Send one request; return the answer with its headers read.

        With ``stream=False`` the body is read (and the connection returned to
        the pool) before this returns; otherwise read or close the response.
        A reused keep-alive connection that turns out dead before the server
        answered is replaced once when the body can be sent again.
        """
        scheme, host, port, target = _origin_key(url)
        key = (scheme, host, port)
        hdrs = {**self._headers, **(headers or {})}
        head, chunked = _request_head(method, target, key, hdrs, body)
        replayable = body is None or isinstance(body, bytes)
        conn = self._checkout(key)
        while True:
            reused = conn is not None
            if conn is None:
                conn = self._connect(key)
            try:
                resp = self._exchange(conn, method, url, head, chunked, hdrs, body)
            except _DeadConnection as dead:
                conn.close()
                if reused and replayable:
                    conn = None
                    continue
                raise dead.error from dead.error.__cause__
            except BaseException:
                conn.close()
                raise
            if not stream:
                try:
                    resp.read()
                finally:
                    resp.close()
            return resp

    def _exchange(
        self,
        conn: _Connection,
        method: str,
        url: str,
        head: bytes,
        chunked: bool,
        headers: dict[str, str],
        body: RequestBody,
    ) -> Response:
        try:
            if isinstance(body, bytes) and len(body) <= _SMALL_BODY:
                conn.sock.sendall(head + body)
            else:
                conn.sock.sendall(head)
                if isinstance(body, bytes):
                    conn.sock.sendall(body)
                elif body is not None:
                    for piece in body:
                        if not piece:
                            continue
                        if chunked:
                            conn.sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                        else:
                            conn.sock.sendall(piece)
                    if chunked:
                        conn.sock.sendall(b"0\r\n\r\n")
        except OSError as exc:
            # The server may have answered already (and stopped reading, e.g. a
            # refusal of a big upload): prefer its answer to our write error.
            error = _map_os_error(exc, "sending the request")
            error.__cause__ = exc
            try:
                return self._read_head(conn, method, url, headers, unanswered_is_dead=False)
            except (TransportError, OSError):
                pass
            # No answer at all: on a reused connection, the server had closed it.
            raise _DeadConnection(error) from exc
        return self._read_head(conn, method, url, headers, unanswered_is_dead=True)

    def _read_head(
        self,
        conn: _Connection,
        method: str,
        url: str,
        headers: dict[str, str],
        *,
        unanswered_is_dead: bool,
    ) -> Response:
        got_any = False
        try:
            while True:
                try:
                    line = conn.read_line(MAX_HEAD)
                except RemoteProtocolError as exc:
                    if not got_any and unanswered_is_dead:
                        raise _DeadConnection(exc) from None
                    raise
                got_any = True
                version, status, reason = _status_line(line)
                fields = _header_fields(conn)
                if 100 <= status < 200 and status != 101:
                    continue  # 100 Continue and friends: the real answer follows
                return Response(
                    self,
                    conn,
                    method,
                    url,
                    version,
                    status,
                    reason,
                    Headers(fields),
                    headers,
                )
        except TimeoutError as exc:
            raise TransportTimeout("timed out waiting for the answer") from exc
        except ConnectionError as exc:
            error = _map_os_error(exc, "waiting for the answer")
            if not got_any and unanswered_is_dead:
                error.__cause__ = exc
                raise _DeadConnection(error) from exc
            raise error from exc
        except OSError as exc:
            raise _map_os_error(exc, "waiting for the answer") from exc

    # --- conveniences ---------------------------------------------------------

    def fetch(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        params: Iterable[tuple[str, str]] = (),
        form: Mapping[str, str] | None = None,
        max_redirects: int = 8,
    ) -> Response:
        """A complete (read) answer, following redirects.

        For side requests such as a token service.  ``Authorization`` is sent
        only to the first URL's origin; 303 (and 301/302 after a POST) turn
        into a body-less GET, as browsers do.
        """
        hdrs = dict(headers or {})
        if form is not None:
            body = urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        url = merge_params(url, params) if params else url
        home = _origin_key(url)[:3]
        for _ in range(max_redirects + 1):
            if _origin_key(url)[:3] != home:
                hdrs = {k: v for k, v in hdrs.items() if k.lower() != "authorization"}
            resp = self.request(method, url, headers=hdrs, body=body)
            location = resp.headers.get("location")
            if resp.status_code not in _REDIRECTS or not location:
                return resp
            url = urljoin(url, location)
            if resp.status_code == 303 or (resp.status_code in (301, 302) and method != "GET"):
                method, body = "GET", None
                hdrs = {k: v for k, v in hdrs.items() if k.lower() != "content-type"}
        raise RemoteProtocolError("too many redirects")


def _request_head(
    method: str,
    target: str,
    key: tuple[str, str, int],
    headers: Mapping[str, str],
    body: RequestBody,
) -> tuple[bytes, bool]:
    """The request line and headers, and whether the body goes chunked."""
    lower = {k.lower() for k in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in lower:
        scheme, host, port = key
        host = f"[{host}]" if ":" in host else host
        default = 443 if scheme == "https" else 80
        lines.append(f"Host: {host}" if port == default else f"Host: {host}:{port}")
    if "accept-encoding" not in lower:
        lines.append("Accept-Encoding: identity")
    chunked = False
    if isinstance(body, bytes):
        if "content-length" not in lower:
            lines.append(f"Content-Length: {len(body)}")
    elif body is not None:
        if "content-length" not in lower and "transfer-encoding" not in lower:
            lines.append("Transfer-Encoding: chunked")
            chunked = True
    elif method in ("POST", "PUT", "PATCH") and "content-length" not in lower:
        lines.append("Content-Length: 0")
    for name, value in headers.items():
        _check_header(name, value)
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), chunked


class _DeadConnection(Exception):
    """A kept-alive connection failed before any answer: maybe safe to resend."""

    def __init__(self, error: TransportError) -> None:
        super().__init__(str(error))
        self.error = error


def _status_line(line: bytes) -> tuple[str, int, str]:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise RemoteProtocolError("the server's answer is not HTTP")
    reason = parts[2].decode("latin-1").strip() if len(parts) > 2 else ""
    return parts[0].decode("ascii", "replace"), int(parts[1]), reason


def _header_fields(conn: _Connection) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    size = 0
    while True:
        line = conn.read_line(MAX_HEAD)
        if not line:
            return fields
        size += len(line)
        if size > MAX_HEAD:
            raise RemoteProtocolError("response headers too large")
        if line[:1] in (b" ", b"\t") and fields:  # obsolete line folding
            prev_name, prev_value = fields[-1]
            fields[-1] = (prev_name, prev_value + " " + line.strip().decode("latin-1"))
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise RemoteProtocolError("malformed response header")
        fields.append((name.decode("latin-1"), value.strip().decode("latin-1")))


# --- responses ------------------------------------------------------------------


class Response:
    """An answer whose body is read on demand (``read``, ``iter_bytes``, ``readinto``).

    The connection goes back to the pool once the body has been read to its
    end; :meth:`close` before that drops the connection.
    """

    def __init__(
        self,
        client: Client | None,
        conn: _Connection | None,
        method: str,
        url: str,
        http_version: str,
        status_code: int,
        reason_phrase: str,
        headers: Headers,
        request_headers: Mapping[str, str],
        content: bytes | None = None,
    ) -> None:
        self.url = url
        self.method = method
        self.http_version = http_version
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.headers = headers
        #: What was sent, for the caller's bookkeeping (may hold credentials: never log it).
        self.request_headers = request_headers
        self._client = client
        self._conn = conn
        self._content = content
        self._remaining: int | None = None  # bytes left in a sized body or current chunk
        self._chunked = False
        self._chunk_crlf = False  # a chunk's data was read, its CRLF not yet
        self._until_close = False
        self._done = conn is None
        self._keep = False
        if conn is not None:
            self._frame(method)

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"

    def _frame(self, method: str) -> None:
        """Work out where the body ends (RFC 9112 §6.3)."""
        h = self.headers
        close = "close" in h.get("connection", "").lower()
        self._keep = not close and self.http_version != "HTTP/1.0"
        if method == "HEAD" or self.status_code in _NO_BODY_STATUSES or self.status_code < 200:
            self._finish()
            return
        te = h.get("transfer-encoding", "").lower()
        if te:
            if te.rsplit(",", 1)[-1].strip() != "chunked":
                self._until_close, self._keep = True, False
                return
            self._chunked = True
            self._remaining = 0
            return
        length = h.get_list("content-length")
        if length:
            values = {v.strip() for v in ",".join(length).split(",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise RemoteProtocolError("invalid Content-Length in the answer")
            self._remaining = int(values.pop())
            if not self._remaining:
                self._finish()
            return
        self._until_close, self._keep = True, False

    def _finish(self) -> None:
        """The body is complete: hand the connection back (or drop it)."""
        self._done = True
        conn, self._conn = self._conn, None
        if conn is not None:
            if self._keep and self._client is not None:
                self._client._release(conn)
            else:
                conn.close()

    # --- body -----------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self._conn is None

    @property
    def is_stream_consumed(self) -> bool:
        return self._done

    @property
    def content(self) -> bytes:
        """The body; only after :meth:`read` (a non-streamed request has read it)."""
        if self._content is None:
            raise RuntimeError("the response body has not been read")
        return self._content

    def read(self, limit: int | None = None) -> bytes:
        """The whole body (kept as :attr:`content`); over ``limit`` bytes raises BodyTooLarge."""
        if self._content is not None:
            return self._content
        if limit is not None:
            length = self.headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                self.close()
                raise BodyTooLarge(length)
        parts: list[bytes] = []
        total = 0
        try:
            for piece in self.iter_bytes():
                total += len(piece)
                if limit is not None and total > limit:
                    raise BodyTooLarge(f"more than {limit}")
                parts.append(piece)
        finally:
            if not self._done:
                self.close()
        self._content = b"".join(parts)
        return self._content

    def readinto(self, buffer: memoryview | bytearray) -> int:
        """Up to ``len(buffer)`` body bytes as they arrive; 0 at the end of the body.

        A body cut short (EOF before its length or last chunk, a reset, a
        timeout) raises :class:`TransportError`; the bytes handed out before
        stay valid.
        """
        view = buffer if isinstance(buffer, memoryview) else memoryview(buffer)
        if self._done or not len(view):
            return 0
        conn = self._conn
        if conn is None:
            raise RemoteProtocolError("the response was closed before its body was read")
        try:
            if self._chunked:
                return self._readinto_chunked(conn, view)
            if self._until_close:
                n = conn.readinto(view)
                if not n:
                    self._finish()
                return n
            assert self._remaining is not None
            n = conn.readinto(view[: self._remaining])
            if not n:
                raise RemoteProtocolError(
                    f"connection closed with {self._remaining} bytes of the body missing"
                )
            self._remaining -= n
            if not self._remaining:
                self._finish()
            return n
        except TransportError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise _map_os_error(exc, "reading the body") from exc

    def _readinto_chunked(self, conn: _Connection, view: memoryview) -> int:
        if self._chunk_crlf:
            if conn.read_line(16):
                raise RemoteProtocolError("chunk not followed by CRLF")
            self._chunk_crlf = False
        if not self._remaining:
            size_line = conn.read_line(4096)
            size_text = size_line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise RemoteProtocolError("malformed chunk size in the answer") from None
            if size == 0:
                while conn.read_line(MAX_HEAD):  # trailers
                    pass
                self._finish()
                return 0
            self._remaining = size
        n = conn.readinto(view[: self._remaining])
        if not n:
            raise RemoteProtocolError("connection closed in the middle of a chunk")
        self._remaining -= n
        self._chunk_crlf = not self._remaining
        return n

    def iter_bytes(self, chunk_size: int = READ_SIZE) -> Iterator[bytes]:
        """The body in pieces of up to ``chunk_size`` bytes.

        A piece is handed out when it is full or the body ends; if the body
        breaks off, what arrived of the current piece is yielded first and the
        error raised at the next step, so no received byte is lost.
        """
        if self._content is not None:
            if self._content:
                yield self._content
            return
        if self._done:
            return
        size = chunk_size
        if not (self._chunked or self._until_close) and self._remaining:
            # A body of known length gets a buffer its size: most answers are a
            # manifest or empty, and zeroing 1 MiB for each costs ~0.1 ms of CPU.
            size = min(size, self._remaining)
        buf = bytearray(size)
        view = memoryview(buf)
        while not self._done:
            filled = 0
            error: TransportError | None = None
            try:
                while filled < size:
                    n = self.readinto(view[filled:])
                    if not n:
                        break
                    filled += n
            except TransportError as exc:
                error = exc
            if filled:
                yield bytes(view[:filled])
            if error is not None:
                raise error
            if filled < size:
                return

    def close(self) -> None:
        """Stop reading; an unread body costs the connection, not a drain."""
        conn, self._conn = self._conn, None
        self._done = True
        if conn is not None:
            conn.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
