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

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from anyarch import __version__
from anyarch._util.debuglog import DebugLog
from anyarch.errors import RegistryProtocolError, RegistryUnreachableError
from anyarch.name import is_loopback_registry
from anyarch.registry import _http
from anyarch.registry._http import BodyTooLarge, Response, Timeout
from anyarch.registry.auth import Authenticator
from anyarch.registry.credentials import CredentialSource
from anyarch.registry.retry import NO_RETRY, RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    import ssl

__all__ = ["BodyTooLarge", "Response", "Timeout", "Transport", "origin"]

log = DebugLog("anyarch.registry")

#: A request body: bytes, or a factory called once per attempt so retries
#: and redirects can send it again.
Body = bytes | Callable[[], bytes | Iterable[bytes]] | None

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 8
DEFAULT_TIMEOUT = Timeout(connect=10.0, read=60.0)
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


def _reason(exc: _http.TransportError) -> str:
    """A short, secret-free description of a network failure."""
    text = str(exc).lower()
    if isinstance(exc, _http.TransportTimeout):
        return "timed out"
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename" in text or "getaddrinfo" in text:
        return "host name not found"
    if "cannot resolve" in text:
        return "host name not found"
    if isinstance(exc, _http.RemoteProtocolError):
        return "connection closed by the registry"
    return type(exc).__name__


def _ssl_context(insecure: bool, cacert: str | Path | None) -> Callable[[], ssl.SSLContext]:
    """A factory for the TLS settings: system CAs plus ``cacert``, or no checks if insecure.

    Called when the first TLS connection is made (loading the system CAs
    costs start-up time a plain-HTTP loopback registry should not pay) —
    except with a ``cacert``, which is loaded now so a wrong file is reported
    up front.
    """

    def make() -> ssl.SSLContext:
        import ssl

        if insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        ctx = ssl.create_default_context()
        if cacert is not None:
            ctx.load_verify_locations(cafile=str(cacert))
        return ctx

    if cacert is not None and not insecure:
        ctx = make()
        return lambda: ctx
    return make


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
        timeout: Timeout | float | None = None,
        max_connections: int = 16,
    ) -> None:
        self.registry = registry
        self.api_host = api_host or registry
        self.insecure = insecure
        self.retry = retry or RetryPolicy()
        self._http = _http.Client(
            ssl_context=_ssl_context(insecure, cacert),
            timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
            headers={"User-Agent": USER_AGENT},
            max_idle=max_connections,
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
            self._http.request("GET", f"{https}/v2/").close()
            return https
        except _http.TransportError:
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
    ) -> Response:
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
            except _http.TransportError as exc:
                if isinstance(exc, _http.TLSError):
                    raise RegistryUnreachableError(
                        f"{what}: TLS handshake with {self.registry} failed ({exc.reason})",
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
                # imported here: a registry that never asks for credentials never needs it
                from anyarch.registry.challenge import pick_challenge

                challenge = pick_challenge(resp.headers.get_list("www-authenticate"))
                if challenge is not None and challenge.scheme in ("basic", "bearer"):
                    answered_challenge = True
                    if any(k.lower() == "authorization" for k in resp.request_headers):
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
    ) -> Response:
        home = origin(self.base_url)
        if params:
            # Merge, never replace: upload locations carry their own state query.
            url = _http.merge_params(url, params)
        for _hop in range(MAX_REDIRECTS + 1):
            hdrs = dict(headers)
            if origin(url) == home:
                authz = self.auth.authorization(scopes)
                if authz:
                    hdrs["Authorization"] = authz
            body = content() if callable(content) else content
            resp = self._http.request(method, url, headers=hdrs, body=body, stream=True)
            log.debug("%s %s -> %d", method, _redacted(url), resp.status_code)
            location = resp.headers.get("location")
            if follow_redirects and resp.status_code in _REDIRECTS and location:
                resp.close()
                url = urljoin(resp.url, location)
                if resp.status_code == 303 or (
                    resp.status_code in (301, 302) and method not in ("GET", "HEAD")
                ):
                    method, content = "GET", None
                continue
            if not stream:
                try:
                    resp.read(max_body if resp.status_code < 300 else None)
                finally:
                    resp.close()
            return resp
        raise RegistryProtocolError(
            f"{self.registry}: too many redirects",
            hint="the registry or its storage backend redirects in a loop",
        )
