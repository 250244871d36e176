"""Answer a registry's auth challenge: anonymous, Basic, or Bearer tokens.

The distribution spec's token flow: the registry refuses with ``401`` and
``WWW-Authenticate: Bearer realm=R,service=S,scope=X``; we ask ``R`` for a
token for ``S`` and the scopes we need (with Basic credentials, or an OAuth2
refresh token when ``docker login`` stored an identity token) and repeat the
request with ``Authorization: Bearer``.  Tokens are cached per scope set and
reused for any request whose scopes they cover, until shortly before they
expire.  Credentials are looked up lazily (a credential helper is a
subprocess) and at most once per client.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from anyarch._util.debuglog import DebugLog
from anyarch.errors import AuthenticationError, RegistryProtocolError, RegistryUnreachableError
from anyarch.registry import _http
from anyarch.registry import scopes as scope_mod
from anyarch.registry.credentials import Credential, CredentialSource
from anyarch.registry.retry import RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from anyarch.registry.challenge import Challenge

log = DebugLog("anyarch.registry")

#: Seconds a token is assumed valid when the token service does not say.
DEFAULT_TOKEN_LIFETIME = 60.0
#: Refresh this long before a token's stated expiry to avoid racing it.
EXPIRY_MARGIN = 10.0


class _Token:
    """A bearer token, the scopes it was issued for and when to stop using it.

    A plain class (a dataclass costs ~0.5 ms at import); its repr shows no token.
    """

    __slots__ = ("expires_at", "scopes", "value")

    def __init__(self, scopes: tuple[str, ...], value: str, expires_at: float) -> None:
        self.scopes = scopes
        self.value = value
        self.expires_at = expires_at


def basic_header(cred: Credential) -> str:
    import base64  # only registries asking for Basic auth need it

    raw = f"{cred.username}:{cred.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class Authenticator:
    """Auth state for one registry host; safe to share between threads."""

    def __init__(
        self,
        registry: str,
        credentials: CredentialSource | None,
        http: _http.Client,
        retry: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._source = credentials
        self._http = http
        self._retry = retry
        self._clock = clock
        self._lock = threading.Lock()
        self._fetch_lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._cred: Credential | None = None
        self._cred_loaded = False
        self._tokens: list[_Token] = []
        self._widen: dict[str, tuple[str, ...]] = {}

    def __repr__(self) -> str:
        scheme = self._challenge.scheme if self._challenge else "unknown"
        return f"Authenticator(registry={self._registry!r}, scheme={scheme!r})"

    # --- state ------------------------------------------------------------

    @property
    def challenge(self) -> Challenge | None:
        return self._challenge

    def learn(self, challenge: Challenge) -> None:
        """Remember how this registry wants to be asked (from a 401)."""
        with self._lock:
            if self._challenge != challenge and (
                self._challenge is None
                or self._challenge.scheme != challenge.scheme
                or self._challenge.realm != challenge.realm
                or self._challenge.service != challenge.service
            ):
                self._tokens.clear()
            from anyarch.registry.challenge import Challenge  # loaded with the first 401

            self._challenge = Challenge(
                challenge.scheme,
                {k: v for k, v in challenge.params.items() if k != "scope"},
            )

    def credential(self) -> Credential | None:
        """The credential for this registry, asked of the source once."""
        with self._lock:
            if not self._cred_loaded:
                cred = self._source(self._registry) if self._source else None
                self._cred = cred if cred is not None and not cred.is_empty else None
                self._cred_loaded = True
            return self._cred

    def widen(self, repository: str, scopes: Sequence[str]) -> None:
        """Ask for ``scopes`` too whenever a token touching ``repository`` is needed.

        A push announces itself this way, so its first request (a HEAD, which
        needs only ``pull``) already fetches the ``pull,push`` (and mount
        source ``pull``) token every later request of the push reuses.
        """
        with self._lock:
            self._widen[repository] = scope_mod.normalize(
                [*self._widen.get(repository, ()), *scopes]
            )

    def _widened(self, scopes: Sequence[str]) -> tuple[str, ...]:
        with self._lock:
            extra = [
                s
                for scope in scopes
                for s in self._widen.get(scope_mod.repository_of(scope) or "", ())
            ]
        return scope_mod.normalize([*scopes, *extra])

    def invalidate(self, scopes: Sequence[str]) -> None:
        """Forget tokens that would be used for ``scopes`` (the registry refused one)."""
        wanted = scope_mod.normalize(scopes)
        with self._lock:
            self._tokens = [t for t in self._tokens if not scope_mod.covers(t.scopes, wanted)]

    # --- headers ----------------------------------------------------------

    def authorization(self, scopes: Sequence[str]) -> str | None:
        """The ``Authorization`` value for a request needing ``scopes``, or ``None``."""
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            cred = self.credential()
            if cred is None or cred.identity_token:
                return None
            return basic_header(cred)
        if challenge.scheme == "bearer":
            return "Bearer " + self.token(scopes)
        return None

    def token(self, scopes: Sequence[str]) -> str:
        """A bearer token covering ``scopes``, from cache or the token service."""
        wanted = self._widened(scopes)
        cached = self._cached(wanted)
        if cached is not None:
            return cached
        # One fetch at a time: parallel blob transfers otherwise stampede the
        # token service with identical requests.
        with self._fetch_lock:
            cached = self._cached(wanted)
            if cached is not None:
                return cached
            tok = self._fetch(wanted)
            with self._lock:
                self._tokens.append(tok)
            return tok.value

    def _cached(self, wanted: tuple[str, ...]) -> str | None:
        now = self._clock()
        with self._lock:
            self._tokens = [t for t in self._tokens if t.expires_at > now]
            for tok in self._tokens:
                if scope_mod.covers(tok.scopes, wanted):
                    return tok.value
        return None

    # --- token service ----------------------------------------------------

    def _fetch(self, wanted: tuple[str, ...]) -> _Token:
        challenge = self._challenge
        assert challenge is not None
        realm = challenge.realm
        if not realm.startswith(("https://", "http://")):
            raise RegistryProtocolError(
                f"{self._registry}: the registry's auth challenge has no usable token realm",
                hint="the registry's token auth is misconfigured",
            )
        cred = self.credential()
        attempt = 0
        while True:
            attempt += 1
            try:
                if cred is not None and cred.identity_token:
                    resp = self._http.fetch(
                        "POST",
                        realm,
                        form={
                            "grant_type": "refresh_token",
                            "refresh_token": cred.identity_token,
                            "service": challenge.service,
                            "scope": " ".join(wanted),
                            "client_id": "anyarch",
                        },
                    )
                else:
                    params: list[tuple[str, str]] = []
                    if challenge.service:
                        params.append(("service", challenge.service))
                    params.extend(("scope", s) for s in wanted)
                    headers: dict[str, str] = {}
                    if cred is not None:
                        if cred.username:
                            params.append(("account", cred.username))
                        headers["Authorization"] = basic_header(cred)
                    resp = self._http.fetch("GET", realm, params=params, headers=headers)
            except _http.TransportError as exc:
                if attempt < self._retry.attempts:
                    self._retry.wait(attempt)
                    continue
                raise RegistryUnreachableError(
                    f"{self._registry}: cannot reach the token service ({type(exc).__name__})",
                    hint="check the network; the registry's token service may be down",
                )
            if self._retry.should_retry_status(resp.status_code) and attempt < self._retry.attempts:
                resp.close()
                self._retry.wait(attempt, parse_retry_after(resp.headers.get("retry-after")))
                continue
            break
        log.debug("token service answered %d for %s", resp.status_code, " ".join(wanted) or "-")
        if resp.status_code in (401, 403):
            if cred is None:
                raise AuthenticationError(
                    f"{self._registry}: the registry requires credentials",
                    hint=f"log in with `anyarch login {self._registry}`",
                )
            raise AuthenticationError(
                f"{self._registry}: the token service rejected the stored credentials",
                hint=f"log in again with `anyarch login {self._registry}`",
            )
        if resp.status_code != 200:
            raise RegistryProtocolError(
                f"{self._registry}: the token service answered HTTP {resp.status_code}",
                hint="the registry's token service is failing; try again later",
            )
        return self._parse_token(resp, wanted)

    def _parse_token(self, resp: _http.Response, wanted: tuple[str, ...]) -> _Token:
        try:
            doc: Any = json.loads(resp.content)
        except ValueError:
            doc = None
        value = ""
        if isinstance(doc, dict):
            value = str(doc.get("token") or doc.get("access_token") or "")
        if not value:
            raise RegistryProtocolError(
                f"{self._registry}: the token service answered without a token",
                hint="the registry's token service is misconfigured",
            )
        lifetime = DEFAULT_TOKEN_LIFETIME
        if isinstance(doc, dict):
            try:
                lifetime = float(doc.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
            except (TypeError, ValueError):
                pass
        margin = min(EXPIRY_MARGIN, lifetime / 4)
        return _Token(wanted, value, self._clock() + lifetime - margin)
