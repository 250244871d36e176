"""Hash while streaming, so a blob is never read twice."""

from __future__ import annotations

import hashlib
from typing import IO, Protocol

CHUNK = 1 << 20


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def new_hasher(algorithm: str) -> _Hasher:
    """A hashlib object for an OCI digest algorithm name."""
    if algorithm not in ("sha256", "sha512"):
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def hash_bytes(data: bytes, algorithm: str = "sha256") -> str:
    """``algorithm:hex`` of ``data``."""
    h = new_hasher(algorithm)
    h.update(data)
    return f"{algorithm}:{h.hexdigest()}"


def hash_stream(fh: IO[bytes], algorithm: str = "sha256") -> tuple[str, int]:
    """``(algorithm:hex, size)`` of everything left in ``fh``."""
    h = new_hasher(algorithm)
    size = 0
    while chunk := fh.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return f"{algorithm}:{h.hexdigest()}", size
