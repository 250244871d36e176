"""Content-addressed blobs under ``blobs/<alg>/<hex>``, written only when verified.

A blob is streamed into ``ingest/`` while it is hashed; only when its digest
(and size, if known) match what was asked for is it renamed into place.  So a
blob path that exists always holds exactly the bytes its name promises, and an
interrupted write leaves only an ingest file that ``gc`` removes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from anyarch._util.fs import fsync_dir, make_temp
from anyarch._util.hashing import CHUNK, new_hasher
from anyarch.errors import BlobNotFoundError, DigestMismatchError
from anyarch.oci import Digest


class BlobWriter:
    """A file-like sink that hashes what it is given; see :meth:`BlobStore.writer`.

    With ``trusted`` set to a digest the bytes are not hashed again: the
    caller's source has already verified them (a registry download checks the
    digest as it streams and fails before its end on a mismatch), so hashing
    twice would only cost a second sha256 pass.
    """

    def __init__(self, fh: IO[bytes], algorithm: str, trusted: Digest | None = None) -> None:
        self._fh = fh
        self._trusted = trusted
        self._hash = None if trusted is not None else new_hasher(algorithm)
        self._algorithm = algorithm
        self.size = 0

    def write(self, data: bytes) -> int:
        if self._hash is not None:
            self._hash.update(data)
        self._fh.write(data)
        self.size += len(data)
        return len(data)

    @property
    def digest(self) -> Digest:
        if self._hash is None:
            assert self._trusted is not None
            return self._trusted
        return Digest.parse(f"{self._algorithm}:{self._hash.hexdigest()}")


class BlobStore:
    """The ``blobs/`` tree of an OCI image layout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.ingest = root / "ingest"

    def path(self, digest: Digest) -> Path:
        return self.blobs / digest.algorithm / digest.hex

    def has(self, digest: Digest) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: Digest) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFoundError(
                f"blob {digest} is not in the store",
                hint="pull the image again, or run 'anyarch gc' if the store was damaged",
            ) from None

    def open(self, digest: Digest) -> IO[bytes]:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise BlobNotFoundError(
                f"blob {digest} is not in the store",
                hint="pull the image again, or run 'anyarch gc' if the store was damaged",
            ) from None

    def read(self, digest: Digest, *, verify: bool = True) -> bytes:
        """Read a (small) blob whole; ``verify`` re-checks its digest."""
        with self.open(digest) as fh:
            data = fh.read()
        if verify and Digest.of(data, digest.algorithm) != digest:
            raise DigestMismatchError(
                f"blob {digest} in the store is corrupt (its content hashes to "
                f"{Digest.of(data, digest.algorithm)})",
                hint="run 'anyarch rmi' on the image and pull or import it again",
            )
        return data

    @contextlib.contextmanager
    def writer(
        self,
        expected: Digest | None = None,
        expected_size: int | None = None,
        *,
        algorithm: str = "sha256",
        fsync: bool = True,
        verified: bool = False,
    ) -> Iterator[BlobWriter]:
        """Stream a blob in; it lands under its digest only if it verifies.

        With ``expected`` the content must hash to it (else
        :class:`DigestMismatchError`, nothing stored); without, the digest is
        computed and the blob stored under it.  The final digest is on the
        yielded writer after the block.
        """
        alg = expected.algorithm if expected else algorithm
        self.ingest.mkdir(parents=True, exist_ok=True)
        fd, tmp = make_temp(self.ingest, "blob-")
        try:
            with os.fdopen(fd, "wb") as fh:
                w = BlobWriter(fh, alg, expected if (verified and expected) else None)
                yield w
                fh.flush()
                if fsync:
                    os.fsync(fh.fileno())
            got = w.digest
            if expected is not None and got != expected:
                raise DigestMismatchError(
                    f"content for {expected} hashes to {got}; refusing to store it",
                    hint="the source is corrupt or was modified in transit",
                )
            if expected_size is not None and w.size != expected_size:
                raise DigestMismatchError(
                    f"content for {got} has {w.size} bytes, the descriptor says {expected_size}",
                    hint="the source is truncated or its descriptor is wrong",
                )
            dest = self.path(got)
            if dest.exists():
                os.unlink(tmp)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tmp, 0o644)
                os.replace(tmp, dest)
                if fsync:
                    fsync_dir(dest.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def put(self, data: bytes, expected: Digest | None = None, *, fsync: bool = True) -> Digest:
        """Store ``data``; returns its digest."""
        digest = expected or Digest.of(data)
        if self.has(digest):
            if expected is not None and Digest.of(data, digest.algorithm) != expected:
                raise DigestMismatchError(
                    f"content for {expected} hashes to {Digest.of(data, digest.algorithm)}",
                    hint="the source is corrupt",
                )
            return digest
        with self.writer(expected, len(data), fsync=fsync) as w:
            w.write(data)
        return w.digest

    def put_stream(
        self,
        src: IO[bytes],
        expected: Digest | None = None,
        expected_size: int | None = None,
        *,
        verified: bool = False,
    ) -> tuple[Digest, int]:
        """Copy a stream in, verified (``verified``: the stream itself checks ``expected``)."""
        with self.writer(expected, expected_size, verified=verified) as w:
            while chunk := src.read(CHUNK):
                w.write(chunk)
        return w.digest, w.size

    def all_digests(self) -> Iterator[Digest]:
        """Every blob file whose name is a valid digest."""
        if not self.blobs.is_dir():
            return
        for alg_dir in self.blobs.iterdir():
            if not alg_dir.is_dir():
                continue
            for f in alg_dir.iterdir():
                try:
                    yield Digest.parse(f"{alg_dir.name}:{f.name}")
                except Exception:
                    continue
