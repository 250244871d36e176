"""Blob download: streamed, verified while streaming, resumed after a break.

A layer can be gigabytes and connections do break.  :class:`BlobReader`
hashes every byte it hands out and, when the connection drops, asks again
with ``Range: bytes=N-`` from where it stopped (skipping the prefix itself if
the server ignores ``Range``).  The bytes a caller receives are provisional
until the reader reaches the end: only then is the digest compared, and a
mismatch raises :class:`DigestMismatchError` instead of returning EOF, so a
caller that writes to a temporary file and commits on success can never keep
corrupt content.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

from anyarch._util.debuglog import DebugLog
from anyarch.errors import DigestMismatchError, RegistryProtocolError, RegistryUnreachableError
from anyarch.registry import _digest
from anyarch.registry._digest import DigestLike
from anyarch.registry._http import Response, TransportError
from anyarch.registry.responses import check, error_for
from anyarch.registry.scopes import pull_scope
from anyarch.registry.transport import Transport

log = DebugLog("anyarch.registry")


@runtime_checkable
class Writable(Protocol):
    """Anything with ``write(bytes)``: a file, ``BytesIO``, a hashing sink."""

    def write(self, data: bytes, /) -> object: ...


def blob_url(repository: str, digest: DigestLike) -> str:
    return f"/v2/{repository}/blobs/{digest}"


def blob_exists(
    t: Transport, repository: str, digest: DigestLike, *, scopes: tuple[str, ...] = ()
) -> int | None:
    """Size of the blob if the repository has it, else ``None``."""
    dgst = _digest.parse(digest)
    what = f"{t.registry}/{repository}@{dgst}"
    resp = t.request(
        "HEAD",
        blob_url(repository, dgst),
        what=what,
        scopes=scopes or (pull_scope(repository),),
    )
    if resp.status_code == 404:
        return None
    check(resp, what, ok=(200,), kind="blob", registry=t.registry)
    try:
        return int(resp.headers.get("content-length", "-1"))
    except ValueError:
        return -1


def _parse_content_range_start(value: str | None) -> int | None:
    """Start offset of ``Content-Range: bytes START-END/TOTAL``."""
    if not value or not value.startswith("bytes "):
        return None
    span = value[6:].split("/", 1)[0]
    start = span.split("-", 1)[0]
    return int(start) if start.isdigit() else None


class BlobReader(io.RawIOBase):
    """A verifying, resuming, read-only stream of one blob.

    Iterating yields chunks as they arrive; ``read``/``readinto`` work as on
    a file.  The final read raises :class:`DigestMismatchError` if the bytes
    do not hash to the digest (or exceed/fall short of ``size``).
    """

    def __init__(
        self,
        t: Transport,
        repository: str,
        digest: DigestLike,
        *,
        size: int | None = None,
        scopes: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self._t = t
        self._repo = repository
        self._verifier = _digest.Verifier(digest)
        self.digest = self._verifier.expected
        self._size = size
        self._scopes = scopes or (pull_scope(repository),)
        self._what = f"{t.registry}/{repository}@{self.digest}"
        self._resp: Response | None = None
        self._iter: Iterator[bytes] | None = None
        self._skip = 0
        self._pending = b""
        self._eof = False
        self.resumes = 0

    def __repr__(self) -> str:
        return f"BlobReader({self._what!r}, read={self._verifier.size})"

    @property
    def bytes_read(self) -> int:
        return self._verifier.size

    # --- io.RawIOBase ------------------------------------------------------

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if not self._pending:
            self._pending = self._next_chunk()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if not self._pending:
            self._pending = self._next_chunk()
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def readall(self) -> bytes:
        parts = [self._pending]
        self._pending = b""
        while chunk := self._next_chunk():
            parts.append(chunk)
        return b"".join(parts)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._pending:
            chunk, self._pending = self._pending, b""
            return chunk
        chunk = self._next_chunk()
        if not chunk:
            raise StopIteration
        return chunk

    def close(self) -> None:
        self._drop()
        super().close()

    # --- streaming ----------------------------------------------------------

    def _drop(self) -> None:
        if self._resp is not None:
            self._resp.close()
        self._resp = None
        self._iter = None

    def _open(self) -> None:
        offset = self._verifier.size
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        resp = self._t.request(
            "GET",
            blob_url(self._repo, self.digest),
            what=self._what,
            scopes=self._scopes,
            headers=headers,
            stream=True,
        )
        if resp.status_code == 206 and offset:
            start = _parse_content_range_start(resp.headers.get("content-range"))
            if start is None or start > offset:
                resp.close()
                raise RegistryProtocolError(
                    f"{self._what}: the registry answered a range request with the wrong range",
                    hint="the registry or a proxy mishandles Range requests; retry later",
                )
            self._skip = offset - start
        elif resp.status_code == 200:
            self._skip = offset
            length = resp.headers.get("content-length")
            if (
                self._size is not None
                and length is not None
                and length.isdigit()
                and int(length) != self._size
            ):
                resp.close()
                raise DigestMismatchError(
                    f"{self._what}: the registry serves {length} bytes,"
                    f" the descriptor says {self._size}",
                    hint="the registry holds different content under this digest;"
                    " nothing was stored",
                )
        else:
            raise error_for(resp, self._what, kind="blob", registry=self._t.registry)
        self._resp = resp
        # Chunks as they arrive: a buffer filling up to a fixed size would be
        # lost, unhashed, when the connection breaks, and the resume would restart.
        self._iter = resp.iter_bytes()

    def _next_chunk(self) -> bytes:
        """The next verified-so-far chunk, or ``b""`` at a verified end."""
        if self._eof:
            return b""
        failures = 0
        policy = self._t.retry
        while True:
            if self._iter is None:
                self._open()
            assert self._iter is not None
            try:
                chunk = next(self._iter)
            except StopIteration:
                self._drop()
                if self._size is not None and self._verifier.size < self._size:
                    # The server ended the body early without a protocol error.
                    failures += 1
                    if failures >= policy.attempts:
                        raise self._short()
                    policy.wait(failures)
                    continue
                return self._finish()
            except TransportError as exc:
                self._drop()
                failures += 1
                self.resumes += 1
                log.debug(
                    "%s: connection broke after %d bytes (%s); resuming",
                    self._what,
                    self._verifier.size,
                    type(exc).__name__,
                )
                if failures >= policy.attempts:
                    raise RegistryUnreachableError(
                        f"{self._what}: download kept breaking off after"
                        f" {self._verifier.size} bytes",
                        hint="the connection to the registry is unstable; try again",
                    )
                policy.wait(failures)
                continue
            if self._skip:
                drop = min(self._skip, len(chunk))
                self._skip -= drop
                chunk = chunk[drop:]
                if not chunk:
                    continue
            failures = 0
            self._verifier.update(chunk)
            if self._size is not None and self._verifier.size > self._size:
                self._drop()
                raise DigestMismatchError(
                    f"{self._what}: the registry sent more than the {self._size} bytes"
                    " the descriptor promises",
                    hint="the registry holds different content under this digest; nothing was stored",
                )
            return chunk

    def _short(self) -> DigestMismatchError:
        return DigestMismatchError(
            f"{self._what}: the registry sent {self._verifier.size} of {self._size} bytes",
            hint="the registry holds truncated content under this digest; nothing was stored",
        )

    def _finish(self) -> bytes:
        self._eof = True
        if self._size is not None and self._verifier.size != self._size:
            raise self._short()
        if not self._verifier.ok():
            raise DigestMismatchError(
                f"{self._what}: downloaded content hashes to {self._verifier.actual}",
                hint="the registry or something between us corrupted the data;"
                " nothing was stored; retry, and report it to the registry operator if it persists",
            )
        return b""


def get_blob(
    t: Transport,
    repository: str,
    digest: DigestLike,
    sink: Writable | Callable[[bytes], object],
    *,
    size: int | None = None,
) -> int:
    """Stream a blob into ``sink``; return its size once verified.

    ``sink`` receives provisional bytes: if this raises, discard what it got.
    """
    write: Callable[[bytes], object] = sink.write if isinstance(sink, Writable) else sink
    with BlobReader(t, repository, digest, size=size) as reader:
        for chunk in reader:
            write(chunk)
        return reader.bytes_read
