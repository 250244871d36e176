"""Digest helpers the registry code needs: parse, hash while streaming, compare.

Kept in one place so the rest of the package states *what* it verifies, not
how.  Digests cross the public API as :class:`anyarch.oci.Digest` or strings.
"""

from __future__ import annotations

import re

from anyarch._util.hashing import new_hasher
from anyarch.errors import InvalidDigestError

_DIGEST = re.compile(r"^(sha256|sha512):([0-9a-f]+)$")
_HEX_LEN = {"sha256": 64, "sha512": 128}


def split(digest: object) -> tuple[str, str]:
    """``(algorithm, hex)`` of a digest, validated; raises :class:`InvalidDigestError`."""
    text = str(digest)
    m = _DIGEST.match(text)
    if not m or len(m.group(2)) != _HEX_LEN[m.group(1)]:
        raise InvalidDigestError(
            f"invalid digest {text[:100]!r}",
            hint="a digest is 'sha256:' followed by 64 lowercase hex digits",
        )
    return m.group(1), m.group(2)


def is_digest(text: str) -> bool:
    """Whether a manifest reference is a digest rather than a tag."""
    return ":" in text


def of(data: bytes, algorithm: str = "sha256") -> str:
    h = new_hasher(algorithm)
    h.update(data)
    return f"{algorithm}:{h.hexdigest()}"


class Verifier:
    """Hash bytes as they pass and say whether they match an expected digest."""

    def __init__(self, expected: object) -> None:
        self.algorithm, self._hex = split(expected)
        self.expected = f"{self.algorithm}:{self._hex}"
        self._hash = new_hasher(self.algorithm)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    @property
    def actual(self) -> str:
        return f"{self.algorithm}:{self._hash.hexdigest()}"

    def ok(self) -> bool:
        return self._hash.hexdigest() == self._hex
