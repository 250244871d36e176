"""Blob upload: monolithic or chunked, cross-repository mount, restart on failure.

An upload is a session (``POST`` → ``Location``) that ends with ``PUT
?digest=``.  Re-sending a request into a session after a broken connection is
unsafe (the registry may already have appended part of the body), so uploads
are retried at the session level instead of the request level:

* monolithic: a failed ``PUT`` restarts with a new session;
* chunked (``PATCH`` with ``Content-Range``): after a failure we ask the
  session how much it holds (``GET`` → ``Range: 0-N``) and continue from
  there; if the session is gone, restart.

The source is bytes or a callable that opens a fresh binary file object, so
any part of it can be read again.  The registry checks the digest on the
final ``PUT``; a mismatch is reported as :class:`DigestMismatchError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO
from urllib.parse import urljoin

from anyarch._util.debuglog import DebugLog
from anyarch.errors import (
    DigestMismatchError,
    RegistryError,
    RegistryUnreachableError,
)
from anyarch.registry import _digest
from anyarch.registry._digest import DigestLike
from anyarch.registry._http import Response
from anyarch.registry.responses import error_codes, error_for, read_limited
from anyarch.registry.scopes import pull_scope, push_scope
from anyarch.registry.transport import Transport

log = DebugLog("anyarch.registry")

#: Bytes, or a callable returning a new readable binary file positioned at 0.
BlobSource = bytes | Callable[[], IO[bytes]]

#: Blobs up to this size go in one PUT unless a chunk size is asked for.
MONOLITHIC_MAX = 256 << 20
#: Chunk size for blobs larger than :data:`MONOLITHIC_MAX`.
DEFAULT_CHUNK = 64 << 20
_READ = 1 << 20


class _Restart(Exception):
    """The upload session is unusable; start a new one."""


def _body(
    source: BlobSource, offset: int, length: int, what: str
) -> Callable[[], bytes | Iterator[bytes]]:
    """A factory for bytes ``[offset, offset+length)`` of ``source``, fresh per attempt."""
    if isinstance(source, bytes):
        view = memoryview(source)

        def from_bytes() -> Iterator[bytes]:
            # Pieces, not one big buffer: the HTTP stack re-slices an unsent
            # remainder after every partial send, quadratic in its size.
            for start in range(offset, offset + length, _READ):
                yield bytes(view[start : min(start + _READ, offset + length)])

        return from_bytes

    def from_file() -> Iterator[bytes]:
        fh = source()
        try:
            if offset:
                try:
                    fh.seek(offset)
                except (OSError, ValueError):
                    skip = offset
                    while skip:
                        got = fh.read(min(_READ, skip))
                        if not got:
                            break
                        skip -= len(got)
            remaining = length
            while remaining:
                data = fh.read(min(_READ, remaining))
                if not data:
                    raise DigestMismatchError(
                        f"{what}: the source ended {remaining} bytes short of the declared size",
                        hint="the file changed while it was being pushed; nothing was committed",
                    )
                remaining -= len(data)
                yield data
        finally:
            fh.close()

    return from_file


def _location(resp: Response, what: str) -> str:
    loc = resp.headers.get("location")
    if not loc:
        raise error_for(resp, what, kind="upload")
    return urljoin(resp.url, loc)


def _range_end(resp: Response) -> int | None:
    """Last byte held by the session from ``Range: 0-N`` (``-1`` if empty)."""
    value = resp.headers.get("range", "")
    if value.startswith("bytes="):
        value = value[6:]
    start, sep, end = value.partition("-")
    if sep and start.isdigit() and end.isdigit():
        return int(end)
    return None


def start_upload(
    t: Transport,
    repository: str,
    what: str,
    scopes: tuple[str, ...],
    *,
    mount: tuple[str, str] | None = None,
) -> str | None:
    """Open an upload session; ``None`` if ``mount=(digest, from_repo)`` mounted the blob."""
    params = {"mount": mount[0], "from": mount[1]} if mount else None
    resp = t.request(
        "POST", f"/v2/{repository}/blobs/uploads/", what=what, scopes=scopes, params=params
    )
    if resp.status_code == 201 and mount:
        return None
    if resp.status_code != 202:
        raise error_for(resp, what, kind="upload", registry=t.registry)
    return _location(resp, what)


def cancel_upload(t: Transport, location: str, what: str, scopes: tuple[str, ...]) -> None:
    """Best-effort ``DELETE`` of an abandoned session so the registry can free it."""
    try:
        t.request("DELETE", location, what=what, scopes=scopes, retry=False)
    except RegistryError:
        pass


def _finish(
    t: Transport,
    location: str,
    digest: str,
    what: str,
    scopes: tuple[str, ...],
    content: Callable[[], bytes | Iterator[bytes]] | bytes,
    length: int,
    *,
    resumed: bool = False,
) -> None:
    """The closing ``PUT ?digest=`` (with the whole body when monolithic)."""
    resp = t.request(
        "PUT",
        location,
        what=what,
        scopes=scopes,
        params={"digest": digest},
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(length)},
        content=content,
        retry=False,
    )
    if resp.status_code in (201, 204):
        got = resp.headers.get("docker-content-digest")
        if got and got != digest:
            raise DigestMismatchError(
                f"{what}: the registry stored the blob as {got}",
                hint="the registry computed a different digest; the pushed bytes were wrong",
            )
        return
    if resp.status_code == 400:
        codes = {c for c, _ in error_codes(read_limited(resp))}
        if "DIGEST_INVALID" in codes or "SIZE_INVALID" in codes:
            if resumed:
                # A request that broke may still have been writing into the
                # session while we resumed it; only a fresh session can tell.
                raise _Restart("resumed session holds inconsistent data")
            raise DigestMismatchError(
                f"{what}: the registry says the uploaded bytes do not match the digest",
                hint="the source content differs from its descriptor; nothing was committed",
            )
    if resp.status_code in (404,) or t.retry.should_retry_status(resp.status_code):
        raise _Restart(f"PUT answered {resp.status_code}")
    raise error_for(resp, what, kind="upload", registry=t.registry)


def _chunks(
    t: Transport,
    location: str,
    source: BlobSource,
    size: int,
    chunk: int,
    what: str,
    scopes: tuple[str, ...],
) -> tuple[str, bool]:
    """PATCH the source in ``chunk``-sized pieces.

    Returns the session's final location and whether it had to be resumed.
    """
    offset = 0
    failures = 0
    resumed = False
    while offset < size:
        n = min(chunk, size - offset)
        try:
            resp = t.request(
                "PATCH",
                location,
                what=what,
                scopes=scopes,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + n - 1}",
                    "Content-Length": str(n),
                },
                content=_body(source, offset, n, what),
                retry=False,
            )
        except RegistryUnreachableError:
            resp = None
        if resp is not None and resp.status_code == 202:
            location = _location(resp, what)
            end = _range_end(resp)
            offset = end + 1 if end is not None else offset + n
            failures = 0
            continue
        if resp is not None and not t.retry.should_retry_status(resp.status_code):
            if resp.status_code in (404, 416):
                raise _Restart(f"PATCH answered {resp.status_code}")
            raise error_for(resp, what, kind="upload", registry=t.registry)
        failures += 1
        if failures >= t.retry.attempts:
            raise _Restart("chunk kept failing")
        t.retry.wait(failures)
        location, held = _status(t, location, what, scopes)
        # distribution answers "0-0" for an empty session too: trust our own
        # count there rather than skip the first byte.
        offset = 0 if held == 1 and offset == 0 else held
        if offset > size:
            raise _Restart(f"session claims {offset} of {size} bytes")
        resumed = True
        log.debug("%s: resuming chunked upload at byte %d", what, offset)
    return location, resumed


def _status(t: Transport, location: str, what: str, scopes: tuple[str, ...]) -> tuple[str, int]:
    """Ask an upload session how many bytes it holds."""
    try:
        resp = t.request("GET", location, what=what, scopes=scopes)
    except RegistryUnreachableError as exc:
        raise _Restart("status unavailable") from exc
    if resp.status_code != 204:
        raise _Restart(f"status answered {resp.status_code}")
    end = _range_end(resp)
    if end is None:
        raise _Restart("status without Range")
    return _location(resp, what) if resp.headers.get("location") else location, end + 1


def put_blob(
    t: Transport,
    repository: str,
    digest: DigestLike,
    size: int,
    source: BlobSource,
    *,
    chunk_size: int | None = None,
    mount_from: str | None = None,
) -> None:
    """Upload a blob (or mount it from ``mount_from`` on the same registry).

    Uses one ``PUT`` when ``size <= MONOLITHIC_MAX`` and no ``chunk_size`` is
    given; otherwise ``PATCH`` chunks.  Session failures restart the upload up
    to the retry policy's attempt count.
    """
    dgst = str(_digest.parse(digest))
    what = f"{t.registry}/{repository}@{dgst}"
    if isinstance(source, bytes) and len(source) != size:
        raise DigestMismatchError(
            f"{what}: {len(source)} bytes given for a blob of {size} bytes",
            hint="the descriptor's size does not match the content",
        )
    scopes: tuple[str, ...] = (push_scope(repository),)
    if mount_from and mount_from != repository:
        scopes += (pull_scope(mount_from),)
    chunk = chunk_size or (DEFAULT_CHUNK if size > MONOLITHIC_MAX else None)
    attempt = 0
    mount = (dgst, mount_from) if mount_from and mount_from != repository else None
    while True:
        attempt += 1
        location: str | None = None
        try:
            location = start_upload(t, repository, what, scopes, mount=mount)
            if location is None:
                log.debug("%s: mounted from %s", what, mount_from)
                return
            mount = None  # a 202 answer to a mount is an ordinary session: use it
            if chunk is None or size <= 0:
                _finish(t, location, dgst, what, scopes, _body(source, 0, size, what), size)
            else:
                location, resumed = _chunks(t, location, source, size, chunk, what, scopes)
                _finish(t, location, dgst, what, scopes, b"", 0, resumed=resumed)
            return
        except (_Restart, RegistryUnreachableError) as exc:
            if location is not None:
                cancel_upload(t, location, what, scopes)
            # The registry may have committed the blob before the answer was lost.
            if _exists(t, repository, dgst, what, scopes):
                return
            if attempt >= t.retry.attempts:
                if isinstance(exc, RegistryUnreachableError):
                    raise
                raise RegistryError(
                    f"{what}: upload kept failing ({exc})",
                    hint="the registry is failing uploads; try again later",
                )
            log.debug("%s: restarting upload (%s)", what, exc)
            t.retry.wait(attempt)


def _exists(t: Transport, repository: str, digest: str, what: str, scopes: tuple[str, ...]) -> bool:
    try:
        resp = t.request("HEAD", f"/v2/{repository}/blobs/{digest}", what=what, scopes=scopes)
    except RegistryUnreachableError:
        return False
    return resp.status_code == 200


def mount_blob(t: Transport, repository: str, digest: DigestLike, from_repository: str) -> bool:
    """Ask the registry to link a blob from another repository; ``True`` if it did.

    A ``202`` means the registry would rather receive the bytes (it cannot
    mount, or the source lacks the blob or our access): the session it opened
    is cancelled and the caller uploads instead.
    """
    dgst = str(_digest.parse(digest))
    what = f"{t.registry}/{repository}@{dgst}"
    scopes = (push_scope(repository), pull_scope(from_repository))
    location = start_upload(t, repository, what, scopes, mount=(dgst, from_repository))
    if location is None:
        return True
    cancel_upload(t, location, what, scopes)
    return False
