"""HTTP to one registry: scheme choice, auth, retries and safe redirects.

Everything that talks to a registry goes through :meth:`Transport.request`,
so the rules hold everywhere:

* plain HTTP only for loopback hosts or when the user said ``insecure``;
  otherwise TLS with the system CAs plus an optional ``cacert``;
* a ``401`` is answered once per request with the registry's challenge;
* 408/429/5xx and broken connections are retried per the :class:`RetryPolicy`
  (bodies are factories, so they can be sent again); 401/403/404 never are;
* redirects are followed by hand: ``Authorization`` goes only to the
  registry's own origin, never to the storage backend a blob GET points to.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from anyarch import __version__

try:  # pragma: no cover - depends on httpcore's internals
    import httpcore._sync.http11 as _h11

    # httpcore reads sockets 64 KiB at a time; for 100 MB blobs the per-read
    # overhead in h11 shows up in profiles (about 20% of a pull).  1 MiB reads
    # cut it to a fraction.  A private attribute: if it goes away, nothing breaks.
    if getattr(_h11.HTTP11Connection, "READ_NUM_BYTES", 0) < (1 << 20):
        _h11.HTTP11Connection.READ_NUM_BYTES = 1 << 20
except (ImportError, AttributeError):  # pragma: no cover
    pass
from anyarch.errors import RegistryProtocolError, RegistryUnreachableError
from anyarch.name import is_loopback_registry
from anyarch.registry.auth import Authenticator
from anyarch.registry.challenge import pick_challenge
from anyarch.registry.credentials import CredentialSource
from anyarch.registry.retry import NO_RETRY, RetryPolicy, parse_retry_after

log = logging.getLogger("anyarch.registry")

#: A request body: bytes, or a factory called once per attempt so retries
#: and redirects can send it again.
Body = bytes | Callable[[], bytes | Iterable[bytes]] | None

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 8
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
USER_AGENT = f"anyarch/{__version__}"


def origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)``: the unit a credential is bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def _redacted(url: str) -> str:
    """A URL fit for a log line: no query string (upload state, signed URLs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _reason(exc: httpx.TransportError) -> str:
    """A short, secret-free description of a network failure."""
    text = str(exc).lower()
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename" in text or "getaddrinfo" in text:
        return "host name not found"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed by the registry"
    return type(exc).__name__


class BodyTooLarge(Exception):
    """A response body exceeded the caller's limit; ``size`` says by how much we know."""

    def __init__(self, size: str) -> None:
        super().__init__(size)
        self.size = size


def _capped(resp: httpx.Response, limit: int) -> httpx.Response:
    """Read at most ``limit`` bytes of a streamed answer into a complete response."""
    length = resp.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise BodyTooLarge(length)
    parts: list[bytes] = []
    total = 0
    for chunk in resp.iter_bytes():
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge(f"more than {limit}")
        parts.append(chunk)
    return httpx.Response(
        resp.status_code,
        headers=resp.headers,
        content=b"".join(parts),
        request=resp.request,
        extensions=resp.extensions,
    )


class Transport:
    """Connection-pooled HTTP to one registry; thread-safe."""

    def __init__(
        self,
        registry: str,
        *,
        api_host: str | None = None,
        insecure: bool = False,
        cacert: str | Path | None = None,
        credentials: CredentialSource | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | float | None = None,
        max_connections: int = 16,
    ) -> None:
        self.registry = registry
        self.api_host = api_host or registry
        self.insecure = insecure
        self.retry = retry or RetryPolicy()
        verify: ssl.SSLContext | bool
        if insecure:
            verify = False
        else:
            ctx = ssl.create_default_context()
            if cacert is not None:
                ctx.load_verify_locations(cafile=str(cacert))
            verify = ctx
        self._http = httpx.Client(
            verify=verify,
            timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            trust_env=False,
        )
        self.auth = Authenticator(registry, credentials, self._http, self.retry)
        self._base_lock = threading.Lock()
        self._base: str | None = None
        if is_loopback_registry(self.api_host):
            self._base = f"http://{self.api_host}"
        elif not insecure:
            self._base = f"https://{self.api_host}"

    def __repr__(self) -> str:
        return f"Transport(registry={self.registry!r}, base={self._base!r})"

    def close(self) -> None:
        self._http.close()

    # --- URLs -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``scheme://host[:port]``; for an insecure host, probed once (HTTPS first)."""
        if self._base is None:
            with self._base_lock:
                if self._base is None:
                    self._base = self._probe_scheme()
        return self._base

    def _probe_scheme(self) -> str:
        https = f"https://{self.api_host}"
        try:
            resp = self._http.get(f"{https}/v2/")
            resp.close()
            return https
        except httpx.TransportError:
            log.debug("%s: HTTPS failed, falling back to plain HTTP (insecure)", self.registry)
            return f"http://{self.api_host}"

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base_url + "/", path_or_url.lstrip("/"))

    # --- requests ---------------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        what: str,
        scopes: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content: Body = None,
        stream: bool = False,
        follow_redirects: bool = True,
        retry: bool = True,
        max_body: int | None = None,
    ) -> httpx.Response:
        """Send a request and return the final answer, whatever its status.

        Raises :class:`RegistryUnreachableError` when the registry cannot be
        reached after the retries, and auth errors from the token service.
        ``what`` names the reference or repository for error messages.
        ``max_body`` caps a successful answer's body (:class:`BodyTooLarge`);
        body read errors are retried like connection errors unless ``stream``.
        """
        policy = self.retry if retry else NO_RETRY
        url = self.url(path_or_url)
        want = list(scopes)
        attempt = 0
        answered_challenge = False
        while True:
            attempt += 1
            try:
                resp = self._send(
                    method,
                    url,
                    headers or {},
                    params,
                    content,
                    want,
                    stream,
                    follow_redirects,
                    max_body,
                )
            except httpx.TransportError as exc:
                tls = _tls_failure(exc)
                if tls is not None and not isinstance(tls, ssl.SSLEOFError):
                    raise RegistryUnreachableError(
                        f"{what}: TLS handshake with {self.registry} failed"
                        f" ({getattr(tls, 'reason', None) or type(tls).__name__})",
                        hint="pass --cacert with the registry's CA certificate,"
                        " or --insecure if it serves plain HTTP or a self-signed certificate",
                    )
                if attempt < policy.attempts:
                    log.debug("%s %s failed (%s); retrying", method, _redacted(url), _reason(exc))
                    policy.wait(attempt)
                    continue
                raise RegistryUnreachableError(
                    f"{what}: cannot reach registry {self.registry} ({_reason(exc)})",
                    hint="check the registry address and that it is running;"
                    " a plain-HTTP registry needs --insecure",
                )
            status = resp.status_code
            # Only the registry's own challenge counts: a storage backend we were
            # redirected to must not teach us where to send credentials.
            if (
                status == 401
                and not answered_challenge
                and origin(str(resp.url)) == origin(self.base_url)
            ):
                challenge = pick_challenge(resp.headers.get_list("www-authenticate"))
                if challenge is not None and challenge.scheme in ("basic", "bearer"):
                    answered_challenge = True
                    if resp.request.headers.get("authorization"):
                        self.auth.invalidate(want)
                    self.auth.learn(challenge)
                    want = [*want, *challenge.scopes]
                    if challenge.scheme == "bearer" or self.auth.credential() is not None:
                        resp.close()
                        attempt -= 1
                        continue
            if policy.should_retry_status(status) and attempt < policy.attempts:
                after = parse_retry_after(resp.headers.get("retry-after"))
                log.debug("%s %s answered %d; retrying", method, _redacted(url), status)
                resp.close()
                policy.wait(attempt, after)
                continue
            return resp

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None,
        content: Body,
        scopes: Sequence[str],
        stream: bool,
        follow_redirects: bool,
        max_body: int | None,
    ) -> httpx.Response:
        home = origin(self.base_url)
        if params:
            # Merge, never replace: upload locations carry their own state query.
            url = str(httpx.URL(url).copy_merge_params(params))
        for _hop in range(MAX_REDIRECTS + 1):
            hdrs = dict(headers)
            if origin(url) == home:
                authz = self.auth.authorization(scopes)
                if authz:
                    hdrs["Authorization"] = authz
            body = content() if callable(content) else content
            req = self._http.build_request(method, url, headers=hdrs, content=body)
            resp = self._http.send(req, stream=True)
            log.debug("%s %s -> %d", method, _redacted(url), resp.status_code)
            location = resp.headers.get("location")
            if follow_redirects and resp.status_code in _REDIRECTS and location:
                resp.close()
                url = urljoin(str(resp.url), location)
                if resp.status_code == 303 or (
                    resp.status_code in (301, 302) and method not in ("GET", "HEAD")
                ):
                    method, content = "GET", None
                continue
            if not stream:
                try:
                    if max_body is not None and resp.status_code < 300:
                        return _capped(resp, max_body)
                    resp.read()
                finally:
                    resp.close()
            return resp
        raise RegistryProtocolError(
            f"{self.registry}: too many redirects",
            hint="the registry or its storage backend redirects in a loop",
        )
