"""Digest helpers the registry code needs: parse, hash while streaming, compare.

Kept in one place so the rest of the package states *what* it verifies, not
how.  Digests enter the public API as :class:`anyarch.oci.Digest` or strings
and leave it as :class:`~anyarch.oci.Digest`.
"""

from __future__ import annotations

from anyarch._util.hashing import new_hasher
from anyarch.oci import Digest

#: What the public API accepts wherever it takes a digest.
DigestLike = Digest | str


def parse(digest: DigestLike) -> Digest:
    """A validated :class:`Digest`; raises :class:`InvalidDigestError` for junk."""
    return digest if isinstance(digest, Digest) else Digest.parse(str(digest))


def is_digest(reference: str) -> bool:
    """Whether a manifest reference is a digest rather than a tag (tags cannot hold ':')."""
    return ":" in reference


def of(data: bytes, algorithm: str = "sha256") -> Digest:
    return Digest.of(data, algorithm)


class Verifier:
    """Hash bytes as they pass and say whether they match an expected digest."""

    def __init__(self, expected: DigestLike) -> None:
        self.expected = parse(expected)
        self._hash = new_hasher(self.expected.algorithm)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    @property
    def actual(self) -> Digest:
        return Digest(self.expected.algorithm, self._hash.hexdigest())

    def ok(self) -> bool:
        return self._hash.hexdigest() == self.expected.hex
