"""``RegistryClient``: the one object the rest of anyarch uses to talk to a registry.

A thin facade over the transport and the per-resource modules, bound to one
registry host.  It is thread-safe (one pooled HTTP client, locked auth
state), so a caller may transfer several blobs in parallel through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from anyarch.errors import AuthenticationError, RegistryProtocolError
from anyarch.oci import Descriptor, Digest
from anyarch.registry import blobs, manifests, uploads
from anyarch.registry._digest import DigestLike
from anyarch.registry._http import Timeout
from anyarch.registry.blobs import BlobReader, Writable
from anyarch.registry.credentials import CredentialSource
from anyarch.registry.manifests import MANIFEST_MEDIA_TYPES, FetchedManifest, ManifestInfo
from anyarch.registry.responses import check
from anyarch.registry.retry import RetryPolicy
from anyarch.registry.scopes import pull_scope, push_scope
from anyarch.registry.transport import Transport
from anyarch.registry.uploads import BlobSource

_DOCKER_HUB = frozenset({"docker.io", "index.docker.io"})
DOCKER_HUB_API = "registry-1.docker.io"


class PingResult(NamedTuple):
    """How the registry answered ``GET /v2/``.

    A NamedTuple (immutable, comparable): a frozen dataclass costs ~1 ms at import.
    """

    url: str
    auth: str  # "none", "basic" or "bearer"
    api_version: str


class RegistryClient:
    """OCI distribution client for one registry (``host[:port]``)."""

    def __init__(
        self,
        registry: str,
        *,
        insecure: bool = False,
        cacert: str | Path | None = None,
        credentials: CredentialSource | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | float | None = None,
        max_connections: int = 16,
    ) -> None:
        self.registry = registry
        api_host = DOCKER_HUB_API if registry in _DOCKER_HUB else registry
        self._t = Transport(
            registry,
            api_host=api_host,
            insecure=insecure,
            cacert=cacert,
            credentials=credentials,
            retry=retry,
            timeout=timeout,
            max_connections=max_connections,
        )

    def __repr__(self) -> str:
        return f"RegistryClient({self.registry!r})"

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._t.close()

    @property
    def base_url(self) -> str:
        """``http(s)://host[:port]`` actually used."""
        return self._t.base_url

    # --- registry ---------------------------------------------------------

    def ping(self) -> PingResult:
        """Check that this is a distribution registry and that our credentials work.

        Raises :class:`AuthenticationError` if the registry refuses us (wrong
        or missing credentials) and :class:`RegistryUnreachableError` if it
        cannot be reached.
        """
        resp = self._t.request("GET", "/v2/", what=self.registry)
        if resp.status_code == 401 and self._t.auth.credential() is None:
            raise AuthenticationError(
                f"{self.registry}: the registry requires credentials",
                hint=f"log in with `anyarch login {self.registry}`",
            )
        if resp.status_code in (404, 405):
            raise RegistryProtocolError(
                f"{self.registry}: no OCI distribution API at /v2/ (HTTP {resp.status_code})",
                hint="check the registry address; this server does not look like a registry",
            )
        check(resp, self.registry, ok=(200,), kind="registry", registry=self.registry)
        challenge = self._t.auth.challenge
        return PingResult(
            url=self._t.base_url,
            auth=challenge.scheme if challenge else "none",
            api_version=resp.headers.get("docker-distribution-api-version", ""),
        )

    def prepare_push(self, repository: str, *, mount_from: Sequence[str] = ()) -> None:
        """Announce a push to ``repository`` (with mounts from ``mount_from``).

        On a token-auth registry every request to ``repository`` then uses one
        token with ``pull,push`` there and ``pull`` on the mount sources,
        instead of a ``pull`` token for the first existence checks and
        another for the upload.  Harmless elsewhere.
        """
        wanted = [push_scope(repository), *(pull_scope(r) for r in mount_from if r != repository)]
        self._t.auth.widen(repository, wanted)

    # --- manifests --------------------------------------------------------

    def get_manifest(
        self,
        repository: str,
        reference: str | Digest,
        *,
        accept: tuple[str, ...] = MANIFEST_MEDIA_TYPES,
    ) -> FetchedManifest:
        """``(raw, media_type, digest)`` of a manifest by tag or digest, verified."""
        return manifests.get_manifest(self._t, repository, str(reference), accept=accept)

    def head_manifest(
        self,
        repository: str,
        reference: str | Digest,
        *,
        accept: tuple[str, ...] = MANIFEST_MEDIA_TYPES,
    ) -> ManifestInfo | None:
        """``(media_type, digest, size)`` of a manifest, or ``None`` if absent."""
        return manifests.head_manifest(self._t, repository, str(reference), accept=accept)

    def put_manifest(
        self, repository: str, reference: str | Digest, raw: bytes, media_type: str
    ) -> Digest:
        """Push manifest bytes unchanged under a tag or digest; return the digest."""
        return manifests.put_manifest(self._t, repository, str(reference), raw, media_type)

    def delete_manifest(self, repository: str, digest: DigestLike) -> None:
        """Delete a manifest by digest."""
        manifests.delete_manifest(self._t, repository, digest)

    # --- blobs ------------------------------------------------------------

    def blob_exists(self, repository: str, digest: DigestLike) -> int | None:
        """The blob's size if the repository has it, else ``None``."""
        return blobs.blob_exists(self._t, repository, digest)

    def open_blob(
        self, repository: str, digest: DigestLike, *, size: int | None = None
    ) -> BlobReader:
        """A verifying, resuming stream of the blob (iterate for chunks, or ``read``)."""
        return BlobReader(self._t, repository, digest, size=size)

    def get_blob(
        self,
        repository: str,
        digest: DigestLike,
        sink: Writable | Callable[[bytes], object],
        *,
        size: int | None = None,
    ) -> int:
        """Stream a blob into ``sink``; its bytes count only if this returns."""
        return blobs.get_blob(self._t, repository, digest, sink, size=size)

    def put_blob(
        self,
        repository: str,
        digest: DigestLike,
        size: int,
        source: BlobSource,
        *,
        chunk_size: int | None = None,
        mount_from: str | None = None,
    ) -> None:
        """Upload a blob; ``source`` is bytes or a callable opening a fresh file object."""
        uploads.put_blob(
            self._t, repository, digest, size, source, chunk_size=chunk_size, mount_from=mount_from
        )

    def mount_blob(self, repository: str, digest: DigestLike, from_repository: str) -> bool:
        """Cross-repository mount; ``False`` means "upload it instead"."""
        return uploads.mount_blob(self._t, repository, digest, from_repository)

    # --- listings ---------------------------------------------------------

    def list_tags(self, repository: str, *, page_size: int | None = None) -> list[str]:
        """Every tag in ``repository`` (pagination followed)."""
        from anyarch.registry import tags  # here: a copy or pull lists no tags

        return tags.list_tags(self._t, repository, page_size=page_size)

    def referrers(
        self, repository: str, digest: DigestLike, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """Descriptors of manifests whose ``subject`` is ``digest`` (API or tag fallback)."""
        from anyarch.registry import referrers  # here: a copy or pull asks for no referrers

        return referrers.referrers(self._t, repository, digest, artifact_type=artifact_type)
